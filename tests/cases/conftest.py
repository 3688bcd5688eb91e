"""Cases run against DynamoDB Local (the suite's) and a local S3 (devtools/s3_local.py: moto's S3
behind a gate that checks presigned POST policies as S3 does), started once for this folder.

Until app.py registers the cases' blueprint, the routes are served by a small Chalice app with the
same authorizer and access-log middleware; once `/me/cases` is one of app.py's routes, the tests
use the real app. Every response is checked against mobile_contract/openapi.yaml (which holds the
cases' routes).

"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.billing.conftest import written  # noqa: F401 - the fixture: what the service writes
from tests.support import contract

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "selfcare-test-case-documents"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"0" * 1000 + b"\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 1000

# --- the contract --------------------------------------------------------------------------------------


def spec() -> dict[str, Any]:
    return contract.spec()


def _template(path: str) -> str | None:
    path = path.split("?", 1)[0]
    for template in spec()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return template
    return None


def _validate(schema: dict[str, Any], instance: Any) -> None:
    rooted = {**schema, "components": spec()["components"]}
    jsonschema.Draft202012Validator(rooted).validate(instance)


def check_response(method: str, path: str, status: int, body: Any) -> None:
    template = _template(path)
    assert template is not None, f"{method} {path} is not in the contract"
    operation = spec()["paths"][template][method.lower()]
    declared = operation["responses"]
    assert str(status) in declared, (
        f"{method} {template} answered {status}, contract declares {sorted(declared)}"
    )
    response = declared[str(status)]
    if "$ref" in response:
        response = spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    _validate(response["content"]["application/json"]["schema"], body)


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error_code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


class CasesClient:
    """JSON in and out through Chalice's test client, every answer checked against the contract."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response = self._client.http.request(method, path, headers=sent, body=payload)
        text = response.body.decode() if response.body else ""
        parsed = json.loads(text) if text else None
        check_response(method, path, response.status_code, parsed)
        return Answer(status=response.status_code, body=parsed, headers=dict(response.headers))

    def get(self, path: str, **kw: Any) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.request("POST", path, body, **kw)


# --- the app, S3, the stand-ins ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cases_app(app_module: Any) -> Any:
    """app.py's app once it serves /me/cases; until then a Chalice app with the cases' blueprint,
    the same authorizer decision and the same access-log middleware (cache policy, error shape)."""
    if "/me/cases" in app_module.app.routes:
        return app_module.app
    from chalice import Chalice
    from chalice.local import LocalChalice

    from chalicelib.api import cases as cases_api
    from chalicelib.api import principal as auth_edge
    from chalicelib.api.responses import access_log_middleware

    app = Chalice(app_name="selfcare-cases")

    @app.middleware("http")
    def _access_log(request: Any, get_response: Any) -> Any:
        return access_log_middleware(request, get_response)

    @app.authorizer(ttl_seconds=0)
    def access_token(auth_request: Any) -> Any:
        return auth_edge.authorize(auth_request)

    app.register_blueprint(cases_api.blueprint(access_token))

    class ThreadLocalApp(LocalChalice, Chalice):  # type: ignore[misc]
        """A current request per thread (the concurrency tests send requests at once)."""

    app.__class__ = ThreadLocalApp
    return app


@pytest.fixture(scope="session")
def cases(cases_app: Any) -> Iterator[CasesClient]:
    from chalice.test import Client

    with Client(cases_app, stage_name="local", project_dir=str(ROOT)) as client:
        yield CasesClient(client)


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """The suite's local S3 (tests/conftest.py), with BUCKET in it."""
    return os.environ["S3_ENDPOINT"]


@pytest.fixture(autouse=True)
def case_settings(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """The cases' settings with the local S3; `case_settings(**changes)` changes more for a test."""
    from chalicelib.cases import settings

    real = settings.case_settings
    changes: dict[str, Any] = {"s3_endpoint": s3_endpoint, "documents_bucket": BUCKET}

    def patched() -> Any:
        return dataclasses.replace(real(), **changes)

    monkeypatch.setattr(settings, "case_settings", patched)

    def change(**more: Any) -> None:
        changes.update(more)

    return change


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="eu-west-3",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


# --- customers and their objects ------------------------------------------------------------------------

_lines = itertools.count(1)


@pytest.fixture(scope="session")
def catalogue(app_module: Any) -> None:
    event = json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text())
    assert "error" not in app_module.admin_upsert_catalog(event, None)


@dataclass
class Customer:
    enrolled: Any

    @property
    def token(self) -> str:
        return str(self.enrolled.token)

    @property
    def id(self) -> str:
        return str(self.enrolled.customer["customer_id"])

    @property
    def number(self) -> str:
        return str(self.enrolled.customer["customer_number"])


@pytest.fixture
def customer(enrol: Any) -> Callable[[], Customer]:
    return lambda: Customer(enrol())


def open_case(
    cases: CasesClient,
    who: Customer,
    origin: dict[str, Any] | None = None,
    *,
    message: str = "J'ai besoin d'aide.",
    key: str | None = None,
    **body: Any,
) -> Answer:
    return cases.post(
        "/me/cases",
        {"origin": origin or {"kind": "general"}, "message": message, **body},
        token=who.token,
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def opened(
    cases: CasesClient, who: Customer, origin: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    answer = open_case(cases, who, origin, **kw)
    assert answer.status == 201, answer.body
    return dict(answer.body)


@pytest.fixture
def with_bill(app_module: Any) -> Callable[[Customer], str]:
    from tests.billing.conftest import bill_document

    def make(who: Customer) -> str:
        document = bill_document(who.number)
        assert app_module.import_bills({"bills": [document]}, None)["imported"] == [document["bill_id"]]
        return str(document["bill_id"])

    return make


@pytest.fixture
def failed_payment(api: Any, with_bill: Callable[[Customer], str]) -> Callable[[Customer], tuple[str, str]]:
    """A bill and a payment of it declined by the bank (the card `tok_card_declined`)."""
    from chalicelib.billing import bills
    from tests.billing.conftest import confirm, pay
    from tests.support.stepup import add_card

    def make(who: Customer) -> tuple[str, str]:
        bill_id = with_bill(who)
        card = add_card(api, who.enrolled, "tok_card_declined")
        assert card.status == 201, card.body
        answer = pay(
            api,
            who.enrolled,
            bill_id,
            confirm(api, who.enrolled, bill_id, 1800, card.body["payment_method_id"]),
        )
        assert answer.status == 402, answer.body
        _, payments = bills.get_bill(customer_id=who.id, bill_id=bill_id)
        return bill_id, payments[0].payment_id

    return make


@pytest.fixture
def with_line(app_module: Any, catalogue: None) -> Callable[[Customer], str]:
    def make(who: Customer) -> str:
        line_id = f"ln_c{os.getpid()}x{next(_lines)}"
        result = app_module.admin_set_line(
            {
                "customer_number": who.number,
                "line_id": line_id,
                "msisdn": "+33600000042",
                "plan_id": "essentiel-20",
                "anchor_day": 1,
            },
            None,
        )
        assert "error" not in result, result
        return line_id

    return make


@pytest.fixture
def with_request(api: Any, with_line: Callable[[Customer], str]) -> Callable[[Customer], tuple[str, str]]:
    """A line and a pending plan change request on it."""

    def make(who: Customer) -> tuple[str, str]:
        line_id = with_line(who)
        preview = api.get(f"/lines/{line_id}/plan-change/preview?plan_id=premium-100", token=who.token)
        assert preview.status == 200, preview.body
        requested = api.post(
            f"/lines/{line_id}/plan-change",
            {"plan_id": "premium-100", "preview_token": preview.body["preview_token"]},
            token=who.token,
        )
        assert requested.status == 201, requested.body
        return line_id, str(requested.body["request_id"])

    return make


@pytest.fixture
def with_offer(app_module: Any) -> Callable[[], str]:
    from tests.bidding.conftest import offer_event

    def make() -> str:
        created = app_module.admin_create_offer(offer_event(), None)
        assert "error" not in created, created
        return str(created["offer_id"])

    return make


def upload(form: dict[str, Any], content: bytes, *, content_type: str | None = None) -> Any:
    """The app's POST of a file to S3 with the presigned form (fields first, the file last)."""
    import requests

    return requests.post(
        form["url"],
        data=form["fields"],
        files={"file": ("document", content, content_type or form["content_type"])},
        timeout=10,
    )


@pytest.fixture
def agent(app_module: Any) -> Callable[..., dict[str, Any]]:
    """Run one of the console's functions (chalicelib/cases/admin.py) with an event, as an agent."""
    from chalicelib.cases import admin

    functions = {
        "admin_case_list": admin.case_list,
        "admin_case_context": admin.case_context,
        "admin_case_reply": admin.case_reply,
        "admin_case_request_document": admin.case_request_document,
        "admin_case_resolve": admin.case_resolve,
        "admin_call_code_verify": admin.call_code_verify,
        "admin_case_lost_phone": admin.case_lost_phone,
    }

    def run(name: str, operator: str | None = "camille.n2", **event: Any) -> dict[str, Any]:
        if operator is not None:
            event["operator"] = operator
        # app.py's wrapper once it exists (one line calling the same function), else the function.
        return getattr(app_module, name, functions[name])(event, None)

    return run


def random_case_id() -> str:
    return "cas_" + secrets.token_hex(12)
