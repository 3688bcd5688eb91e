"""`make package` (devtools/package.py): stages fail closed, and the template's adjustments. The
built packages themselves are checked in tests/deploy (run as Lambda runs them, names, IAM)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from devtools.package import adjust, deployment_problems, main, pruned

ROOT = Path(__file__).resolve().parent.parent
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())


def _policy(name: str) -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / "policies" / "prod" / f"{name}.json").read_text())


def test_policies_are_pinned_to_this_stacks_resources_and_functions_run_on_python312() -> None:
    template = {
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.11"}},
            "RestAPI": {
                "Type": "AWS::Serverless::Api",
                "Properties": {"DefinitionBody": {"info": {"title": "selfcare"}}},
            },
            "StreamRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": _policy("table-stream")}]},
            },
            "UsageRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": _policy("ingest-usage")}]},
            },
        }
    }
    adjusted = adjust(template, "prod")
    assert adjusted["Resources"]["Fn"]["Properties"]["Runtime"] == "python3.12"
    assert adjusted["Parameters"]["Stage"]["Default"] == "prod"
    assert adjusted["Rules"]["PackagedForThisStage"]["Assertions"][0]["Assert"] == {
        "Fn::Equals": [{"Ref": "Stage"}, "prod"]
    }
    assert (
        adjusted["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"] == "selfcare-prod"
    )
    statements = json.dumps(
        [
            p["PolicyDocument"]
            for r in ("StreamRole", "UsageRole")
            for p in adjusted["Resources"][r]["Properties"]["Policies"]
        ]
    )
    assert (
        "AppTable-*" not in statements
        and "TableStreamDeadLetters-*" not in statements
        and "usage-records" not in statements
    )
    assert (
        '"Fn::GetAtt": ["AppTable", "StreamArn"]' in statements
        and '"Fn::GetAtt": ["UsageRecordsQueue", "Arn"]' in statements
    )
    assert '"Fn::Sub": "${AppTable.Arn}/index/*"' in statements
    # Secrets and logs in this stack's region and account only, KMS through this region's SSM only.
    assert (
        "arn:aws:ssm:*" not in statements
        and "arn:aws:logs:*" not in statements
        and "ssm.*." not in statements
    )
    assert (
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/selfcare/prod/firebase-service-account"
        in statements
    )


def test_alarms_and_dashboard_read_metrics_the_code_emits() -> None:
    from chalicelib.observability.metrics import METRICS

    resources = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]
    text = json.dumps({k: v for k, v in resources.items() if k.endswith("Alarm") or k == "Dashboard"})
    used = set(re.findall(r'\\"Selfcare\\",\\"(\w+)\\"', text)) | set(
        re.findall(r'"MetricName": "(\w+)"', text)
    )
    custom = {
        m
        for m in used
        if m[0].isupper()
        and m not in ("5XXError", "ApproximateNumberOfMessagesVisible", "Count", "Latency", "4XXError")
    }
    assert custom and custom <= set(METRICS), custom - set(METRICS)
    assert resources["AppTable"]["Properties"]["DeletionProtectionEnabled"] == {
        "Fn::If": ["IsProd", True, False]
    }
    for alarm in (
        "Api5xxRateAlarm",
        "UsageDeadLettersAlarm",
        "StreamDeadLettersAlarm",
        "StuckPaymentsAlarm",
        "PushFailureRateAlarm",
    ):
        assert resources[alarm]["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # Each stage's API alarm and dashboard watch that stage's API (adjust() names it selfcare-<stage>).
    assert {"Name": "ApiName", "Value": {"Fn::Sub": "selfcare-${Stage}"}} in resources["Api5xxRateAlarm"][
        "Properties"
    ]["Dimensions"]
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert '"ApiName","selfcare"' not in body and body.count('"ApiName","selfcare-${Stage}"') == 2


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_both_stages_as_configured_are_fit_to_deploy(stage: str) -> None:
    """dev deploys as it is too: its own domain, secrets under /selfcare/dev/, its own FCM project."""
    assert deployment_problems(CONFIG, stage) == []
    env = {**CONFIG["environment_variables"], **CONFIG["stages"][stage]["environment_variables"]}
    assert all(
        v.startswith(f"ssm:/selfcare/{stage}/")
        for k, v in env.items()
        if k.endswith(("_SOURCE", "_SECRET", "_KEY", "_CREDENTIALS", "_PEPPER"))
    )
    assert env["CALL_CODE_PEPPER"] == f"ssm:/selfcare/{stage}/call-code-pepper"
    assert (
        env["FCM_PROJECT_ID"] == f"selfcare-{stage}"
        and env["USAGE_QUEUE_NAME"] == f"selfcare-{stage}-usage-records"
    )


def _with(stage: str, **changes: str) -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config["stages"][stage]["environment_variables"].update(changes)
    return config


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"PAYMENT_GATEWAY": "sandbox"}, "PAYMENT_GATEWAY"),
        ({"IOS_APP_IDS": ""}, "IOS_APP_IDS"),
        ({"ANDROID_CERT_SHA256": ""}, "ANDROID_CERT_SHA256"),
        ({"JWT_KEY_SOURCE": "file:.local/jwt-keys.json"}, "JWT_KEY_SOURCE"),
        ({"WEBAUTHN_RP_ID": "localhost"}, "WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_ORIGINS": "http://selfcare.example.com"}, "WEBAUTHN_ORIGINS"),
        ({"FIREBASE_CREDENTIALS": "none"}, "FIREBASE_CREDENTIALS"),
        ({"STRIPE_SECRET_KEY": "env:STRIPE_KEY"}, "STRIPE_SECRET_KEY"),
        ({"CALL_CODE_PEPPER": "env:PEPPER"}, "CALL_CODE_PEPPER"),
        ({"S3_ENDPOINT": "http://127.0.0.1:8004"}, "S3_ENDPOINT"),
        # A stage calling itself a local one would pass every other check: refused for that alone.
        ({"STAGE": "test", "PAYMENT_GATEWAY": "sandbox"}, "STAGE is 'test'"),
    ],
)
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_a_stage_with_a_local_stand_in_is_refused(stage: str, change: dict[str, str], problem: str) -> None:
    problems = deployment_problems(_with(stage, **change), stage)
    assert any(problem in p for p in problems), problems


def test_a_function_level_override_is_checked_too() -> None:
    """Chalice lets one function override the stage's variables (`lambda_functions.<name>`)."""
    config = copy.deepcopy(CONFIG)
    config["stages"]["prod"]["lambda_functions"]["clear_offers"]["environment_variables"] = {
        "PAYMENT_GATEWAY": "sandbox"
    }
    assert [p for p in deployment_problems(config, "prod") if p.startswith("clear_offers: PAYMENT_GATEWAY")]


def test_packaging_a_refused_stage_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`make package STAGE=prod` stops before Chalice runs: no dist/prod to deploy by mistake.
    Mutation: check the stage after chalice_package() or print without exiting."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(_with("prod", PAYMENT_GATEWAY="sandbox", IOS_APP_IDS="")))
    with pytest.raises(SystemExit) as stopped:
        main(["--stage", "prod", "--config", str(config), "--dist", str(tmp_path / "dist")])
    assert stopped.value.code == 1
    assert not (tmp_path / "dist").exists()
    err = capsys.readouterr().err
    assert "PAYMENT_GATEWAY" in err and "IOS_APP_IDS" in err


def test_bucket_grants_are_pinned_to_this_stacks_buckets_and_prefixes() -> None:
    """The policy files name the buckets by the pattern CloudFormation names them with
    (selfcare-<stage>-<logical id>-...); the package pins them to this stack's own, prefix kept.
    Mutation: drop a bucket's entry from adjust()'s table (the pattern stays: any stack's bucket)."""
    roles = {
        name: {
            "Type": "AWS::IAM::Role",
            "Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": _policy(name)}]},
        }
        for name in ("api", "admin-help", "admin-cases", "admin-call-codes", "table-stream", "erasure")
    }
    adjusted = adjust({"Resources": roles}, "prod")
    resources = {
        name: [
            r
            for s in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            if any(
                str(a).startswith("s3:")
                for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
            )
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        ]
        for name, role in adjusted["Resources"].items()
    }
    assert "arn:aws:s3" not in json.dumps(resources)
    assert resources == {
        "api": [
            {"Fn::Sub": "${HelpBucket.Arn}/help-index/*"},
            {"Fn::Sub": "${CaseDocumentsBucket.Arn}/documents/*"},
            {"Fn::GetAtt": ["CaseDocumentsBucket", "Arn"]},
            {"Fn::Sub": "${ExportsBucket.Arn}/exports/*"},
        ],
        "admin-help": [{"Fn::Sub": "${HelpBucket.Arn}/help-index/*"}, {"Fn::GetAtt": ["HelpBucket", "Arn"]}],
        "admin-cases": [{"Fn::Sub": "${CaseDocumentsBucket.Arn}/documents/*"}],
        "admin-call-codes": [{"Fn::Sub": "${CaseDocumentsBucket.Arn}/documents/*"}],
        "table-stream": [{"Fn::Sub": "${ExportsBucket.Arn}/exports/*"}],
        "erasure": [
            {"Fn::Sub": "${CaseDocumentsBucket.Arn}/documents/*"},
            {"Fn::Sub": "${ExportsBucket.Arn}/exports/*"},
        ],
    }
    statements = json.dumps(adjusted["Resources"]["admin-call-codes"]["Properties"]["Policies"])
    assert (
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/selfcare/prod/call-code-pepper"
        in statements
    )


def test_no_stage_names_the_table_or_a_bucket_itself() -> None:
    """infra/resources.json hands every function the stack's own table and buckets (Globals,
    references); a value in .chalice/config.json, global, per stage or per function, would replace
    that reference in the functions it reaches (a function's own variables win over SAM's Globals),
    and a literal bucket name would be one stage's for both, or someone else's."""
    stack_names = {"APP_TABLE_NAME", "HELP_BUCKET", "CASE_DOCUMENTS_BUCKET"}
    assert not stack_names & CONFIG["environment_variables"].keys()
    for stage in ("dev", "prod"):
        config = CONFIG["stages"][stage]
        assert not stack_names & config["environment_variables"].keys(), stage
        for name, function in config["lambda_functions"].items():
            assert not stack_names & function.get("environment_variables", {}).keys(), (stage, name)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("grpc/_cython/cygrpc.cpython-312-x86_64-linux-gnu.so", "grpcio"),
        ("google/cloud/firestore_v1/client.py", "Firestore"),
        ("google/protobuf/message.py", "protobuf"),
        ("grpcio-1.85.3.dist-info/RECORD", "pruned above"),
        ("google_auth-2.62.2.dist-info/RECORD", "for uninstalling"),
        ("botocore/data/ec2/2016-11-15/service-2.json.gz", "botocore service model"),
        ("stripe/params/_payment_intent_create_params.py", "type checkers"),
    ],
)
def test_the_prune_list_leaves_out_what_no_function_imports(path: str, why: str) -> None:
    """Mutation: drop an entry of PRUNE (or the botocore rule) → that file ships again."""
    assert why in (pruned(Path(path)) or "")


@pytest.mark.parametrize(
    "path",
    [
        "google/auth/jwt.py",  # firebase_admin.messaging's credentials
        "google/oauth2/service_account.py",
        "google_auth-2.62.2.dist-info/METADATA",  # importlib.metadata.version() reads it
        "botocore/data/dynamodb/2012-08-10/service-2.json.gz",
        "botocore/data/s3/2006-03-01/service-2.json.gz",
        "botocore/data/ssm/2014-11-06/service-2.json.gz",
        "botocore/data/secretsmanager/2017-10-17/service-2.json.gz",
        "botocore/data/endpoints.json",  # the files at the top of botocore/data all stay
        "botocore/data/_retry.json",
        "stripe/_payment_intent_service.py",
        "firebase_admin/messaging.py",
    ],
)
def test_the_prune_list_keeps_what_the_functions_load(path: str) -> None:
    """Mutation: prune `google` whole, or drop a service from BOTOCORE_SERVICES → fails (and the
    deploy tests' push, S3 or DynamoDB calls would fail in the built package)."""
    assert pruned(Path(path)) is None
