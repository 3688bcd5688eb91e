"""`make package STAGE=dev|prod`: a deployable CloudFormation (SAM) template and its code, in
`dist/<stage>/`, then cfn-lint on it.

0. The stage must be fit to deploy: its environment (Chalice's global `environment_variables`,
   then the stage's, then each function's own) goes through `chalicelib.config.unsafe_for_deployment`;
   any problem is printed and nothing is written (a stage never ships with the sandbox payment
   provider, a key file, an empty app id, RP ID localhost...).
1. `chalice package --merge-template infra/resources.json` writes the template (every function with
   its own role and policy file, the API, the schedules, the stream and SQS event sources, our
   table, queues, alarms, dashboard, WAF). It runs on a copy of app.py, chalicelib/ and .chalice/
   with an empty requirements.txt: Chalice would otherwise spend a minute and a half building a
   python3.11 bundle of the dependencies that step 2 replaces anyway.
2. The code is rebuilt for the Lambda runtime we deploy on, python3.12 (Amazon Linux 2023): webauthn
   needs cbor2 6, published only as manylinux_2_28 wheels, which Amazon Linux 2's glibc (python3.11
   runtime) cannot load. `pip install --platform manylinux_2_28_x86_64 --python-version 3.12
   --only-binary=:all:` fetches exactly the wheels Lambda runs (kept in `.local/lambda-build/` per
   requirements.txt, so the second stage and later builds skip pip). To them are added the files of
   Chalice's own bundle: app.py, chalicelib/ and Chalice's runtime (`chalice/__init__.py`,
   `chalice/app.py`), which `import app` needs and which requirements.txt does not bring.
   With `LAMBDA_PYTHON` (a Python 3.12, as `make` finds it) everything is also compiled to
   bytecode (unchecked-hash .pyc): `/var/task` is read-only, so without it every cold start would
   compile every module again (about 0.7 s of each cold start). What no function imports stays out
   (PRUNE: Firestore/Storage/gRPC, botocore's models of services we never call, stripe's typing-only
   params, type stubs, pip's records), and only the .pyc of the modules the functions import ship
   (IMPORT_SURVEY, run by the runtime's Python on the tree about to be zipped). A requirement's
   module whose .pyc ships ships without its source (sourceless()); our code keeps its source, for
   our tracebacks' lines. The compiled extensions ship stripped (`strip`, from binutils, is
   required): 19.8 MB zipped instead of 59.
3. The template is adjusted: Runtime python3.12 everywhere, the Stage parameter bound to this stage,
   the API named after the stage, the IAM policies' resources pinned to this stack's own table,
   stream, queues, buckets, region and account (no wildcard on table or bucket names), and SnapStart
   on the API's handler and authorizer, which API Gateway calls through their `live` alias.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from chalicelib.config import load_settings, unsafe_for_deployment

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".chalice" / "config.json"
RUNTIME = "python3.12"
RUNTIME_CACHE_TAG = "cpython-312"  # sys.implementation.cache_tag of the runtime: names its .pyc files
TASK_ROOT = "/var/task"  # where Lambda unpacks the zip: the file name compiled into each .pyc
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")
BUILD_CACHE = ROOT / ".local" / "lambda-build"
PIP_CACHE = ROOT / ".local" / "pip-cache"
# What Chalice's own bundle must hold for `import app` to work in Lambda (its runtime, our code).
REQUIRED_IN_ZIP = ("app.py", "chalice/__init__.py", "chalice/app.py", "chalicelib/__init__.py")


class PackagingError(Exception):
    """The package cannot be built as asked; the message says why."""


# --- 0. the stage's environment ---------------------------------------------------------------------


def stage_environments(config: dict[str, Any], stage: str) -> dict[str, dict[str, str]]:
    """Every distinct environment a function of this stage runs with, as Chalice composes it:
    global `environment_variables`, then the stage's, then the function's own (`lambda_functions`)."""
    stage_config = config.get("stages", {}).get(stage)
    if stage_config is None:
        raise PackagingError(f"No stage {stage!r} in .chalice/config.json.")
    common = {**config.get("environment_variables", {}), **stage_config.get("environment_variables", {})}
    environments = {"every function": common}
    for name, function in sorted(stage_config.get("lambda_functions", {}).items()):
        if function.get("environment_variables"):
            environments[name] = {**common, **function["environment_variables"]}
    return environments


def deployment_problems(config: dict[str, Any], stage: str) -> list[str]:
    """Why this stage must not be packaged (empty when it may), one line per problem."""
    problems = []
    for who, environment in stage_environments(config, stage).items():
        try:
            settings = load_settings(environment)
        except ValueError as error:  # a number that is not one, a malformed rate limit
            problems.append(f"{who}: a setting cannot be read ({error})")
            continue
        # A stage that called itself `test` or `local` would pass every check below unseen.
        if settings.stage != stage:
            problems.append(f"{who}: STAGE is {settings.stage!r}; the {stage} stage must set STAGE={stage}")
        problems += [f"{who}: {problem}" for problem in unsafe_for_deployment(settings)]
    return problems


# --- 1. the template (and Chalice's bundle of our code) ---------------------------------------------


def chalice_package(stage: str, out: Path) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-3")}
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "deployments", "deployed")
    with tempfile.TemporaryDirectory(prefix="selfcare-chalice-") as tmp:
        project = Path(tmp)
        shutil.copy2(ROOT / "app.py", project / "app.py")
        shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=skip)
        shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=skip)
        # Dependencies come from build_code(): Chalice's bundle then holds its runtime and our code only.
        (project / "requirements.txt").write_text("")
        subprocess.run(
            [
                str(Path(sys.executable).parent / "chalice"),
                "package",
                "--merge-template",
                str(ROOT / "infra" / "resources.json"),
                "--stage",
                stage,
                str(out),
            ],
            cwd=project,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


# --- 2. the code, for python3.12 --------------------------------------------------------------------


def runtime_python() -> str | None:
    """`LAMBDA_PYTHON`, checked to be the runtime's Python (its bytecode is what Lambda can use)."""
    path = os.environ.get("LAMBDA_PYTHON")
    if not path:
        return None
    found = subprocess.run(
        [path, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True, text=True
    )
    if found.returncode != 0 or found.stdout.strip() != RUNTIME_CACHE_TAG:
        raise PackagingError(
            f"LAMBDA_PYTHON={path} is not a working Python 3.12 ({RUNTIME_CACHE_TAG}), the runtime's."
        )
    return path


def compile_bytecode(python: str, directory: Path, *, strict: bool) -> None:
    """Unchecked-hash .pyc: used as they are, whatever the files' times once Lambda unpacks them.
    Each names its source as it will be in Lambda (`/var/task/...`, `-s`/`-p`): a requirement's
    module ships as its .pyc alone (see sourceless()), and the import system only corrects the name
    of a module loaded from its source, so without this its tracebacks would name the build's
    temporary directory."""
    result = subprocess.run(
        [
            python,
            "-I",
            "-m",
            "compileall",
            "-q" if strict else "-qq",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(directory),
            "-p",
            TASK_ROOT,
            str(directory),
        ],
        stdout=None if strict else subprocess.DEVNULL,
    )
    # A third-party file that does not compile under 3.12 (a vendored test, Python 2 leftovers) is
    # never imported; one of ours that does not is a build error.
    if strict and result.returncode != 0:
        raise PackagingError(f"Our code does not compile under {RUNTIME} (see above).")


def dependencies(python: str | None) -> Path:
    """requirements.txt installed for the runtime, built once per requirements.txt (and bytecode
    choice) into .local/lambda-build/."""
    requirements = (ROOT / "requirements.txt").read_bytes()
    recipe = json.dumps(
        [RUNTIME, PLATFORMS, f"{RUNTIME_CACHE_TAG} as {TASK_ROOT}" if python else "no-bytecode"]
    ).encode()
    key = hashlib.sha256(requirements + recipe).hexdigest()[:16]
    site = BUILD_CACHE / f"site-{key}"
    if site.is_dir():
        return site
    partial = BUILD_CACHE / f"partial-{key}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    platform_args = [a for p in PLATFORMS for a in ("--platform", p)]
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--target",
                str(partial),
                "--implementation",
                "cp",
                "--python-version",
                RUNTIME.removeprefix("python"),
                "--only-binary=:all:",
                *platform_args,
                "--no-compile",
                "--cache-dir",
                str(PIP_CACHE),
                "-r",
                str(ROOT / "requirements.txt"),
            ],
            check=True,
        )
        if python:
            compile_bytecode(python, partial, strict=False)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for stale in BUILD_CACHE.glob("site-*"):  # earlier requirements: never used again
        shutil.rmtree(stale, ignore_errors=True)
    partial.rename(site)  # atomic: a site directory is always complete
    return site


# --- what ships: a post-install prune, and bytecode where the functions import ---------------------

# Installed by requirements.txt but never imported by a function: left out of the zip. Each entry is
# a path in the installed tree (a folder or a file; `*` within a name), and why. tests/deploy proves
# it safe: the built package imports app and every chalicelib module, pushes with
# firebase_admin.messaging to the fake FCM, registers and signs in with webauthn, imports stripe and
# every requirement's top-level module, and runs every handler of sam.json.
PRUNE: tuple[tuple[str, str], ...] = (
    # firebase-admin requires google-cloud-firestore and google-cloud-storage for its firestore and
    # storage modules; we use messaging and credentials only, which load google.auth and nothing here.
    ("google/cloud", "Firestore and Storage clients (firebase_admin.firestore / .storage: unused)"),
    ("google/api_core", "the Cloud client core: Firestore/Storage only, messaging never loads it"),
    ("google/api", "googleapis-common-protos: gRPC API annotations (Firestore)"),
    ("google/rpc", "googleapis-common-protos: gRPC status (Firestore)"),
    ("google/type", "googleapis-common-protos: Firestore's LatLng and friends"),
    ("google/longrunning", "googleapis-common-protos: gRPC operations"),
    ("google/logging", "googleapis-common-protos: Cloud Logging types"),
    ("google/gapic", "googleapis-common-protos: generator metadata"),
    ("google/protobuf", "protobuf, for the gRPC clients above: messaging sends JSON over HTTP"),
    ("google/_upb", "protobuf's C extension"),
    ("google/resumable_media", "google-resumable-media: Storage uploads"),
    ("google/_async_resumable_media", "google-resumable-media: Storage uploads"),
    ("google_crc32c", "Storage's checksums"),
    ("google_crc32c.libs", "Storage's checksums (the bundled libcrc32c)"),
    ("grpc", "grpcio: the Firestore transport (7.6 MB zipped)"),
    ("grpc_status", "grpcio-status: Firestore"),
    ("proto", "proto-plus: Firestore's and Storage's message classes"),
    ("opentelemetry", "opentelemetry-api: Firestore's tracing"),
    ("bin", "console scripts (no function runs a command)"),
    # Their metadata goes with them: nothing may find a distribution whose code is gone.
    ("google_api_core-*.dist-info", "pruned above"),
    ("google_cloud_*.dist-info", "pruned above"),
    ("google_crc32c-*.dist-info", "pruned above"),
    ("google_resumable_media-*.dist-info", "pruned above"),
    ("googleapis_common_protos-*.dist-info", "pruned above"),
    ("grpcio*.dist-info", "pruned above"),
    ("proto_plus-*.dist-info", "pruned above"),
    ("protobuf-*.dist-info", "pruned above"),
    ("opentelemetry_api-*.dist-info", "pruned above"),
    # Every import of stripe.params in stripe (and in billing/stripe_gateway.py) is under
    # `if TYPE_CHECKING`: the client takes plain dicts at run time.
    ("stripe/params", "stripe's TypedDicts, for type checkers only (8 MB of source)"),
    # cffi's Python package parses C declarations (with pycparser) for code that builds an FFI at
    # run time: nothing shipped does (cryptography's extension uses the compiled _cffi_backend,
    # which stays; the only other importer is pyOpenSSL's `python -m OpenSSL.debug` report).
    ("cffi", "cffi's declaration parser and build tools: no shipped module builds an FFI"),
    ("pycparser", "the C parser of cffi's pruned declaration parser"),
    ("cffi-*.dist-info", "pruned above"),
    ("pycparser-*.dist-info", "pruned above"),
    ("pydantic/mypy.py", "pydantic's mypy plugin: imports mypy, which is not shipped"),
    # Documentation only: botocore.docs and boto3.docs read them, to write API reference pages.
    ("botocore/data/*/*/examples-1.json", "request examples for the API reference (botocore.docs)"),
    ("boto3/examples", "reST examples for the API reference (boto3.docs)"),
    # botocore verifies TLS with certifi's bundle when certifi is importable (httpsession.py's
    # `from certifi import where`); certifi ships (requests needs it), so its own copy is never read.
    ("botocore/cacert.pem", "botocore's CA bundle: certifi's is used"),
    # A distribution's metadata: importlib.metadata.version() and .metadata() (cachecontrol,
    # pydantic, urllib3, dnspython ask for versions) read METADATA, and pydantic looks for plugins
    # in entry_points.txt: both stay, with the licences. What only pip reads goes.
    ("*.dist-info/RECORD", "pip's list of installed files, for uninstalling"),
    ("*.dist-info/INSTALLER", "pip's name, for uninstalling"),
    ("*.dist-info/REQUESTED", "pip's marker of a requirement asked for by name"),
    ("*.dist-info/WHEEL", "the wheel format's version and tags, read when installing"),
    ("*.dist-info/top_level.txt", "setuptools' list of top-level names: no shipped code reads it"),
    ("*.dist-info/zip-safe", "setuptools' egg flag"),
)
# Files of these names, at any depth: for type checkers and nobody else.
PRUNE_ANYWHERE: tuple[tuple[str, str], ...] = (
    ("*.pyi", "type stubs: read by type checkers, never imported"),
    ("py.typed", "the PEP 561 marker, for type checkers"),
)
# botocore's service models: only those of the services the code calls (pynamodb: dynamodb; help
# index and case documents: s3; keys and the provider's secrets: ssm, secretsmanager; sts: the SDK's
# credential chain may assume a role). The files at the top of botocore/data (endpoints, partitions,
# retry and default configuration) all stay. The 400 other services are 15 MB of the zip.
BOTOCORE_SERVICES = frozenset({"dynamodb", "s3", "ssm", "secretsmanager", "sts"})
# boto3's resource models (boto3.resource(...), which no code calls) follow the same list.
SDK_DATA = (("botocore", "data"), ("boto3", "data"))


def pruned(relative: Path) -> str | None:
    """Why this installed file stays out of the package (None: it ships)."""
    parts = relative.parts
    if len(parts) >= 4 and parts[:2] in SDK_DATA and parts[2] not in BOTOCORE_SERVICES:
        return f"a {parts[0]} service model that no function calls"
    for pattern, why in PRUNE_ANYWHERE:
        if fnmatchcase(relative.name, pattern):
            return why
    for pattern, why in PRUNE:
        wanted = pattern.split("/")
        if len(parts) >= len(wanted) and all(map(fnmatchcase, parts, wanted)):
            return why
    return None


# Run by the runtime's Python in the package's tree (`-I -S -B`: the tree only, nothing written):
# the paths of the bytecode of every module a function imports, at its cold start or on first use
# (every chalicelib module, a push, a sign-in, the Stripe client and its services, the AWS clients).
# Only those .pyc ship: the other modules of a requirement (stripe's 2,000 resources and events,
# pydantic.v1, ...) stay source, compiled in memory on the rare day one is imported.
IMPORT_SURVEY = """
import importlib, importlib.machinery, json, pkgutil, sys
root = sys.argv[1]
sys.path.insert(0, root)
found_cached = set()


class Recorder:
    # Every module looked up on the path, imported or not: one whose import fails (dateutil.tz.win,
    # urllib3.contrib.socks: the optional-dependency probes) was still compiled at each cold start.
    @staticmethod
    def find_spec(name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.cached:
            found_cached.add(spec.cached)
        return spec


sys.meta_path.insert(sys.meta_path.index(importlib.machinery.PathFinder), Recorder)
import app, chalicelib
for found in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
    # Reading an attribute runs the module: a deferred one (chalicelib/common/lazy.py) is
    # otherwise returned unexecuted, and the modules it imports would go unseen.
    getattr(importlib.import_module(found.name), "__file__")
for name in (
    "webauthn", "cbor2", "email_validator", "tantivy", "boto3", "stripe",
    "firebase_admin", "firebase_admin.messaging", "firebase_admin.credentials", "firebase_admin.exceptions",
    "google.auth.transport.requests", "google.oauth2.service_account", "google.auth.crypt.es256",
):
    importlib.import_module(name)
import boto3, stripe
for service in ("dynamodb", "s3", "ssm", "secretsmanager"):
    boto3.client(service, region_name="eu-west-3", aws_access_key_id="survey", aws_secret_access_key="survey")
client = stripe.StripeClient("sk_test_survey")
for service in ("payment_methods", "customers", "payment_intents", "refunds"):
    getattr(client.v1, service)
print(json.dumps(sorted(c for c in found_cached if c.startswith(root))))
"""


def imported_bytecode(python: str, tree: Path) -> set[str]:
    """The .pyc (relative to `tree`) of every module the functions import: see IMPORT_SURVEY."""
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "eu-west-3", "HOME": str(tree)}
    found = subprocess.run(
        [python, "-I", "-S", "-B", "-c", IMPORT_SURVEY, str(tree)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise PackagingError(f"The package's modules do not import under {RUNTIME}:\n{found.stderr[-3000:]}")
    root = str(tree)
    return {Path(c).relative_to(root).as_posix() for c in json.loads(found.stdout.strip().splitlines()[-1])}


def sourceless(tree: Path, bytecode: set[str], ours: set[str]) -> None:
    """A requirement's module whose bytecode ships ships as that bytecode alone: its
    `__pycache__/<name>.cpython-312.pyc` becomes `<name>.pyc` beside where `<name>.py` was (the only
    place the import system loads a .pyc without its source from) and the .py goes. The same bytes:
    an unchecked-hash .pyc is never compared with a source, so it loads as it did. Our code (app.py,
    chalicelib/, Chalice's runtime) keeps its source: our tracebacks show their lines."""
    tag = f".{RUNTIME_CACHE_TAG}.pyc"
    for name in sorted(bytecode - ours):
        cached = tree / name
        if cached.parent.name != "__pycache__" or not cached.name.endswith(tag):
            raise PackagingError(f"Unexpected bytecode file {name}.")
        folder, module = cached.parent.parent, cached.name.removesuffix(tag)
        cached.rename(folder / f"{module}.pyc")
        (folder / f"{module}.py").unlink(missing_ok=True)


def strip_into(strip: str, extension: Path, destination: Path) -> None:
    """A copy of a compiled extension without its symbol table and debug sections (tantivy's and
    cryptography's wheels ship them: 8 MB unzipped, 1.2 MB zipped). `--strip-unneeded` keeps every
    symbol the dynamic loader needs (the dynamic symbol table is not touched). The copy is stripped,
    never the cached build: its key does not say stripped."""
    result = subprocess.run(
        [strip, "--strip-unneeded", "-o", str(destination), str(extension)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise PackagingError(f"strip failed on {extension}:\n{result.stderr}")


def _is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def _shipped(relative: Path, *, bytecode: bool) -> bool:
    if "__pycache__" in relative.parts:
        return bytecode and relative.name.endswith(f".{RUNTIME_CACHE_TAG}.pyc")
    return relative.suffix != ".pyc"


def _add(bundle: zipfile.ZipFile, path: Path, name: str) -> None:
    """Readable by everyone whatever the local umask: Lambda runs the code as another user."""
    info = zipfile.ZipInfo.from_file(path, name)
    mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    # The strongest deflate: a few seconds more per build, a smaller upload and cold download.
    bundle.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def build_code(out: Path, python: str | None) -> None:
    """Replace Chalice's bundle by one for the runtime: its files (our code, Chalice's runtime) plus
    every requirement but the pruned files, with the bytecode the functions use when `python` is
    given."""
    zip_path = out / "deployment.zip"
    strip = shutil.which("strip")
    if strip is None:
        raise PackagingError(
            "`strip` is not installed (binutils: `make system-deps`, or `apt-get install binutils`): "
            "the compiled extensions would ship with their symbols, 1.6 MB more zipped."
        )
    site = dependencies(python)
    with tempfile.TemporaryDirectory(prefix="selfcare-code-") as tmp:
        code, tree = Path(tmp) / "code", Path(tmp) / "tree"
        with zipfile.ZipFile(zip_path) as chalice_bundle:
            names = set(chalice_bundle.namelist())
            missing = [name for name in REQUIRED_IN_ZIP if name not in names]
            if missing:
                raise PackagingError(f"Chalice's bundle lacks {', '.join(missing)}.")
            chalice_bundle.extractall(code)
        if python:
            compile_bytecode(python, code, strict=True)
        # The tree that ships, first on disk: the survey imports from exactly what Lambda gets.
        ours: set[str] = set()
        for root in (code, site):  # ours first: a requirement never replaces our code or Chalice's runtime
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root)
                name = relative.as_posix()
                if not path.is_file() or (tree / name).exists():
                    continue
                if not _shipped(relative, bytecode=python is not None):
                    continue
                if root is site and (relative.parts[0] == "chalice" or pruned(relative)):
                    continue  # as Chalice does, its runtime only, never the CLI; and the prune list
                (tree / name).parent.mkdir(parents=True, exist_ok=True)
                if root is site and _is_elf(path):
                    strip_into(strip, path, tree / name)
                else:
                    shutil.copy2(path, tree / name)
                if root is code:
                    ours.add(name)
        keep = imported_bytecode(python, tree) if python else set()
        sourceless(tree, keep, ours)
        with zipfile.ZipFile(zip_path, "w") as bundle:
            for path in sorted(tree.rglob("*")):
                relative = path.relative_to(tree)
                name = relative.as_posix()
                # What is left in a __pycache__ is ours, or a module no function imports (its
                # source ships; it is compiled in memory on the rare day one is imported).
                if path.is_file() and ("__pycache__" not in relative.parts or name in ours):
                    _add(bundle, path, name)


def inputs_digest() -> str:
    """What a package is built from: the tests rebuild dist/<stage> when this changed since."""
    files = [
        ROOT / "app.py",
        ROOT / "requirements.txt",
        ROOT / "infra" / "resources.json",
        Path(__file__).resolve(),
    ]
    files += [
        p
        for p in (ROOT / "chalicelib").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]
    files += [
        p for p in (ROOT / ".chalice").rglob("*.json") if not {"deployments", "deployed"} & set(p.parts)
    ]
    digest = hashlib.sha256()
    for path in sorted(set(files)):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# --- 3. the template's adjustments -------------------------------------------------------------------


def adjust(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """python3.12 everywhere, the Stage parameter bound to this stage, the API named after it, and
    the policies' resources pinned to this stack's own table, stream, queues and buckets, in its
    region and account (the policy files name them by pattern, as `chalice deploy` would use them)."""
    pinned: dict[str, Any] = {
        f"arn:aws:dynamodb:*:*:table/selfcare-{stage}-AppTable-*": {"Fn::GetAtt": ["AppTable", "Arn"]},
        f"arn:aws:dynamodb:*:*:table/selfcare-{stage}-AppTable-*/index/*": {
            "Fn::Sub": "${AppTable.Arn}/index/*"
        },
        f"arn:aws:dynamodb:*:*:table/selfcare-{stage}-AppTable-*/stream/*": {
            "Fn::GetAtt": ["AppTable", "StreamArn"]
        },
        f"arn:aws:sqs:*:*:selfcare-{stage}-TableStreamDeadLetters-*": {
            "Fn::GetAtt": ["TableStreamDeadLetters", "Arn"]
        },
        f"arn:aws:sqs:*:*:selfcare-{stage}-usage-records": {"Fn::GetAtt": ["UsageRecordsQueue", "Arn"]},
        # Buckets are named by CloudFormation after the stack (selfcare-<stage>-<logical id>-...).
        f"arn:aws:s3:::selfcare-{stage}-helpbucket-*/help-index/*": {
            "Fn::Sub": "${HelpBucket.Arn}/help-index/*"
        },
        f"arn:aws:s3:::selfcare-{stage}-helpbucket-*": {"Fn::GetAtt": ["HelpBucket", "Arn"]},
        f"arn:aws:s3:::selfcare-{stage}-casedocumentsbucket-*": {
            "Fn::GetAtt": ["CaseDocumentsBucket", "Arn"]
        },
        f"arn:aws:s3:::selfcare-{stage}-casedocumentsbucket-*/documents/*": {
            "Fn::Sub": "${CaseDocumentsBucket.Arn}/documents/*"
        },
        # Customers' data exports (infra/resources.json's ExportsBucket).
        f"arn:aws:s3:::selfcare-{stage}-exportsbucket-*": {"Fn::GetAtt": ["ExportsBucket", "Arn"]},
        f"arn:aws:s3:::selfcare-{stage}-exportsbucket-*/exports/*": {
            "Fn::Sub": "${ExportsBucket.Arn}/exports/*"
        },
        "ssm.*.amazonaws.com": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
    }

    def pin(value: Any) -> Any:
        if isinstance(value, list):
            return [pin(v) for v in value]
        if isinstance(value, dict):
            return {k: pin(v) for k, v in value.items()}
        if not isinstance(value, str):
            return value
        if value in pinned:
            return pinned[value]
        for service in ("logs", "ssm"):  # any region or account → this stack's
            prefix = f"arn:aws:{service}:*:*:"
            if value.startswith(prefix):
                return {
                    "Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{value.removeprefix(prefix)}"
                }
        return value

    template.setdefault("Parameters", {}).setdefault("Stage", {})["Default"] = stage
    # Names (queue, topic, dashboard, WAF) follow Stage while the code's settings were fixed at
    # packaging: CloudFormation refuses this package under another stage.
    template.setdefault("Rules", {})["PackagedForThisStage"] = {
        "Assertions": [
            {
                "Assert": {"Fn::Equals": [{"Ref": "Stage"}, stage]},
                "AssertDescription": f"This template and its code were packaged for the {stage} stage (make package STAGE={stage}).",
            }
        ]
    }
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["Runtime"] = RUNTIME
        if resource["Type"] == "AWS::Serverless::Api" and "DefinitionBody" in resource["Properties"]:
            # The API's name is the ApiName of its metrics: each stage's alarms see their own API only.
            resource["Properties"]["DefinitionBody"].setdefault("info", {})["title"] = f"selfcare-{stage}"
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                policy["PolicyDocument"]["Statement"] = pin(policy["PolicyDocument"]["Statement"])
    snap_start(template)
    return template


# The functions a customer waits for: the API's handler and its authorizer. Schedules, streams and
# admin functions keep plain cold starts (nobody waits; SnapStart's caching would cost for nothing).
SNAPSTART_FUNCTIONS = ("APIHandler", "AccessToken")
ALIAS = "live"


def snap_start(template: dict[str, Any]) -> None:
    """SnapStart on published versions of the API's functions, served through an alias: SAM
    publishes a version at each code change (AutoPublishAlias) and creates `<Function>Alias<alias>`
    (an AWS::Lambda::Alias, whose Ref is its ARN); SnapStart snapshots versions only, so API Gateway
    must invoke the alias, and may (each permission names the qualified function it covers)."""
    resources = template["Resources"]
    for name in SNAPSTART_FUNCTIONS:
        if name not in resources:
            continue
        properties = resources[name]["Properties"]
        properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
        properties["AutoPublishAlias"] = ALIAS
        alias = f"{name}Alias{ALIAS}"
        for resource in resources.values():
            if resource["Type"] == "AWS::Lambda::Permission" and resource["Properties"]["FunctionName"] in (
                {"Ref": name},
                {"Fn::GetAtt": [name, "Arn"]},
            ):
                resource["Properties"]["FunctionName"] = {"Ref": alias}
            if resource["Type"] == "AWS::Serverless::Api" and "DefinitionBody" in resource["Properties"]:
                body = json.dumps(resource["Properties"]["DefinitionBody"])
                resource["Properties"]["DefinitionBody"] = json.loads(
                    body.replace(f"${{{name}.Arn}}", f"${{{alias}}}")
                )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", default="dev", choices=["dev", "prod"])
    parser.add_argument("--lint", action="store_true", help="run cfn-lint on the result")
    parser.add_argument(
        "--config", type=Path, default=CONFIG, help=argparse.SUPPRESS
    )  # the tests' modified configs
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        problems = deployment_problems(json.loads(args.config.read_text()), args.stage)
        if problems:
            raise PackagingError(
                f"The {args.stage} stage is not fit to deploy (.chalice/config.json):\n  - "
                + "\n  - ".join(problems)
            )
        python = runtime_python()
        if python is None:
            print(
                "LAMBDA_PYTHON is not set: the package ships without bytecode (slower cold starts); `make package` sets it.",
                file=sys.stderr,
            )
        out = args.dist / args.stage
        shutil.rmtree(out, ignore_errors=True)
        inputs = inputs_digest()
        chalice_package(args.stage, out)
        build_code(out, python)
    except PackagingError as error:
        print(f"make package: {error}", file=sys.stderr)
        sys.exit(1)
    template = adjust(json.loads((out / "sam.json").read_text()), args.stage)
    (out / "sam.json").write_text(json.dumps(template, indent=2) + "\n")
    (out / "build.json").write_text(
        json.dumps({"inputs": inputs, "runtime": RUNTIME, "bytecode": python is not None}) + "\n"
    )
    size = (out / "deployment.zip").stat().st_size / 1e6
    print(
        f"dist/{args.stage}/sam.json and deployment.zip ({size:.1f} MB, {RUNTIME}{', bytecode' if python else ''}). Deploy with:\n"
        f"  aws cloudformation package --template-file dist/{args.stage}/sam.json --s3-bucket <bucket> --output-template-file packaged.yaml\n"
        f"  aws cloudformation deploy --template-file packaged.yaml --stack-name selfcare-{args.stage} --capabilities CAPABILITY_IAM"
    )
    if args.lint:
        subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(out / "sam.json")], check=True)
        print("cfn-lint: no errors")


if __name__ == "__main__":
    main()
