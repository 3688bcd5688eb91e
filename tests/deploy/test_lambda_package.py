"""Each built package (dist/<stage>/deployment.zip) runs as Lambda runs it.

The zip is unpacked into a read-only directory and imported by the runtime's Python (3.12,
`LAMBDA_PYTHON`) with `-I -S -B`: no repository, no site-packages, no bytecode written, the
unpacked directory first on the path and as working directory, like /var/task. Then every function
of the package's sam.json is called through its Handler with its sample event (infra/admin-events/,
infra/sample-events/) against a DynamoDB Local and a local S3 (devtools/s3_local.py), in an order
where each finds what it needs: the catalogue, a customer enrolling a passkey with the letter's
code, the authorizer's verdict on a good and a bad token, the API with the authorizer's context,
usage through SQS, alerts through the stream (pushed with firebase_admin to the fake FCM), every
schedule and admin function; help content published, its tantivy index built into S3 and searched
through the API; a case opened from that search, worked by an agent, a document uploaded with the
presigned POST the API signs and opened with the link the agent gets; a call code issued after a
passkey step-up and verified by the agent.

Each function runs in a container (process) of its own, as in Lambda, shared only with functions of
the same IAM policy; one more imports every module the code imports only on first use (stripe,
firebase_admin, the admin modules...). The stage's own settings from sam.json are kept, except the
secrets and the cloud services, which get the suite's local stand-ins (STAGE=test, a key file, the
sandbox payment provider, the fake FCM, the local S3 and its buckets for the stack's own). Recording
proxies in front of DynamoDB Local and the local S3 check that each function's IAM policy allows
every DynamoDB and S3 action its calls needed (an upload or a download by a presigned form or link
counts for the function that signed it).

Mutations: drop Chalice's runtime from the zip (ImportError: chalice), or a requirement such as
cbor2 (ModuleNotFoundError in webauthn: the registration fails), or email-validator
(admin_create_customer fails), or tantivy (the publish's index build and the search fail); add a
function to app.py without a sample event; remove an action a function uses from its policy file.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import json
import os
import re
import select
import struct
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools import dynamodb_local, s3_local
from tests.deploy import template as tpl
from tests.deploy.recorder import DynamoDBRecorder, S3Recorder

ROOT = Path(__file__).resolve().parent.parent.parent
ADMIN_EVENTS = ROOT / "infra" / "admin-events"
SAMPLE_EVENTS = ROOT / "infra" / "sample-events"
RUNNER = Path(__file__).resolve().parent / "lambda_runner.py"
AUTHENTICATOR = ROOT / "devtools" / "soft_authenticator.py"
LINE = "ln_grace1"  # infra/admin-events/admin_set_line.json
PHONE = "phone"  # the container playing the customer's phone (passkey ceremonies)
AUTHORIZED = {"principalId": "${customer_id}", "session_id": "${session_id}", "integrationLatency": 9}
ARTICLE = "payer-facture-impayee"  # infra/admin-events/admin_help_save_draft.json
SEARCH = "facture impayée"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"  # what documents.py sniffs: %PDF-
# The stack's resources that the functions find by name (infra/resources.json's Globals): each gets
# a local stand-in in the run, named per stage (both stages run at once against one local S3).
BUCKETS = {
    "HELP_BUCKET": "HelpBucket",
    "CASE_DOCUMENTS_BUCKET": "CaseDocumentsBucket",
    "EXPORTS_BUCKET": "ExportsBucket",  # customers' data exports (infra/resources.json)
}


def local_bucket(stage: str, setting: str) -> str:
    """`HELP_BUCKET` → `selfcare-lambda-<stage>-help`."""
    return f"selfcare-lambda-{stage}-{setting.removesuffix('_BUCKET').lower().replace('_', '-')}"


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
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event, shaped like the samples (app.get_jwks.json)."""
    event = copy.deepcopy(sample("app.get_jwks"))
    event.update(
        resource=resource,
        path=path,
        httpMethod=method,
        body=body,
        pathParameters=path_parameters,
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
    )
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
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


def local(step_id: str, kind: str, signer: str, **arguments: str) -> dict[str, Any]:
    """A step the test runs itself, as the phone or the agent's browser would: `upload` POSTs a PDF
    with a presigned form, `download` GETs a presigned link. S3 authorises either as the function
    that signed it (`signer`): its policy is the one checked."""
    return {"id": step_id, "local": kind, "signer": signer, "arguments": arguments, "save": {}}


def upload_with_form(url: str, fields: dict[str, str], content: bytes) -> dict[str, Any]:
    """A browser-form upload, as the app sends it: the signed fields, then the file, last."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="relance.pdf"\r\n'
        f"Content-Type: {fields.get('Content-Type', 'application/octet-stream')}\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url,
        data=b"".join(parts),
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    return _fetch(request)


def _fetch(request: urllib.request.Request | str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the local S3's proxy
            return {"status": answer.status, "body": answer.read().decode("latin-1")}
    except urllib.error.HTTPError as refused:
        return {"status": refused.code, "body": refused.read().decode("latin-1")}


def run_local(step: dict[str, Any]) -> dict[str, Any]:
    arguments = step["arguments"]
    if step["local"] == "upload":
        return upload_with_form(arguments["url"], arguments["fields"], PDF)
    return _fetch(arguments["url"])


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


def data_export_inserted() -> dict[str, Any]:
    """The stream record DynamoDB writes when POST /me/data-export adds the export item (`preparing`):
    the stream's function produces the file into the exports bucket."""
    event = copy.deepcopy(sample("on_table_stream"))
    record = event["Records"][0]
    image = {
        "PK": {"S": "CUSTOMER#${customer_id}"},
        "SK": {"S": "USERDATA#EXPORT#${export_id}"},
        "type": {"S": "data_export"},
        "customer_id": {"S": "${customer_id}"},
        "export_id": {"S": "${export_id}"},
        "status": {"S": "preparing"},
        "requested_at": {"S": "${now}"},
    }
    record["dynamodb"].update(
        Keys={"PK": image["PK"], "SK": image["SK"]},
        NewImage=image,
        SequenceNumber="4421584500000000017450439093",
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
    with zipfile.ZipFile(package / "deployment.zip") as bundle:
        names = bundle.namelist()
    shipped = {
        re.sub(r"[-_.]+", "-", n.split("/")[0].removesuffix(".dist-info").rsplit("-", 1)[0]).lower()
        for n in names
        if n.endswith(".dist-info/METADATA")
    }
    assert wanted <= shipped, f"requirements missing from the zip: {sorted(wanted - shipped)}"
    modules = set()
    for distribution in wanted:
        # The zip keeps no RECORD (pip's list of installed files): the virtualenv's, of the same
        # pinned versions, says which top-level modules each requirement installs.
        for file in importlib.metadata.distribution(distribution).files or ():
            path = file.as_posix()
            top = path.split("/")[0]
            if path.count("/") == 0 and path.endswith(".py"):
                modules.add(path.removesuffix(".py"))
            elif path == f"{top}/__init__.py":
                modules.add(top)
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
        {
            # The search engine is a compiled extension (one abi3 wheel for manylinux): it must load
            # from the package, in the runtime's Python, with no site-packages to fall back on.
            "id": "tantivy_import",
            "harness": "import",
            "container": "imports",
            "modules": ["tantivy", "tantivy.tantivy", "chalicelib.help.indexing"],
            "where": True,
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
        from_sample("app.get_me", line_id="json.lines.0.line_id"),
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
        from_sample("expire_upgrades"),
        from_sample("engage_bidders"),
        from_sample("admin_offer_result"),
        from_sample("admin_pending_charges"),
        # Payment arrangements: none exists in this run (one needs an overdue bill and a passkey
        # step-up); the list runs its query and the cancel answers its not-found error, both from the
        # packaged code with their own policies.
        from_sample("admin_list_arrangements"),
        from_sample("admin_cancel_arrangement"),
        # Account closures: none is due; the list and the erasure job run their queries.
        from_sample("admin_list_closures"),
        from_sample("erase_closed_accounts"),
        from_sample("admin_send_announcement"),
        {  # the same function with its second sample: a commercial announcement (marketing consent)
            **step(
                "admin_send_announcement_commercial",
                "admin_send_announcement",
                sample("admin_send_announcement_commercial"),
            ),
            "sample": "admin_send_announcement_commercial",
        },
        # Help: a section, a draft, published (the index built with tantivy and written to S3), found
        # by a search through the API (the index read back from S3), then unpublished and rebuilt.
        from_sample("admin_help_upsert_section"),
        from_sample("admin_help_save_draft"),
        from_sample("admin_help_publish"),
        step(
            "help_search",
            "app",
            api("GET", "/help/search", "/help/search", query={"q": SEARCH, "lang": "fr"}),
            search_id="json.search_id",
        ),
        from_sample("admin_help_unpublish"),
        from_sample("admin_help_rebuild_index"),
        from_sample("admin_help_report"),
        # Cases: opened by the customer from that search, worked by an agent from the console.
        step(
            "open_case",
            "app",
            api(
                "POST",
                "/me/cases",
                "/me/cases",
                authorizer=AUTHORIZED,
                headers={"Idempotency-Key": "deploy-test-open-case-0001"},
                body={
                    "origin": {"kind": "search", "search_text": SEARCH, "search_id": "${search_id}"},
                    "topic": "billing",
                    "message": "Ma facture de novembre apparaît impayée alors que j'ai payé.",
                },
            ),
            case_id="json.case_id",
        ),
        from_sample("admin_case_list"),
        from_sample("admin_case_context"),
        from_sample("admin_case_reply"),
        step("inbox_after_reply", "app", api("GET", "/me/inbox", "/me/inbox", authorizer=AUTHORIZED)),
        from_sample("admin_case_request_document"),
        step(
            "document_upload_form",
            "app",
            api(
                "POST",
                "/me/cases/{case_id}/documents/upload",
                "/me/cases/${case_id}/documents/upload",
                authorizer=AUTHORIZED,
                path_parameters={"case_id": "${case_id}"},
                body={"content_type": "application/pdf", "file_name": "relance.pdf"},
            ),
            upload_id="json.upload_id",
            upload_url="json.url",
            upload_fields="json.fields",
        ),
        local("phone_uploads_document", "upload", "app", url="${upload_url}", fields="${upload_fields}"),
        step(
            "document_attach",
            "app",
            api(
                "POST",
                "/me/cases/{case_id}/documents",
                "/me/cases/${case_id}/documents",
                authorizer=AUTHORIZED,
                path_parameters={"case_id": "${case_id}"},
                body={"upload_id": "${upload_id}"},
            ),
        ),
        from_sample("admin_case_resolve", download_url="case.documents.0.download_url"),
        local("agent_opens_document", "download", "admin_case_resolve", url="${download_url}"),
        # A call code: a passkey step-up bound to the case, the code, the agent's verification.
        step(
            "call_code_step_up",
            "app",
            api(
                "POST",
                "/me/step-up",
                "/me/step-up",
                authorizer=AUTHORIZED,
                body={"action": "call_code", "case_id": "${case_id}"},
            ),
            step_up_challenge="json.challenge_id",
            step_up_options="json.options",
        ),
        phone("phone_confirms_call_code", "passkey_get", "${step_up_options}", step_up_credential=""),
        step(
            "call_code_issue",
            "app",
            api(
                "POST",
                "/me/call-codes",
                "/me/call-codes",
                authorizer=AUTHORIZED,
                body={
                    "case_id": "${case_id}",
                    "confirmation": {
                        "challenge_id": "${step_up_challenge}",
                        "credential": "${step_up_credential}",
                    },
                },
            ),
            call_code="json.code",
        ),
        from_sample("admin_call_code_verify"),
        # A data export: asked for through the API, produced by the stream's function into the
        # exports bucket, then its status with a link the API signs, fetched as the phone would.
        step(
            "data_export_request",
            "app",
            api("POST", "/me/data-export", "/me/data-export", authorizer=AUTHORIZED),
            export_id="json.export_id",
        ),
        step("stream_produces_export", "on_table_stream", data_export_inserted()),
        step(
            "data_export_ready",
            "app",
            api(
                "GET",
                "/me/data-export/{export_id}",
                "/me/data-export/${export_id}",
                authorizer=AUTHORIZED,
                path_parameters={"export_id": "${export_id}"},
            ),
            export_url="json.download.url",
        ),
        local("phone_downloads_export", "download", "app", url="${export_url}"),
        from_sample("admin_revoke_sessions"),
        from_sample("admin_reset_passkeys"),
        # Last: it suspends the line and ends every session, which the steps above need.
        from_sample("admin_case_lost_phone"),
    ]


def lambda_environment(
    template: dict[str, Any], *, stage: str, table: str, endpoint: str, s3_endpoint: str, home: str
) -> dict[str, str]:
    """The API handler's environment from sam.json (every function has the same, with the
    template's Globals), with local stand-ins for what only exists in AWS: secrets (ssm:...), the
    payment provider, FCM, the table and the buckets (references to the stack's own resources)."""
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"],
    }
    references = {k for k, v in variables.items() if not isinstance(v, str)}
    # Every name the stack gives the functions gets its stand-in below (none is left to a default).
    assert references == {"APP_TABLE_NAME", *BUCKETS}, references
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
        S3_ENDPOINT=s3_endpoint,
        **{setting: local_bucket(stage, setting) for setting in BUCKETS},
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
# What a step hands its container (the rest is the test's: its id, what to save).
CALL_KEYS = ("handler", "event", "harness", "options", "authenticator_file", "modules", "where")


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
    stage: str, package: Path, template: dict[str, Any], python: str, endpoint: str, s3_endpoint: str
) -> dict[str, Any]:
    """Every step in a container of its policy's own, one step at a time."""
    table = f"selfcare-lambda-{stage}"
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="eu-west-3")
    create_table(client, table)
    steps = plan(package)
    container_of = containers_by_permissions(template, steps)
    last_use = {container_of[_runs_in(s)]: i for i, s in enumerate(steps) if "local" not in s}
    outcomes: dict[str, dict[str, Any]] = {}
    cold_starts: dict[str, dict[str, Any]] = {}
    saved: dict[str, Any] = {}
    logs: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix=f"selfcare-task-{stage}-") as tmp,
        DynamoDBRecorder(endpoint) as recorder,
        S3Recorder(s3_endpoint) as s3_recorder,
    ):
        task, home = Path(tmp) / "task", Path(tmp) / "home"
        home.mkdir()
        with zipfile.ZipFile(package / "deployment.zip") as bundle:
            bundle.extractall(task)
        subprocess.run(["chmod", "-R", "a-w", str(task)], check=True)  # /var/task is read-only
        env = lambda_environment(
            template,
            stage=stage,
            table=table,
            endpoint=recorder.url,
            s3_endpoint=s3_recorder.url,
            home=str(home),
        )
        containers: dict[str, Container] = {}
        try:
            for index, step in enumerate(steps):
                saved["now"] = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
                if "local" in step:
                    recorder.step = s3_recorder.step = step["id"]
                    try:
                        arguments = substitute(step["arguments"], saved)
                    except KeyError as missing:
                        outcomes[step["id"]] = {
                            "ok": False,
                            "error": f"needs {missing}, which no earlier step saved",
                        }
                        continue
                    try:
                        outcomes[step["id"]] = {
                            "ok": True,
                            "result": run_local({**step, "arguments": arguments}),
                        }
                    except OSError as unreachable:  # the S3 proxy or server did not answer
                        outcomes[step["id"]] = {"ok": False, "error": repr(unreachable)}
                    continue
                function = container_of[_runs_in(step)]
                recorder.step = s3_recorder.step = f"{function} cold start"
                if function not in containers:
                    containers[function] = Container(python, task, env, Path(tmp) / f"{function}.log")
                    cold_starts[function] = containers[function].cold_start
                recorder.step = s3_recorder.step = step["id"]
                try:
                    call = {k: substitute(v, saved) for k, v in step.items() if k in CALL_KEYS}
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
        s3_calls = dict(s3_recorder.calls)
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
        "s3_calls": s3_calls,
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
    # And a local S3 of their own, with each stage's stand-ins for the stack's buckets.
    s3_port = s3_local.free_port()
    storage = s3_local.start(
        s3_port, buckets=[local_bucket(stage, setting) for stage in packages for setting in BUCKETS]
    )
    try:
        with ThreadPoolExecutor(max_workers=len(packages)) as pool:
            futures = {
                stage: pool.submit(
                    run_package,
                    stage,
                    out,
                    templates[stage],
                    python,
                    f"http://127.0.0.1:{port}",
                    f"http://127.0.0.1:{s3_port}",
                )
                for stage, out in packages.items()
            }
            return {stage: future.result() for stage, future in futures.items()}
    finally:
        s3_local.stop(storage)
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
    assert {"chalice/__init__.py", "chalice/app.py", "app.py", "tantivy/tantivy.abi3.so"} <= names
    assert not any(
        n.startswith(("chalice/cli/", "chalice/deploy/")) for n in names
    )  # the runtime, not the CLI
    if json.loads((packages[stage] / "build.json").read_text())["bytecode"]:
        # Compiled for the runtime, and used: a cold start compiles nothing (/var/task is read-only anyway).
        assert "__pycache__/app.cpython-312.pyc" in names and "pydantic/main.pyc" in names
        assert not any("__pycache__/" in n and not n.endswith(".cpython-312.pyc") for n in names)
        assert all(
            cold["app_cached"] and Path(cold["app_cached"]).is_relative_to(run["task"])
            for cold in run["cold_starts"].values()
        )


def elf_sections(data: bytes) -> set[str]:
    """The section names of a 64-bit little-endian ELF file (what `readelf -S` lists)."""
    assert data[:4] == b"\x7fELF" and data[4:6] == b"\x02\x01", "not a 64-bit little-endian ELF"
    (table,) = struct.unpack_from("<Q", data, 0x28)  # e_shoff: where the section headers start
    entry, count, names_index = struct.unpack_from("<HHH", data, 0x3A)  # e_shentsize, e_shnum, e_shstrndx

    def header(index: int) -> tuple[int, ...]:  # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size
        return struct.unpack_from("<IIQQQQ", data, table + index * entry)

    strings = header(names_index)[4]
    return {
        data[strings + name : data.index(b"\0", strings + name)].decode()
        for name, *_ in map(header, range(count))
    }


OURS = ("app.py", "chalicelib/", "chalice/", "__pycache__/app.")  # shipped as source + __pycache__


@pytest.mark.parametrize("stage", STAGES)
def test_the_package_ships_stripped_extensions_and_requirements_as_bytecode_alone(
    packages: dict[str, Path], stage: str
) -> None:
    """What makes the zip small (issue 17), checked on the zip itself: every compiled extension is
    stripped (no symbol table, no debug section: the dynamic symbols the loader needs stay); a
    requirement's module whose bytecode ships is that bytecode alone, `<module>.pyc` where its .py
    was, never beside its source and never in a `__pycache__`; our own code (app.py, chalicelib/,
    Chalice's runtime) ships as source with its bytecode in `__pycache__`, so that our tracebacks
    show their lines. The test run above (every function, a push, a sign-in, tantivy) and
    test_bytecode.py (no module compiled from source) prove that this layout loads.
    Mutations (devtools/package.py): copy extensions instead of strip_into() → `.symtab` found;
    drop the sourceless() call → no requirement's bytecode ships; pass it `set()` instead of `ours`
    → our sources missing."""
    with zipfile.ZipFile(packages[stage] / "deployment.zip") as bundle:
        names = set(bundle.namelist())
        extensions = {
            n: elf_sections(data)
            for n in sorted(names)
            if not n.endswith("/") and (data := bundle.read(n))[:4] == b"\x7fELF"
        }
    assert {"tantivy/tantivy.abi3.so", "cryptography/hazmat/bindings/_rust.abi3.so"} <= extensions.keys()
    assert all(".dynsym" in sections for sections in extensions.values())  # the parse is not vacuous
    unstripped = {
        n: sorted(s for s in sections if s == ".symtab" or s.startswith(".debug"))
        for n, sections in extensions.items()
        if ".symtab" in sections or any(s.startswith(".debug") for s in sections)
    }
    assert not unstripped, unstripped
    assert not any(n.endswith((".pyi", "/py.typed", ".dist-info/RECORD")) for n in names)
    if not json.loads((packages[stage] / "build.json").read_text())["bytecode"]:
        return
    ours = {n for n in names if n.startswith(OURS)}
    chalicelib = {n for n in ours if n.startswith("chalicelib/") and n.endswith(".py")}
    assert len(chalicelib) > 50 and {"app.py", "chalice/__init__.py", "chalice/app.py"} <= ours
    for source in chalicelib | {"app.py", "chalice/__init__.py", "chalice/app.py"}:
        folder, _, module = source.rpartition("/")
        cached = f"{folder}/__pycache__/{module.removesuffix('.py')}.cpython-312.pyc".lstrip("/")
        assert cached in names, f"{source} ships without its bytecode"
    assert not any(n.endswith(".pyc") and "__pycache__/" not in n for n in ours)
    in_cache = sorted(n for n in names - ours if "__pycache__/" in n)
    assert not in_cache, f"requirements' bytecode left in __pycache__: {in_cache[:10]}"
    alone = {n for n in names - ours if n.endswith(".pyc")}
    beside_source = sorted(n for n in alone if f"{n.removesuffix('.pyc')}.py" in names)
    assert not beside_source, f"shipped with their source too: {beside_source[:10]}"
    assert (
        len(alone) > 500 and {"pydantic/main.pyc", "webauthn/__init__.pyc", "tantivy/__init__.pyc"} <= alone
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
        "help_search": 200,
        "open_case": 201,
        "inbox_after_reply": 200,
        "document_upload_form": 201,
        "document_attach": 201,
        "call_code_step_up": 200,
        "call_code_issue": 201,
        "data_export_request": 202,
        "data_export_ready": 200,
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
    for i in ("ingest_usage", "on_table_stream", "stream_pushes_alert", "stream_produces_export"):
        assert result[i] == {"batchItemFailures": []}, (i, result[i])
    assert run["pushed_item"] and run["pushed_item"]["delivery_status"]["S"] == "sent", run[
        "pushed_item"
    ]  # firebase_admin → fake FCM
    # Help: the index built with tantivy (loaded from the package) at each change and written to S3;
    # the API read it back and found the published article.
    found_in = result["tantivy_import"]
    assert all(path.startswith(run["task"]) for path in found_in.values()), found_in
    assert found_in["tantivy.tantivy"].endswith(".abi3.so"), found_in
    assert result["admin_help_upsert_section"]["index"]["status"] == "current"
    published = result["admin_help_publish"]
    assert published["version"] == 1 and published["index"]["status"] == "current", published
    assert published["index"]["articles"] == 1
    searched = result["help_search"]["json"]
    assert [hit["article_id"] for hit in searched["results"]][:1] == [ARTICLE], searched
    unpublished = result["admin_help_unpublish"]["index"]
    assert unpublished["status"] == "current" and unpublished["articles"] == 0, unpublished
    rebuilt = result["admin_help_rebuild_index"]
    assert rebuilt["status"] == "current" and rebuilt["articles"] == 0
    assert rebuilt["generation"] > unpublished["generation"] > published["index"]["generation"]
    assert {"totals", "top_searches", "least_useful_articles"} <= result["admin_help_report"].keys()
    # Cases: opened from that search, in the agents' queue, worked, a document through S3 both ways.
    case = result["open_case"]["json"]
    assert case["origin"]["search_id"] == searched["search_id"] and case["topic"] == "billing", case
    assert case["case_id"] in [c["case_id"] for c in result["admin_case_list"]["cases"]]
    context = result["admin_case_context"]
    assert (
        context["case"]["case_id"] == case["case_id"] and context["customer"]["customer_number"] == "C-2001"
    )
    for step_id, status in (
        ("admin_case_reply", "awaiting_customer"),
        ("admin_case_request_document", "awaiting_customer"),
        ("admin_case_resolve", "resolved"),
    ):
        # The customer hears of each step (an inbox item, pushed by the stream), never silently.
        assert result[step_id]["notified"] is True, (step_id, result[step_id]["notified"])
        assert result[step_id]["case"]["status"] == status, (step_id, result[step_id]["case"]["status"])
    assert "case.replied" in {item["kind"] for item in result["inbox_after_reply"]["json"]["items"]}
    assert result["phone_uploads_document"]["status"] == 204, result["phone_uploads_document"]
    [document] = result["document_attach"]["json"]["documents"]
    assert document["document_id"] == result["document_upload_form"]["json"]["upload_id"]
    assert document["size"] == len(PDF)
    assert result["agent_opens_document"] == {"status": 200, "body": PDF.decode("latin-1")}
    verified = result["admin_call_code_verify"]
    assert verified["verified"] is True and verified["bound_to"] == "case", verified
    assert verified["case_id"] == case["case_id"] and verified["customer_id"] == customer_id
    # Data export: the stream's function wrote the file (boto3 from the package, its role's PutObject),
    # the API signed a link to it, and the file fetched with that link is the customer's.
    ready = result["data_export_ready"]["json"]
    assert ready["export_id"] == result["data_export_request"]["json"]["export_id"], ready
    assert ready["status"] == "ready" and ready["download"]["url"], ready
    downloaded = result["phone_downloads_export"]
    assert downloaded["status"] == 200, downloaded
    exported = json.loads(downloaded["body"].encode("latin-1"))
    assert exported["customer_id"] == customer_id and exported["export_id"] == ready["export_id"]
    assert exported["profile"]["customer_number"] == "C-2001" and exported["passkeys"], exported.keys()
    # Arrangements and closures: none in this run, read through their GSI1 partitions; the cancel's
    # not-found is its valid answer (run_admin's error shape, not an internal error).
    assert result["admin_list_arrangements"] == {"arrangements": [], "next_cursor": None}
    assert result["admin_cancel_arrangement"]["error"]["code"] == "arrangement_not_found", result[
        "admin_cancel_arrangement"
    ]
    assert result["admin_list_closures"] == {"closures": [], "next_cursor": None}
    assert result["erase_closed_accounts"] == {"closed": 0, "failed": 0}
    # Lost phone, last: a case about the line, the line suspended, the sessions ended, a new letter.
    lost = result["admin_case_lost_phone"]
    assert lost["case_created"] is True and lost["case"]["topic"] == "line", lost
    assert lost["line"]["line_id"] == LINE and lost["line"]["status"] == "suspended", lost["line"]
    assert lost["passkeys_reset"] is True and lost["letter"]["activation_code"], lost.keys()
    expected_errors = {"admin_cancel_arrangement"}  # its not-found, checked above
    for s in run["steps"]:
        if s["id"] in expected_errors:
            continue
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


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_policy_allows_the_s3_calls_it_made(
    runs: dict[str, dict[str, Any]], templates: dict[str, dict[str, Any]], stage: str
) -> None:
    """The local S3 checks no IAM either: this does, from the requests each step made, mapped to
    the stack's buckets. An upload with a presigned form and a download with a presigned link are
    authorised as the function that signed them. Mutations: remove s3:PutObject from
    policies/<stage>/admin-help.json, s3:GetObject from api.json's HelpIndexRead (the search's
    index) or CaseDocuments (the check of an upload), or from admin-cases.json (the agent's link);
    s3:PutObject from table-stream.json's DataExports or s3:GetObject from api.json's
    DataExportsDownload (the export's file written, its link signed)."""
    template, run = templates[stage], runs[stage]
    callers = {s["id"]: s.get("handler") or s.get("signer") for s in run["steps"]}
    bucket_of = {local_bucket(stage, setting): logical for setting, logical in BUCKETS.items()}
    made = {
        (callers.get(step_id), action, resource)
        for step_id, actions in run["s3_calls"].items()
        for action, resource in actions
    }
    help_index = f"{local_bucket(stage, 'HELP_BUCKET')}/help-index/*"
    documents = f"{local_bucket(stage, 'CASE_DOCUMENTS_BUCKET')}/documents/*"
    exports = f"{local_bucket(stage, 'EXPORTS_BUCKET')}/exports/*"
    assert {  # not vacuous: the index written and read, a document uploaded, checked and opened,
        # a data export written by the stream's function and downloaded with the API's link
        ("admin_help_publish", "s3:PutObject", help_index),
        ("app", "s3:GetObject", help_index),
        ("app", "s3:PutObject", documents),
        ("app", "s3:GetObject", documents),
        ("admin_case_resolve", "s3:GetObject", documents),
        ("on_table_stream", "s3:PutObject", exports),
        ("app", "s3:GetObject", exports),
    } <= made, made
    missing = []
    for step_id, actions in run["s3_calls"].items():
        if step_id.endswith("cold start") or callers.get(step_id) is None:
            assert not actions, (step_id, actions)  # `import app` touches no bucket, nor does the phone
            continue
        found = tpl.statements(template, tpl.function_for(template, callers[step_id]))
        for action, resource in sorted(actions):
            bucket, slash, objects = resource.partition("/")
            logical = bucket_of.get(bucket)
            arn = {"Fn::Sub": f"${{{logical}.Arn}}/{objects}"} if slash else {"Fn::GetAtt": [logical, "Arn"]}
            if logical is None or not tpl.allows(found, action, arn):
                missing.append(f"{callers[step_id]} ({step_id}): {action} on {resource}")
    assert not missing, "\n".join(missing)
