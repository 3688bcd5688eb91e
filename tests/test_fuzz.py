"""Contract fuzzing: schemathesis generates requests for every operation of
mobile_contract/openapi.yaml (valid and invalid bodies, query strings, path ids) and sends them to
`chalice local` (devtools.serve, the gateway shim included) backed by the suite's DynamoDB Local,
as a signed-in customer. No answer may be a 5xx, and every answer must be one the contract
declares (it has no catch-all `default`), with the declared body and content type.

The fuzzed customer owns one of everything a path can name (a passkey, a second session, a line
with usage and an option, a bill, a card, an open offer with a bid, an inbox alert, a push device,
a case; and the help has a published article for a situation), seeded before fuzzing, and the generated path
ids are the seeded ones about half of the time (schemathesis hooks, at draw time: no example leaks
into the contract; so are a body's card or passkey id, a preview's plan and a usage chart's
dates), so the routes are fuzzed past their 404. The last test
proves it: every operation with an id in its path got, with the seeded ids, an answer it can only
give once the object was found. (The cases schemathesis derives from the schema alone, its
`examples` and `coverage` phases, keep their own ids.)

Every case that is not about the token itself (schemathesis' negative testing of the security
scheme) carries the customer's access token, renewed after 10 of its 15 minutes, and at once when
it is refused (the case is then sent again). The server's output is kept in the test's tmp dir;
its tail is printed with any failure.

Destructive operations: `POST /auth/logout` is excluded (it would end the fuzzing session; it is
covered by tests/auth). Deleting the seeded passkey or card, defaulting a card, autopay and contact
changes need a passkey confirmation, which the fuzzer cannot forge: they cannot destroy a seed.
Ending a session and withdrawing the bid can: the seeded session is a second, sacrificial one (the
fuzzing session's own id is never given to them), and the bid is there to be withdrawn once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.contract import ApiResponse, check_response
from tests.support.stepup import add_card

ROOT = Path(__file__).resolve().parent.parent
# Logging out would end the fuzzing session's own token halfway; it is covered by tests/auth.
schema = schemathesis.openapi.from_path(ROOT / "mobile_contract" / "openapi.yaml").exclude(
    method="POST", path="/auth/logout"
)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
TOKEN_RENEWAL_S = 600  # access tokens live 900 s
BID_AMOUNT, PAYMENT_AMOUNT = 2500, 700  # within the seeded offer's range and the seeded bill's balance
CASE_MESSAGE = "Une précision sur ma demande."
STALE_TOKEN = {"unauthenticated", "session_revoked"}

# An answer to a request with the seeded ids that does not show the object was found: its own
# not-found (or API Gateway's: no such route), and the checks made before any lookup: the token
# (the authorizer), the Content-Type, the rate limits, a malformed id, the body, the query, the
# Idempotency-Key and its replay.
NOT_FOUND = {
    "passkey_id": "passkey_not_found",
    "session_id": "session_not_found",
    "offer_id": "offer_not_found",
    "installation_id": "device_not_found",
    "alert_id": "alert_not_found",
    "line_id": "line_not_found",
    "option_id": "option_not_found",
    "bill_id": "bill_not_found",
    "payment_method_id": "payment_method_not_found",
    "case_id": "case_not_found",
    "article_id": "article_not_found",
    "situation": "situation_not_found",
    "export_id": "data_export_not_found",  # Privacy
    "arrangement_id": "arrangement_not_found",  # Cannot pay
}
BEFORE_THE_LOOKUP = {
    "invalid_path_id",
    "validation_error",
    "invalid_json",
    "body_too_large",
    "card_number_refused",
    "invalid_cursor",
    "idempotency_key_required",
    "invalid_idempotency_key",
    "range_too_long",  # /usage/daily checks its dates before its line
}
# Statuses answered before any lookup: with these codes only (401), or with any (None).
BEFORE_THE_LOOKUP_STATUSES = {401: {"unauthenticated", "session_revoked"}, 415: None, 422: None, 429: None}


@dataclass
class Customer:
    """The fuzzed customer, shaped like the suite's `Enrolled` (tests/support/stepup.py takes it)."""

    customer: dict[str, Any]
    authenticator: Any
    session: dict[str, Any]

    @property
    def token(self) -> str:
        return str(self.session["access_token"])


class HttpApi:
    """The suite's ApiClient interface over real HTTP to `chalice local`, every answer checked
    against the contract: the seeding goes through the server the fuzzer calls."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **_: Any,
    ) -> ApiResponse:
        sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        answer = self.http.request(method, self.base + path, json=body, headers=sent, timeout=30)
        parsed = answer.json() if answer.content else None
        check_response(method, path, answer.status_code, parsed, dict(answer.headers))
        return ApiResponse(status=answer.status_code, body=parsed, headers=dict(answer.headers))

    def get(self, path: str, **kw: Any) -> ApiResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> ApiResponse:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> ApiResponse:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> ApiResponse:
        return self.request("DELETE", path, body, **kw)


@dataclass
class Fuzzing:
    """The live server, the seeded customer and ids (read by the hooks at draw time), and what every
    call was answered; filled by the `live` fixture."""

    api: HttpApi | None = None
    customer: Customer | None = None
    log: Path | None = None
    seeds: dict[str, str] = field(default_factory=dict)
    plan_id: str = ""
    token_at: float = 0.0  # when the customer's access token was issued (time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # operation label → (carried the seeded ids, status, error code) of every answer
    answers: dict[str, list[tuple[bool, int, str | None]]] = field(default_factory=lambda: defaultdict(list))

    def renew(self) -> None:
        """A new access token: the refresh route (the refresh token rotates), or, if the session has
        ended, a new sign-in with the passkey."""
        assert self.api is not None and self.customer is not None, "the live fixture did not run"
        with self.lock:
            renewed = self.api.post(
                "/auth/token/refresh", {"refresh_token": self.customer.session["refresh_token"]}
            )
            if renewed.status != 200:
                renewed = sign_in(self.api, self.customer.authenticator)
            assert renewed.status == 200, renewed.body
            self.customer.session, self.token_at = renewed.body, time.monotonic()

    def auth_headers(self, case: Any) -> dict[str, str]:
        """The customer's token for an operation that takes one, unless this case is about a missing or
        wrong token (schemathesis' negative testing of the security scheme). Renewed when 10 of its
        15 minutes have passed."""
        assert self.customer is not None, "the live fixture did not run"
        takes_a_token = bool(case.operation.definition.raw.get("security"))
        if not takes_a_token or case.operation.schema.is_security_param_negated(case):
            return {}
        if time.monotonic() - self.token_at > TOKEN_RENEWAL_S:
            self.renew()
        return {"Authorization": f"Bearer {self.customer.token}"}

    def send(self, case: Any) -> tuple[Any, dict[str, str]]:
        """Call the case with the customer's token; if the token is refused (expired, its session
        ended), renew it and send the case again, so the answer judged is the route's."""
        assert self.api is not None, "the live fixture did not run"
        headers = self.auth_headers(case)
        response = case.call(base_url=self.api.base, headers=headers)
        if headers and response.status_code == 401 and _code(response.content) in STALE_TOKEN:
            self.renew()
            headers = self.auth_headers(case)
            response = case.call(base_url=self.api.base, headers=headers)
        return response, headers

    def server_log_tail(self, lines: int = 60) -> str:
        if self.log is None or not self.log.is_file():
            return "(no server log)"
        tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- last {len(tail)} lines of {self.log}\n" + "\n".join(tail)


FUZZ = Fuzzing()


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """The seeded objects' ids, or the generated ones. The real values come first in every hook:
    hypothesis favours (and shrinks towards) the first choice, so a request with every real value
    at once is drawn often enough that each operation is reached past its lookup in every run (with
    the real values second, a run could miss one: all of four coin flips at once)."""
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    seeded = {name: FUZZ.seeds[name] for name in path_parameters if name in FUZZ.seeds}
    if not seeded:
        return st.just(path_parameters)
    return st.sampled_from([{**path_parameters, **seeded}, path_parameters])


@schema.hook
def flatmap_query(context: Any, query: Any) -> Any:
    """Query values that name something (a catalogue plan, a date range the line has usage in),
    real about half of the time, so the routes behind them are reached too."""
    if not isinstance(query, dict):
        return st.just(query)
    real: dict[str, Any] = {}
    if "plan_id" in query and FUZZ.plan_id:
        real["plan_id"] = FUZZ.plan_id
    if "from" in query and "to" in query:
        today = date.today()
        real.update({"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()})
    if not real:
        return st.just(query)
    return st.sampled_from([{**query, **real}, query])


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """A body that names the seeded card or passkey about half of the time, and then an amount the
    seeded bill or offer takes (a payment of at most its 18.00 balance, a bid on the offer's
    increment): schemathesis' amounts are mostly out of range, and many of them are 2300.0, a JSON
    integer to JSON Schema, a decimal the app refuses (400). Likewise a case's message is a plain
    sentence about half of the time: schemathesis' strings are mostly blank once stripped or hold
    control characters, both refused (400) before the case is read."""
    if not isinstance(body, dict):
        return st.just(body)
    names = {"payment_method_id": "payment_method_id", "passkey_id": "passkey_id"}
    real: dict[str, Any] = {
        key: FUZZ.seeds[seed] for key, seed in names.items() if key in body and seed in FUZZ.seeds
    }
    if "payment_method_id" in real and "amount" in body:
        real["amount"] = BID_AMOUNT if "{offer_id}" in context.operation.path else PAYMENT_AMOUNT
    if "message" in body and "{case_id}" in context.operation.path:
        real["message"] = CASE_MESSAGE
    if not real:
        return st.just(body)
    return st.sampled_from([{**body, **real}, body])


@schema.hook
def flatmap_headers(context: Any, headers: Any) -> Any:
    """A new Idempotency-Key per payment about half of the time, as the app sends: hypothesis
    otherwise reuses its simplest key, whose replay check (422) answers before the bill is read."""
    if not isinstance(headers, dict) or "Idempotency-Key" not in headers:
        return st.just(headers)
    fresh = st.uuids().map(lambda key: {**headers, "Idempotency-Key": str(key)})
    return st.one_of(fresh, st.just(headers))


@schema.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if case.method.upper() != case.operation.method.upper():
        return  # schemathesis probing other methods (405)
    seeded = bool(case.path_parameters) and all(
        FUZZ.seeds.get(name) == value for name, value in case.path_parameters.items()
    )
    with FUZZ.lock:
        FUZZ.answers[case.operation.label].append((seeded, response.status_code, _code(response.content)))


def _code(content: bytes | None) -> str | None:
    try:
        parsed = json.loads(content) if content else None
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code is not None else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign_in(api: HttpApi, authenticator: Any) -> ApiResponse:
    options = api.post("/auth/passkeys/login/options")
    assert options.status == 200, options.body
    return api.post(
        "/auth/passkeys/login/verify",
        {
            "challenge_id": options.body["challenge_id"],
            "credential": authenticator.get(options.body["options"]),
        },
    )


def _seed_receipt(customer_id: str, offer_id: str, line_id: str) -> None:
    """A won upgrade's receipt, written as the clearing's grant transaction writes it."""
    from chalicelib.bidding.bids import bid_id_for
    from chalicelib.bidding.closing import receipt_id_for
    from chalicelib.bidding.models import RECEIPT_PREFIX, UpgradeReceipt
    from chalicelib.store.models import customer_pk

    bid_id = bid_id_for(offer_id, customer_id)
    starts = datetime.now(UTC)
    UpgradeReceipt(
        customer_pk(customer_id),
        f"{RECEIPT_PREFIX}{starts.strftime('%Y-%m-%dT%H:%M:%S.000Z')}#{bid_id}",
        receipt_id=receipt_id_for(bid_id),
        customer_id=customer_id,
        offer_id=offer_id,
        bid_id=bid_id,
        line_id=line_id,
        msisdn="+33612345678",
        title={"fr": "Premium 3 mois", "en": "Premium for 3 months"},
        grant={"kind": "plan", "entry_id": "premium-100", "days": 30, "entry": {"name": {"fr": "Premium"}}},
        amount=2000,
        currency="EUR",
        charge_id="ch_fuzz",
        starts_at=starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ends_at=(starts + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        created_at=starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ).save()


def _seed(app_module: Any, api: HttpApi) -> tuple[Customer, dict[str, str]]:
    """The fuzzed customer and one of each object a path names, as the admins and the app make them."""
    from chalicelib.help import admin as help_admin
    from chalicelib.notifications import inbox
    from devtools.soft_authenticator import SoftAuthenticator

    pid = os.getpid()
    catalogue = json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text())
    assert "error" not in app_module.admin_upsert_catalog(catalogue, None)
    created = app_module.admin_create_customer(
        {
            "customer_number": f"FUZZ-{pid}",
            "name": "Fuzz",
            "email": "fuzz@example.com",
            "phone": "+33612345678",
        },
        None,
    )
    assert "error" not in created, created

    # The passkey registered at sign-up, and the session the fuzzer runs on.
    phone = SoftAuthenticator()
    options = api.post(
        "/auth/passkeys/register/options",
        {"enrolment_handle": created["enrolment_handle"], "activation_code": created["activation_code"]},
    )
    assert options.status == 200, options.body
    verified = api.post(
        "/auth/passkeys/register/verify",
        {"challenge_id": options.body["challenge_id"], "credential": phone.create(options.body["options"])},
    )
    assert verified.status == 201, verified.body
    customer = Customer(customer=created, authenticator=phone, session=verified.body)
    passkeys = api.get("/me/passkeys", token=customer.token).body["passkeys"]

    # A second session, for `DELETE /me/sessions/{id}` to end (never the fuzzing one).
    other = sign_in(api, phone)
    assert other.status == 200, other.body

    # A line on a catalogue plan with usage this cycle (the SQS handler).
    line_id = f"ln_fuzz{pid}"
    line = app_module.admin_set_line(
        {
            "customer_number": created["customer_number"],
            "line_id": line_id,
            "msisdn": "+33600000001",
            "plan_id": "essentiel-20",
            "option_ids": ["data-plus-5"],
            "anchor_day": min(28, datetime.now(UTC).day),
        },
        None,
    )
    assert "error" not in line, line
    moment = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    usage = [
        {
            "event_id": f"fuzz-{pid}-{kind}",
            "line_id": line_id,
            "kind": kind,
            "quantity": quantity,
            "occurred_at": moment,
        }
        for kind, quantity in (("data", 2048), ("voice", 180), ("sms", 3))
    ]
    ingested = app_module.ingest_usage(
        {
            "Records": [
                {
                    "messageId": f"fuzz-{pid}",
                    "receiptHandle": "r",
                    "body": json.dumps(usage),
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": "x",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-3:000000000000:selfcare-usage-records",
                    "awsRegion": "eu-west-3",
                }
            ]
        },
        None,
    )
    assert ingested == {"batchItemFailures": []}, ingested

    # A bill (the billing system's import), and a card (its step-up confirmed with the passkey).
    bill_id = f"B-FUZZ-{pid}"
    imported = app_module.import_bills(
        {
            "bills": [
                {
                    "bill_id": bill_id,
                    "customer_number": created["customer_number"],
                    "line_ids": [line_id],
                    "period": {"start": "2026-10-05", "end": "2026-11-04"},
                    "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "due_date": (date.today() + timedelta(days=10)).isoformat(),
                    "currency": "EUR",
                    "items": [{"label": "Forfait Essentiel 20 Go", "amount": 1500, "tax": 300}],
                    "total": 1800,
                }
            ]
        },
        None,
    )
    assert imported.get("imported") == [bill_id], imported
    card = add_card(api, customer, "tok_visa")
    assert card.status == 201, card.body
    method_id = card.body["payment_method_id"]

    # An offer open for two days, and a bid on it (confirmed with the passkey).
    opens = datetime.now(UTC) - timedelta(minutes=5)
    offer = app_module.admin_create_offer(
        {
            "offer_id": f"off_fuzz{pid}",
            "title": {"fr": "Premium 3 mois", "en": "Premium for 3 months"},
            "description": {
                "fr": "Le forfait Premium pendant 3 mois.",
                "en": "The Premium plan for 3 months.",
            },
            "inventory": 2,
            "currency": "EUR",
            "min_bid": 1000,
            "max_bid": 5000,
            "increment": 100,
            "opens_at": opens.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "closes_at": (opens + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "grant": {"kind": "plan", "entry_id": "premium-100", "days": 30},
        },
        None,
    )
    assert "error" not in offer, offer
    offer_id = offer["offer_id"]
    challenge = api.post(
        f"/offers/{offer_id}/bid/challenge",
        {"amount": 2000, "payment_method_id": method_id, "line_id": line_id},
        token=customer.token,
    )
    assert challenge.status == 200, challenge.body
    bid = api.put(
        f"/offers/{offer_id}/bid",
        {
            "amount": 2000,
            "payment_method_id": method_id,
            "line_id": line_id,
            "challenge_id": challenge.body["challenge_id"],
            "credential": phone.get(challenge.body["options"]),
        },
        token=customer.token,
    )
    assert bid.status == 201, bid.body

    # A receipt of a won upgrade, as the clearing writes it (GET /me/receipts lists it).
    _seed_receipt(customer.customer["customer_id"], offer_id, line_id)

    # An inbox alert (notify(), as every producer makes them) and a push device.
    alert = inbox.notify(
        customer_id=created["customer_id"],
        kind="service.announcement",
        data={"announcement_id": f"ann_fuzz{pid}", "message_fr": "Bonjour", "message_en": "Hello"},
        dedup_key=f"fuzz:{pid}",
    )
    installation_id = f"fid-fuzz-{pid}"
    device = api.put(
        f"/me/devices/{installation_id}",
        {
            "fcm_token": "fcm-token-of-the-fuzz-phone",
            "platform": "android",
            "app_version": "1.2.0",
            "locale": "fr-FR",
        },
        token=customer.token,
    )
    assert device.status == 200, device.body

    # A case the customer opened (the route, as the app opens one), and a published help article
    # for a situation (the help admin's functions, on the suite's S3), under words no help test
    # searches for and a situation none lists exactly.
    opened = api.post(
        "/me/cases",
        {"origin": {"kind": "general"}, "message": "Une question sur mon compte."},
        token=customer.token,
        headers={"Idempotency-Key": f"fuzz-case-{pid}"},
    )
    assert opened.status == 201, opened.body
    article_id, situation = f"fuzz-{pid}", "passkey_lost"
    section = help_admin.upsert_section(
        {"section_id": "fuzz", "title": {"fr": "Fuzz", "en": "Fuzz"}, "position": 950}
    )
    assert "error" not in section, section
    words = {"title": "Fuzzolune", "summary": "Fuzzolune", "body": "Fuzzolune", "tags": []}
    draft = help_admin.save_draft(
        {
            "article_id": article_id,
            "section_id": "fuzz",
            "situations": [situation],
            "content": {"fr": words, "en": words},
        }
    )
    assert "error" not in draft, draft
    published = help_admin.publish({"article_id": article_id})
    assert "error" not in published and published["index"]["status"] == "current", published

    seeds = {
        "passkey_id": passkeys[0]["id"],
        "session_id": other.body["refresh_token"].split(".")[1],
        "line_id": line_id,
        # On the seeded line (its removal preview answers 200; its purchase preview 409
        # already_active, which only a found line and option can answer).
        "option_id": "data-plus-5",
        "bill_id": bill_id,
        "payment_method_id": method_id,
        "offer_id": offer_id,
        "alert_id": alert.alert_id,
        "installation_id": installation_id,
        "case_id": opened.body["case_id"],
        "article_id": article_id,
        "situation": situation,
        # Privacy: an export asked for (still preparing: no stream runs here)
        "export_id": api.post("/me/data-export", token=customer.token).body["export_id"],
    }
    # Cannot pay: an overdue bill spread over an arrangement, through the app's flow.
    from tests.test_ownership import _arrangement

    seeds["arrangement_id"] = _arrangement(api, app_module, customer)
    return customer, seeds


@pytest.fixture(scope="module")
def live(app_module: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzing]:
    """chalice local on a free port (its output in the test's tmp dir), and the seeded customer."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("fuzz") / "server.log"
    env = {**os.environ, "WEBAUTHN_ORIGINS": "http://localhost:8000", "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "devtools.serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    FUZZ.log = log
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/.well-known/jwks.json", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"chalice local did not start\n{FUZZ.server_log_tail()}")
                time.sleep(0.2)
        FUZZ.api = HttpApi(base)
        try:
            FUZZ.customer, FUZZ.seeds = _seed(app_module, FUZZ.api)
            FUZZ.token_at = time.monotonic()
        except AssertionError as error:
            pytest.fail(f"seeding the fuzzed customer failed: {error}\n{FUZZ.server_log_tail()}")
        FUZZ.plan_id = "premium-100"
        yield FUZZ
    finally:
        server.terminate()
        server.wait(timeout=10)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None)
def test_no_5xx_and_every_answer_is_in_the_contract(case: Any, live: Fuzzing) -> None:
    assert live.api is not None
    try:
        response, headers = live.send(case)
        case.validate_response(
            response,
            checks=CHECKS,
            headers=headers,
            transport_kwargs={"base_url": live.api.base, "headers": headers},
        )
    except BaseException:
        print(live.server_log_tail())  # shown with the failure
        raise


def _reached(label: str, status: int, code: str | None) -> bool:
    """Whether this answer of `label` to the seeded ids can only come once the object was found."""
    own = {NOT_FOUND.get(name) for name in re.findall(r"\{(\w+)\}", label)}
    if status == 404 and (code == "not_found" or code in own):
        return False
    if status == 400 and code in BEFORE_THE_LOOKUP:
        return False
    if status in BEFORE_THE_LOOKUP_STATUSES:
        codes = BEFORE_THE_LOOKUP_STATUSES[status]
        return codes is not None and code not in codes
    return True


def test_every_operation_with_an_id_was_fuzzed_past_its_404(live: Fuzzing) -> None:
    """The seeding worked: each operation with an id in its path got, for a request with the seeded
    ids, an answer it gives only once it has found the object (a 2xx, or a refusal that comes after
    the lookup: a confirmation missing, a bid out of range...). Mutation: seed ids of objects that
    do not exist (or none) → fails for every such operation."""
    fuzzed = {label: answers for label, answers in live.answers.items() if "{" in label}
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Under pytest-xdist schemathesis's cases collapse into one item that sends nothing: the
        # fuzzing would pass without running. `make test` runs this file on its own, without -n.
        pytest.fail("run tests/test_fuzz.py without pytest-xdist (-n): its cases do not run under it")
    if not fuzzed:
        pytest.skip("the fuzzing test did not run")
    unseeded = {name for label in fuzzed for name in re.findall(r"\{(\w+)\}", label)} - set(live.seeds)
    assert not unseeded, (
        f"a path names objects the fuzzed customer does not own: seed one of each {unseeded} in _seed"
    )
    unreached = {
        label: sorted({(status, code) for seeded, status, code in answers if seeded})
        for label, answers in fuzzed.items()
        if not any(seeded and _reached(label, status, code) for seeded, status, code in answers)
    }
    assert not unreached, f"never past the lookup with the seeded ids: {unreached}"


def test_a_refused_token_is_renewed_and_the_case_sent_again(live: Fuzzing) -> None:
    """An access token expires after 15 minutes, a session can end: the fuzzer renews the token (the
    refresh route, else a new sign-in) rather than judge a route by the authorizer's 401. Mutation:
    drop the renewal in `Fuzzing.send` → 401."""
    assert live.customer is not None
    dead = {"access_token": "expired.or.revoked", "refresh_token": "cus_0.ses_0.spent"}
    live.customer.session = {**live.customer.session, **dead}
    response, headers = live.send(schema["/me"]["GET"].Case())
    assert response.status_code == 200, response.content
    assert headers["Authorization"] != "Bearer expired.or.revoked"
