"""`make package STAGE=dev|prod`: a deployable CloudFormation (SAM) template and its code, in
`dist/<stage>/`, then cfn-lint on it.

1. `chalice package --merge-template infra/resources.json` writes the template (every function,
   the API, the schedules, the stream and SQS event sources, our table, queues, alarms, dashboard).
2. The code is rebuilt for the Lambda runtime we deploy on, python3.12 (Amazon Linux 2023): webauthn
   needs cbor2 6, published only as manylinux_2_28 wheels, which Amazon Linux 2's glibc (python3.11
   runtime) cannot load, so Chalice's own python3.11 bundle would fail at the first sign-in.
   `pip install --platform manylinux_2_28_x86_64 --python-version 3.12 --only-binary=:all:` fetches
   exactly the wheels Lambda runs, then app.py and chalicelib/ are added.
3. The template is adjusted: Runtime python3.12 everywhere, the stage parameter's default, and the
   IAM policies' table resources pointed at this stack's table (no wildcard on table names).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = "python3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")


def chalice_package(stage: str, out: Path) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-3")}
    subprocess.run([str(Path(sys.executable).parent / "chalice"), "package", "--merge-template", "infra/resources.json", "--stage", stage, str(out)],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def build_code(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "site"
        platform_args = [a for p in PLATFORMS for a in ("--platform", p)]
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target), "--implementation", "cp",
                        "--python-version", RUNTIME.removeprefix("python"), "--only-binary=:all:", *platform_args,
                        "-r", str(ROOT / "requirements.txt")], check=True)
        zip_path = out / "deployment.zip"
        zip_path.unlink(missing_ok=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(target.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    bundle.write(path, path.relative_to(target))
            bundle.write(ROOT / "app.py", "app.py")
            for path in sorted((ROOT / "chalicelib").rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    bundle.write(path, path.relative_to(ROOT))


def adjust(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """python3.12 everywhere, the stage's default, and the policies' resources pinned to this stack's
    own table, stream and queues (the policy files name them by pattern for `chalice deploy`)."""
    pinned = {
        f"arn:aws:dynamodb:*:*:table/selfcare-{stage}-AppTable-*": {"Fn::GetAtt": ["AppTable", "Arn"]},
        f"arn:aws:dynamodb:*:*:table/selfcare-{stage}-AppTable-*/index/*": {"Fn::Sub": "${AppTable.Arn}/index/*"},
        f"arn:aws:dynamodb:*:*:table/selfcare-{stage}-AppTable-*/stream/*": {"Fn::GetAtt": ["AppTable", "StreamArn"]},
        f"arn:aws:sqs:*:*:selfcare-{stage}-TableStreamDeadLetters-*": {"Fn::GetAtt": ["TableStreamDeadLetters", "Arn"]},
        "arn:aws:sqs:*:*:selfcare-usage-records": {"Fn::GetAtt": ["UsageRecordsQueue", "Arn"]},
    }
    template.setdefault("Parameters", {}).setdefault("Stage", {})["Default"] = stage
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["Runtime"] = RUNTIME
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    found = statement.get("Resource")
                    if isinstance(found, list):
                        statement["Resource"] = [pinned.get(r, r) if isinstance(r, str) else r for r in found]
                    elif isinstance(found, str):
                        statement["Resource"] = pinned.get(found, found)
    return template


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", default="dev", choices=["dev", "prod"])
    parser.add_argument("--lint", action="store_true", help="run cfn-lint on the result")
    args = parser.parse_args()
    out = ROOT / "dist" / args.stage
    shutil.rmtree(out, ignore_errors=True)
    chalice_package(args.stage, out)
    build_code(out)
    template = adjust(json.loads((out / "sam.json").read_text()), args.stage)
    (out / "sam.json").write_text(json.dumps(template, indent=2) + "\n")
    size = (out / "deployment.zip").stat().st_size / 1e6
    print(f"dist/{args.stage}/sam.json and deployment.zip ({size:.1f} MB, {RUNTIME}). Deploy with:\n"
          f"  aws cloudformation package --template-file dist/{args.stage}/sam.json --s3-bucket <bucket> --output-template-file packaged.yaml\n"
          f"  aws cloudformation deploy --template-file packaged.yaml --stack-name selfcare-{args.stage} --capabilities CAPABILITY_IAM")
    if args.lint:
        subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(out / "sam.json")], check=True)
        print("cfn-lint: no errors")


if __name__ == "__main__":
    main()
