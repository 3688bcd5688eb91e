"""Each built package (dist/<stage>/deployment.zip) runs as Lambda runs it.

The zip is unpacked into a read-only directory and imported by the runtime's Python (3.12,
`LAMBDA_PYTHON`) with `-I -S -B`: no repository, no site-packages, no bytecode written, the
unpacked directory first on the path and as working directory, like /var/task. Then every function
of the package's sam.json is called through its Handler with its sample event (infra/admin-events/,
infra/sample-events/) against a DynamoDB Local, in an order where each finds what it
needs: the catalogue, a customer enrolling a passkey with the letter's code, the authorizer's
verdict on a good and a bad token, the API with the authorizer's context, usage through SQS, alerts
through the stream (pushed with firebase_admin to the fake FCM), every schedule and admin function.

Each function runs in a container (process) of its own, as in Lambda, shared only with functions of
the same IAM policy; one more imports every module the code imports only on first use (stripe,
firebase_admin, the admin modules...). The stage's own settings from sam.json are kept, except the
secrets and the cloud services, which get the suite's local stand-ins (STAGE=test, a key file, the
sandbox payment provider, the fake FCM). A recording proxy in front of DynamoDB Local checks that
each function's IAM policy allows every DynamoDB action its calls needed.

Mutations: drop Chalice's runtime from the zip (ImportError: chalice), or a requirement such as
cbor2 (ModuleNotFoundError in webauthn: the registration fails), or email-validator
(admin_create_customer fails); add a function to app.py without a sample event; remove an action a
function uses from its policy file.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import select
import subprocess
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools import dynamodb_local
from tests.deploy import template as tpl
from tests.deploy.recorder import DynamoDBRecorder

ROOT = Path(__file__).resolve().parent.parent.parent
ADMIN_EVENTS = ROOT / "infra" / "admin-events"
SAMPLE_EVENTS = ROOT / "infra" / "sample-events"
RUNNER = Path(__file__).resolve().parent / "lambda_runner.py"
AUTHENTICATOR = ROOT / "devtools" / "soft_authenticator.py"
LINE = "ln_grace1"  # infra/admin-events/admin_set_line.json
PHONE = "phone"  # the container playing the customer's phone (passkey ceremonies)
AUTHORIZED = {"principalId": "${customer_id}", "session_id": "${session_id}", "integrationLatency": 9}


def lambda_python() -> str:
    """The runtime's Python: required under `make test` (it sets LAMBDA_PYTHON) or CI."""
    path = os.environ.get("LAMBDA_PYTHON")
    if not path:
        if os.environ.get("CI"):
            pytest.fail(
                "LAMBDA_PYTHON is not set: the built package must be run with Python 3.12, the Lambda runtime's"
            )
        pytest.skip(
            "LAMBDA_PYTHON is not set (make test sets it to a Python 3.12): the built package is not run"
        )
    version = subprocess.run(
        [path, "-I", "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
        capture_output=True,
        text=True,
    )
    if version.stdout.strip() != "True":
        pytest.fail(f"LAMBDA_PYTHON={path} is not a working Python 3.12")
    return path


def sample(name: str) -> dict[str, Any]:
    folder = ADMIN_EVENTS if (ADMIN_EVENTS / f"{name}.json").exists() else SAMPLE_EVENTS
    return json.loads((folder / f"{name}.json").read_text())


def api(
    method: str,
    resource: str,
    path: str,
    *,
    body: Any = None,
    authorizer: dict[str, Any] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event, shaped like the samples (app.get_jwks.json)."""
    event = copy.deepcopy(sample("app.get_jwks"))
    event.update(resource=resource, path=path, httpMethod=method, body=body, pathParameters=path_parameters)
    event["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/api{path}")
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer
    if body is not None:
        event["headers"]["Content-Type"] = "application/json"
    return event


def step(step_id: str, handler: str, event: dict[str, Any], **save: str) -> dict[str, Any]:
    return {"id": step_id, "handler": handler, "event": event, "save": save}


def from_sample(name: str, **save: str) -> dict[str, Any]:
    """A step calling `app.<handler>` with infra/*-events/<handler>[.<variant>].json."""
    return {**step(name, name.split(".")[0], sample(name), **save), "sample": name}


def phone(step_id: str, kind: str, options: str, **save: str) -> dict[str, Any]:
    return {
        "id": step_id,
        "harness": kind,
        "options": options,
        "authenticator_file": str(AUTHENTICATOR),
        "save": save,
    }


def inbox_item_inserted() -> dict[str, Any]:
    """The stream record DynamoDB writes when notify() adds an inbox item (the push's trigger)."""
    event = copy.deepcopy(sample("on_table_stream"))
    record = event["Records"][0]
    image = {
        "PK": {"S": "CUSTOMER#${customer_id}"},
        "SK": {"S": "INBOX#${alert_id}"},
        "type": {"S": "inbox_item"},
        "customer_id": {"S": "${customer_id}"},
        "alert_id": {"S": "${alert_id}"},
        "delivery_status": {"S": "pending"},
    }
    record["dynamodb"].update(
        Keys={"PK": image["PK"], "SK": image["SK"]},
        NewImage=image,
        SequenceNumber="4421584500000000017450439092",
    )
    return event


def lazily_imported(package: Path) -> list[str]:
    """Every module of ours and every requirement's top-level module, as the zip holds them: the code
    imports some only on first use (firebase_admin, stripe, email_validator, the admin modules), so a
    run that never takes that path would not notice one missing."""
    wanted = {
        re.sub(r"[-_.]+", "-", line.split("==")[0].strip()).lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    }
    modules = set()
    with zipfile.ZipFile(package / "deployment.zip") as bundle:
        names = bundle.namelist()
        for record in (n for n in names if n.endswith(".dist-info/RECORD")):
            distribution = re.sub(
                r"[-_.]+", "-", record.split("/")[0].removesuffix(".dist-info").rsplit("-", 1)[0]
            ).lower()
            if distribution not in wanted:
                continue
            for line in bundle.read(record).decode().splitlines():
                path = line.split(",")[0]
                top = path.split("/")[0]
                if path.count("/") == 0 and path.endswith(".py"):
                    modules.add(path.removesuffix(".py"))
                elif path == f"{top}/__init__.py":
                    modules.add(top)
            wanted.discard(distribution)
    assert not wanted, f"requirements missing from the zip: {sorted(wanted)}"
    ours = sorted(
        n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for n in names
        if n.startswith("chalicelib/") and n.endswith(".py")
    )
    return sorted(modules) + ours


def plan(package: Path) -> list[dict[str, Any]]:
    return [
        {
            "id": "lazy_imports",
            "harness": "import",
            "container": "imports",
            "modules": lazily_imported(package),
            "save": {},
        },
        from_sample("admin_upsert_catalog"),
        from_sample(
            "admin_create_customer",
            customer_id="customer_id",
            enrolment_handle="enrolment_handle",
            activation_code="activation_code",
        ),
        from_sample("admin_set_segments"),
        from_sample("admin_set_line"),
        from_sample("import_bills"),
        from_sample("admin_create_offer"),
        from_sample("app.get_jwks"),
        from_sample("app.post_login_options"),
        # A first passkey, with the letter's handle and code: webauthn, cbor2 and cryptography at work.
        step(
            "register_options",
            "app",
            api(
                "POST",
                "/auth/passkeys/register/options",
                "/auth/passkeys/register/options",
                body={"enrolment_handle": "${enrolment_handle}", "activation_code": "${activation_code}"},
            ),
            register_challenge="json.challenge_id",
            register_options="json.options",
        ),
        phone("phone_creates_passkey", "passkey_create", "${register_options}", credential=""),
        step(
            "register_verify",
            "app",
            api(
                "POST",
                "/auth/passkeys/register/verify",
                "/auth/passkeys/register/verify",
                body={
                    "challenge_id": "${register_challenge}",
                    "credential": "${credential}",
                    "name": "iPhone de Grace",
                },
            ),
            access_token="json.access_token",
        ),
        from_sample("access_token.valid_token", session_id="context.session_id"),
        from_sample("access_token.bad_token"),
        from_sample("app.get_me"),
        step(
            "register_device",
            "app",
            api(
                "PUT",
                "/me/devices/{installation_id}",
                "/me/devices/fid_sample_0001",
                authorizer=AUTHORIZED,
                path_parameters={"installation_id": "fid_sample_0001"},
                body={
                    "fcm_token": "fcm-token-sample-0001",
                    "platform": "ios",
                    "app_version": "3.4.0",
                    "locale": "fr-FR",
                },
            ),
        ),
        step(
            "login_options",
            "app",
            sample("app.post_login_options"),
            login_challenge="json.challenge_id",
            login_options="json.options",
        ),
        phone("phone_signs_in", "passkey_get", "${login_options}", assertion=""),
        step(
            "login_verify",
            "app",
            api(
                "POST",
                "/auth/passkeys/login/verify",
                "/auth/passkeys/login/verify",
                body={"challenge_id": "${login_challenge}", "credential": "${assertion}"},
            ),
        ),
        from_sample("ingest_usage"),
        step(
            "usage_view",
            "app",
            api(
                "GET",
                "/lines/{line_id}/usage",
                f"/lines/{LINE}/usage",
                authorizer=AUTHORIZED,
                path_parameters={"line_id": LINE},
            ),
        ),
        from_sample("on_table_stream"),
        step(
            "inbox",
            "app",
            api("GET", "/me/inbox", "/me/inbox", authorizer=AUTHORIZED),
            alert_id="json.items.0.id",
        ),
        step("stream_pushes_alert", "on_table_stream", inbox_item_inserted()),
        from_sample("apply_plan_changes"),
        from_sample("sweep_pending_payments"),
        from_sample("daily_billing"),
        from_sample("deliver_deferred_alerts"),
        from_sample("admin_issue_activation_code"),
        from_sample("admin_cancel_offer"),
        from_sample("clear_offers"),
        from_sample("admin_offer_result"),
        from_sample("admin_send_announcement"),
        from_sample("admin_revoke_sessions"),
        from_sample("admin_reset_passkeys"),
    ]


def lambda_environment(template: dict[str, Any], *, table: str, endpoint: str, home: str) -> dict[str, str]:
    """The API handler's environment from sam.json (every function has the same), with local
    stand-ins for what only exists in AWS: secrets (ssm:...), the payment provider, FCM, the table."""
    variables = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    env = {
        k: v
        for k, v in variables.items()
        if isinstance(v, str) and not v.startswith(("ssm:", "secretsmanager:"))
    }
    for name, value in variables.items():  # a secret's local stand-in, when the suite has one
        if isinstance(value, str) and value.startswith(("ssm:", "secretsmanager:")) and os.environ.get(name):
            env[name] = os.environ[name]
    env.update(
        STAGE="test",
        APP_TABLE_NAME=table,
        DYNAMODB_ENDPOINT=endpoint,
        PAYMENT_GATEWAY=os.environ.get("PAYMENT_GATEWAY", "sandbox"),
        FCM_ENDPOINT=os.environ["FCM_ENDPOINT"],
        RATE_LIMITS=os.environ.get("RATE_LIMITS", ""),
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_REGION="eu-west-3",
        AWS_DEFAULT_REGION="eu-west-3",
        AWS_EXECUTION_ENV="AWS_Lambda_python3.12",
        LANG="en_US.UTF-8",
        TZ=":UTC",
        PATH="/usr/bin:/bin",
        HOME=home,
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def substitute(value: Any, saved: dict[str, Any]) -> Any:
    """`${name}` → a value an earlier step saved (the whole value when the string is only that)."""
    if isinstance(value, dict):
        return {k: substitute(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, saved) for v in value]
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value)
    if whole:
        return saved[whole.group(1)]
    return PLACEHOLDER.sub(lambda m: str(saved[m.group(1)]), value)


def dig(result: Any, path: str) -> Any:
    """`json.items.0.id` in a result; "" is the whole result."""
    for part in filter(None, path.split(".")):
        result = result[int(part)] if isinstance(result, list) else result[part]
    return result


class Container:
    """One function's Lambda container: lambda_runner.py in the runtime's Python, in the read-only
    unpacked package; a cold start (`import app`), then one invocation per call."""

    def __init__(self, python: str, task: Path, env: dict[str, str], log: Path) -> None:
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [python, "-I", "-S", "-B", str(RUNNER), str(task)],
            cwd=task,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self.cold_start = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 120)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            return {
                "ok": False,
                "error": f"no answer (exit code {self.process.poll()}): see the container's log",
            }
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, call: dict[str, Any]) -> dict[str, Any]:
        if not self.cold_start["ok"]:
            return self.cold_start
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(call) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def create_table(client: Any, name: str) -> None:
    """The app's table as infra/ defines it, without its stream: the stream records here are the
    samples'."""
    from devtools.tables import table_definitions

    [definition] = table_definitions().values()
    keys = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    client.create_table(TableName=name, **{k: definition[k] for k in keys if k in definition})
    client.get_waiter("table_exists").wait(TableName=name)


def _runs_in(step: dict[str, Any]) -> str:
    return str(step.get("handler") or step.get("container") or PHONE)


def containers_by_permissions(template: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, str]:
    """handler → the container it runs in: one per distinct IAM policy. A container's warm state (a
    cached connection, a table description) can hide what a later function's cold start does; within
    one policy that hides nothing IAM would refuse, across policies it could, so those never share."""
    by_policy: dict[str, str] = {}
    container = {PHONE: PHONE, "imports": "imports"}
    for handler in dict.fromkeys(s["handler"] for s in steps if "handler" in s):
        policy = json.dumps(tpl.statements(template, tpl.function_for(template, handler)), sort_keys=True)
        container[handler] = by_policy.setdefault(policy, handler)
    return container


def run_package(
    stage: str, package: Path, template: dict[str, Any], python: str, endpoint: str
) -> dict[str, Any]:
    """Every step in a container of its policy's own, one step at a time."""
    table = f"selfcare-lambda-{stage}"
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="eu-west-3")
    create_table(client, table)
    steps = plan(package)
    container_of = containers_by_permissions(template, steps)
    last_use = {container_of[_runs_in(s)]: i for i, s in enumerate(steps)}
    outcomes: dict[str, dict[str, Any]] = {}
    cold_starts: dict[str, dict[str, Any]] = {}
    saved: dict[str, Any] = {}
    logs: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix=f"selfcare-task-{stage}-") as tmp,
        DynamoDBRecorder(endpoint) as recorder,
    ):
        task, home = Path(tmp) / "task", Path(tmp) / "home"
        home.mkdir()
        with zipfile.ZipFile(package / "deployment.zip") as bundle:
            bundle.extractall(task)
        subprocess.run(["chmod", "-R", "a-w", str(task)], check=True)  # /var/task is read-only
        env = lambda_environment(template, table=table, endpoint=recorder.url, home=str(home))
        containers: dict[str, Container] = {}
        try:
            for index, step in enumerate(steps):
                function = container_of[_runs_in(step)]
                saved["now"] = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
                recorder.step = f"{function} cold start"
                if function not in containers:
                    containers[function] = Container(python, task, env, Path(tmp) / f"{function}.log")
                    cold_starts[function] = containers[function].cold_start
                recorder.step = step["id"]
                try:
                    call = {
                        k: substitute(v, saved)
                        for k, v in step.items()
                        if k in ("handler", "event", "harness", "options", "authenticator_file", "modules")
                    }
                except KeyError as missing:
                    outcomes[step["id"]] = {
                        "ok": False,
                        "error": f"needs {missing}, which no earlier step saved",
                    }
                    continue
                outcome = containers[function].invoke(call)
                if (
                    outcome["ok"]
                    and isinstance(outcome["result"], dict)
                    and isinstance(outcome["result"].get("body"), str)
                ):
                    with contextlib.suppress(ValueError):
                        outcome["result"]["json"] = json.loads(outcome["result"]["body"])
                outcomes[step["id"]] = outcome
                for name, path in step.get("save", {}).items():
                    try:
                        saved[name] = dig(outcome["result"], path) if outcome["ok"] else None
                    except (KeyError, IndexError, TypeError):
                        outcomes[step["id"]] = {
                            "ok": False,
                            "error": f"no {path} in {json.dumps(outcome['result'])[:2000]}",
                        }
                    if saved.get(name) is None:
                        saved.pop(name, None)
                if last_use[function] == index:
                    containers.pop(function).stop()
        finally:
            for container in containers.values():
                container.stop()
            subprocess.run(["chmod", "-R", "u+w", str(task)], check=True)
            logs = {p.stem: p.read_text()[-3000:] for p in Path(tmp).glob("*.log")}
        calls = dict(recorder.calls)
    pushed = None
    if "customer_id" in saved and "alert_id" in saved:
        pushed = client.get_item(
            TableName=table,
            Key={"PK": {"S": f"CUSTOMER#{saved['customer_id']}"}, "SK": {"S": f"INBOX#{saved['alert_id']}"}},
            ConsistentRead=True,
        ).get("Item")
    client.delete_table(TableName=table)
    return {
        "steps": steps,
        "outcomes": outcomes,
        "cold_starts": cold_starts,
        "calls": calls,
        "pushed_item": pushed,
        "task": str(task),
        "logs": logs,
        "container_of": container_of,
    }


@pytest.fixture(scope="module")
def runs(packages: dict[str, Path], templates: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    python = lambda_python()
    from chalicelib.auth import keys

    keys.key_ring()  # the suite's key file exists before two packages start at once (created on first use)
    # A DynamoDB Local of their own, beside the suite's: writes to any table of DynamoDB Local upset
    # the stream iterators of the others (the suite's stream tests, run later, would read garbage).
    port = dynamodb_local.free_port()
    database = dynamodb_local.start(port, in_memory=True)
    try:
        with ThreadPoolExecutor(max_workers=len(packages)) as pool:
            futures = {
                stage: pool.submit(
                    run_package, stage, out, templates[stage], python, f"http://127.0.0.1:{port}"
                )
                for stage, out in packages.items()
            }
            return {stage: future.result() for stage, future in futures.items()}
    finally:
        database.terminate()
        database.wait(timeout=10)


STAGES = ["dev", "prod"]


def _failure(run: dict[str, Any], step_id: str) -> str:
    outcome = run["outcomes"].get(step_id)
    if outcome is None:
        return f"step {step_id} never ran"
    if outcome.get("error"):
        function = next((run["container_of"][_runs_in(s)] for s in run["steps"] if s["id"] == step_id), "")
        return f"{outcome['error']}\n(container log, end:)\n{run['logs'].get(function, '')[-1500:]}"
    return json.dumps(outcome.get("result"))[:3000]


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_cold_starts_alone_from_the_read_only_package(
    runs: dict[str, dict[str, Any]], packages: dict[str, Path], stage: str
) -> None:
    """`import app` from the unpacked zip only, in every container. Mutation: build the zip without
    Chalice's runtime (ModuleNotFoundError: chalice) or without a requirement."""
    run = runs[stage]
    assert run["cold_starts"].keys() == set(run["container_of"].values())
    for function, cold in run["cold_starts"].items():
        assert cold["ok"], f"{function}:\n{cold.get('error')}\n{run['logs'].get(function, '')[-1500:]}"
        assert cold["app_file"].startswith(run["task"]) and cold["chalice_file"].startswith(run["task"]), cold
        assert not any(
            entry.startswith(str(ROOT)) or "site-packages" in entry for entry in cold["sys_path"]
        ), cold["sys_path"]
    with zipfile.ZipFile(packages[stage] / "deployment.zip") as bundle:
        names = set(bundle.namelist())
    assert {"chalice/__init__.py", "chalice/app.py", "app.py"} <= names
    assert not any(
        n.startswith(("chalice/cli/", "chalice/deploy/")) for n in names
    )  # the runtime, not the CLI
    if json.loads((packages[stage] / "build.json").read_text())["bytecode"]:
        # Compiled for the runtime, and used: a cold start compiles nothing (/var/task is read-only anyway).
        assert (
            "__pycache__/app.cpython-312.pyc" in names
            and "pydantic/__pycache__/main.cpython-312.pyc" in names
        )
        assert not any(n.endswith(".pyc") and ".cpython-312." not in n for n in names)
        assert all(
            cold["app_cached"] and Path(cold["app_cached"]).is_relative_to(run["task"])
            for cold in run["cold_starts"].values()
        )


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_in_the_template_is_called_with_its_sample_event(
    runs: dict[str, dict[str, Any]], templates: dict[str, dict[str, Any]], stage: str
) -> None:
    """Read from the package's own sam.json: a new function without a sample event fails here."""
    template_handlers = {tpl.handler(p) for p in tpl.functions(templates[stage]).values()}
    samples = {p.stem for p in ADMIN_EVENTS.glob("*.json")} | {
        p.name.removesuffix(".json") for p in SAMPLE_EVENTS.glob("*.json")
    }
    without = {h for h in template_handlers if not any(s == h or s.startswith(f"{h}.") for s in samples)}
    assert not without, (
        f"no sample event in infra/admin-events/ or infra/sample-events/ for {sorted(without)}"
    )
    called = {s["handler"] for s in runs[stage]["steps"] if "handler" in s}
    assert template_handlers <= called, sorted(template_handlers - called)
    used = {s["sample"] for s in runs[stage]["steps"] if "sample" in s}
    assert samples <= used, f"samples never run: {sorted(samples - used)}"


@pytest.mark.parametrize("stage", STAGES)
def test_every_call_returns_what_its_caller_expects(runs: dict[str, dict[str, Any]], stage: str) -> None:
    """No unhandled exception anywhere, and each answer has the shape API Gateway, the event source
    or the console expects."""
    run = runs[stage]
    failed = {
        i: _failure(run, i)
        for i in [s["id"] for s in run["steps"]]
        if not run["outcomes"].get(i, {}).get("ok")
    }
    assert not failed, "\n\n".join(f"--- {i}\n{e}" for i, e in failed.items())
    result = {i: o["result"] for i, o in run["outcomes"].items()}
    unimportable = {m: why for m, why in result["lazy_imports"].items() if why != "ok"}
    assert (
        not unimportable and "stripe" in result["lazy_imports"] and "firebase_admin" in result["lazy_imports"]
    ), unimportable
    statuses = {
        "app.get_jwks": 200,
        "app.post_login_options": 200,
        "register_options": 200,
        "register_verify": 201,
        "app.get_me": 200,
        "register_device": 200,
        "login_options": 200,
        "login_verify": 200,
        "usage_view": 200,
        "inbox": 200,
    }
    assert {i: result[i]["statusCode"] for i in statuses} == statuses
    assert result["app.get_jwks"]["json"]["keys"] and result["app.post_login_options"]["json"]["challenge_id"]
    customer_id = result["admin_create_customer"]["customer_id"]
    me = result["app.get_me"]["json"]
    assert me["profile"]["customer_id"] == customer_id and [line["line_id"] for line in me["lines"]] == [LINE]
    data = next(a for a in result["usage_view"]["json"]["allowances"] if a["kind"] == "data")
    assert data["used"] > 0  # the SQS sample's 1 GB was counted
    allowed, denied = result["access_token.valid_token"], result["access_token.bad_token"]
    assert (
        allowed["principalId"] == customer_id
        and allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    )
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    for i in ("ingest_usage", "on_table_stream", "stream_pushes_alert"):
        assert result[i] == {"batchItemFailures": []}, (i, result[i])
    assert run["pushed_item"] and run["pushed_item"]["delivery_status"]["S"] == "sent", run[
        "pushed_item"
    ]  # firebase_admin → fake FCM
    for s in run["steps"]:
        if s.get("handler") not in ("app", "access_token", "on_table_stream", "ingest_usage", None):
            assert isinstance(result[s["id"]], dict) and "error" not in result[s["id"]], (
                s["id"],
                result[s["id"]],
            )


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_policy_allows_the_dynamodb_calls_it_made(
    runs: dict[str, dict[str, Any]], templates: dict[str, dict[str, Any]], stage: str
) -> None:
    """DynamoDB Local checks no IAM: this does, from the calls each function's run made. Mutation:
    remove dynamodb:UpdateItem from policies/<stage>/api.json, BatchWriteItem from admin-catalog.json,
    or DescribeTable from payment-jobs.json (billing/jobs.py describes the table once per container)."""
    template, run = templates[stage], runs[stage]
    handlers = {s["id"]: s.get("handler") for s in run["steps"]}
    assert run["calls"], "the recorder saw no DynamoDB call"
    missing = []
    for step_id, actions in run["calls"].items():
        if step_id.endswith("cold start") or handlers.get(step_id) is None:
            assert not actions, (step_id, actions)  # `import app` touches no table, nor does the phone
            continue
        found = tpl.statements(template, tpl.function_for(template, handlers[step_id]))
        for action, on in sorted(actions):
            if not tpl.allows(found, action, tpl.INDEX if on == "index" else tpl.TABLE):
                missing.append(f"{handlers[step_id]} ({step_id}): {action} on the {on}")
    assert not missing, "\n".join(missing)
