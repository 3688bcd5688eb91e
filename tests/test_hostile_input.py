"""Hostile input gets a clear 4xx, never a 500, never seconds of CPU: bodies (size, then depth, then
parsing), card numbers anywhere, cursors, admin events, py_webauthn's text, and the cache policy.
Through the real routes (the `api` fixture checks every answer against the contract) and the real
admin Lambda functions."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.contract import spec

# Luhn-valid test card numbers, as people type them.
VISA = "4242 4242 4242 4242"
MASTERCARD = "5555555555554444"
AMEX = "3782-822463-10005"
NOT_A_CARD = "4242424242424241"  # 16 digits, Luhn-invalid

# A well-formed value for each path parameter of the contract, so that the body is what is judged.
SAMPLE_IDS = {
    "passkey_id": "A" * 22,
    "session_id": "ses_" + "0" * 24,
    "offer_id": "off_hostile",
    "line_id": "ln_hostile",
    "option_id": "data-plus-5",
    "bill_id": "B-hostile-1",
    "payment_method_id": "pm_" + "0" * 16,
    "installation_id": "inst-hostile-1",
    "alert_id": "alr_" + "0" * 24,
    "case_id": "cas_" + "0" * 24,
    "article_id": "hostile-article",
    "situation": "card_declined",
    "export_id": "exp_" + "0" * 20,  # Privacy
    "arrangement_id": "arr_" + "0" * 20,  # Cannot pay
}


# Routes whose callers prove themselves by a signature over the raw bytes: an unsigned body is
# refused by that check, before anything parses it (and the HMAC is the only work done).
SIGNED_ROUTES = {"/webhooks/stripe": "invalid_signature"}


def _refused_as(path: str, expected: str) -> set[str]:
    return {expected, SIGNED_ROUTES[path]} if path in SIGNED_ROUTES else {expected}


def _body_operations(ids: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(method, path with sample ids, needs a token) for every operation of the contract that takes
    a body: a route added later is covered without touching this file."""
    ids = {**SAMPLE_IDS, **ids}
    found = []
    for template, operations in spec()["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch", "delete") or "requestBody" not in operation:
                continue
            path = template
            for name in [part[1:-1] for part in template.split("/") if part.startswith("{")]:
                assert name in ids, f"add a well-formed sample for {{{name}}} to SAMPLE_IDS"
                path = path.replace(f"{{{name}}}", ids[name])
            secured = bool(operation.get("security", spec().get("security")))
            found.append((method.upper(), path, secured))
    assert len(found) >= 15, found  # the contract's body routes, not an empty loop
    return found


def _owned_ids(api: Any, enrolled: Any) -> dict[str, str]:
    """Ids of objects the customer owns, for the routes that answer 404 for anyone else's before
    reading the body (a hostile body is then never read: nothing to test there)."""
    from chalicelib.billing import methods

    method = methods.add(customer_id=enrolled.customer["customer_id"], provider_token="tok_visa", label=None)
    passkey = api.get("/me/passkeys", token=enrolled.token).body["passkeys"][0]["id"]
    return {"passkey_id": passkey, "payment_method_id": method["payment_method_id"]}


def _send(api: Any, method: str, path: str, raw: bytes, token: str | None) -> Any:
    # An Idempotency-Key, so that a route checking it first (payments) reaches the body.
    return api.request(method, path, raw=raw, token=token, headers={"Idempotency-Key": "hostile-input-key-1"})


def _nested(depth: int, *, kind: str = "array") -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every line the service logs during the test."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("selfcare")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


# --- 1. size first, then depth, then parse ----------------------------------------------------------


def test_deep_json_is_a_400_on_every_body_route(api, enrol):
    """5,000 nested arrays (10 KB, under the size limit) made json.loads raise RecursionError: a 500
    on every body route, the unauthenticated ones included. Mutation: drop the depth scan."""
    enrolled = enrol()
    token = enrolled.token
    wrong = []
    for method, path, secured in _body_operations(_owned_ids(api, enrolled)):
        for body, expected in (
            (_nested(5_000), "invalid_json"),
            (_nested(5_000, kind="object"), "invalid_json"),
            (_nested(100_000), "body_too_large"),
        ):
            response = _send(api, method, path, body, token if secured else None)
            if response.status != 400 or response.error_code not in _refused_as(path, expected):
                wrong.append((method, path, len(body), response.status, response.body))
    assert not wrong, "\n".join(map(repr, wrong))


def test_the_depth_limit_is_32_and_brackets_inside_strings_do_not_count(api):
    """Mutation: a limit off by one, or one far larger, or counting brackets inside strings."""
    at_limit = api.post("/auth/passkeys/login/options", raw=b'{"k":' + _nested(31) + b"}")  # 32 levels
    assert (
        at_limit.status == 400 and at_limit.error_code == "validation_error"
    )  # parsed, then refused by the model
    past = api.post("/auth/passkeys/login/options", raw=b'{"k":' + _nested(32) + b"}")  # 33 levels
    assert past.status == 400 and past.error_code == "invalid_json" and "32" in past.body["error"]["message"]
    in_strings = json.dumps({"refresh_token": "[" * 2_000 + '\\"{' * 500}).encode()
    assert api.post("/auth/token/refresh", raw=in_strings).error_code != "invalid_json"


def test_the_bracket_scan_follows_json_strings_exactly():
    from chalicelib.common.jsonguard import nesting_exceeds

    assert nesting_exceeds("[" * 33, 32) and not nesting_exceeds("[" * 32, 32)
    assert not nesting_exceeds('["' + "[" * 100 + '"]', 32)
    assert not nesting_exceeds(r'["\"' + "[" * 100 + '"]', 32)  # an escaped quote does not end the string
    assert nesting_exceeds(r'["\\"' + ",[" * 40 + "]", 32)  # an escaped backslash does not escape the quote
    assert not nesting_exceeds("[]" * 100, 32)  # depth, not count


def test_a_body_reaches_the_checks_as_the_bytes_that_were_sent():
    """Chalice types `Request.raw_body` as str | bytes; what the size limit and the parser see is
    always the bytes sent. Mutation: hand a str over unencoded, encode it as anything but UTF-8, or
    read a missing body as anything but empty → fails."""
    from chalicelib.api.validation import body_bytes

    sent = b'{"name": "Zo\xc3\xab"}'
    assert body_bytes(sent) is sent  # bytes, untouched (a signature covers them)
    assert body_bytes(sent.decode("utf-8")) == sent
    assert body_bytes(None) == b"" and body_bytes("") == b""


def test_a_5_mb_body_is_refused_before_any_scan_on_every_body_route(api, enrol):
    """Card numbers were scanned in the raw body before its size was checked (payment routes):
    seconds of CPU for 5 MB of them. Mutation: scan (or parse) before the size check."""
    enrolled = enrol()
    token = enrolled.token
    body = b'{"label": "' + (VISA + " ").encode() * (5_000_000 // 20) + b'"}'
    slow, wrong = [], []
    for method, path, secured in _body_operations(_owned_ids(api, enrolled)):
        started = time.perf_counter()
        response = _send(api, method, path, body, token if secured else None)
        elapsed = time.perf_counter() - started
        if response.status != 400 or response.error_code not in _refused_as(path, "body_too_large"):
            wrong.append((method, path, response.status, response.body))
        if elapsed > 0.5:
            slow.append((method, path, round(elapsed, 2)))
    assert not wrong and not slow, "\n".join(map(repr, wrong + slow))


def test_the_card_number_scan_never_reads_more_than_a_body():
    """A caller that scans raw text before parse_body (as the payment routes did) pays for at most
    a body's worth. Mutation: drop the size guard of refuse_card_numbers."""
    from chalicelib.common.pan import refuse_card_numbers
    from chalicelib.errors import ValidationFailed

    started = time.perf_counter()
    with pytest.raises(ValidationFailed) as refused:
        refuse_card_numbers((VISA + " ") * 250_000)
    assert refused.value.code == "body_too_large" and time.perf_counter() - started < 0.1


def test_non_utf8_nan_and_huge_numbers_are_invalid_json(api):
    for raw in (
        b'{"refresh_token": "\xff\xfe"}',
        b'{"refresh_token": NaN}',
        b'{"refresh_token": ' + b"9" * 5_000 + b"}",
    ):
        response = api.post("/auth/token/refresh", raw=raw)
        assert (response.status, response.error_code) == (400, "invalid_json"), raw[:40]


# --- 2. card numbers, anywhere, never echoed ---------------------------------------------------------


def _refused_without_echo(response: Any, *numbers: str) -> None:
    assert (response.status, response.error_code) == (400, "card_number_refused"), response.body
    shown = json.dumps(response.body) + json.dumps(response.headers)
    for number in numbers:
        assert number not in shown and number.replace(" ", "").replace("-", "") not in shown


def test_card_numbers_are_refused_in_every_free_text_field(api, enrol, logs):
    enrolled = enrol()
    token = enrolled.token
    passkey_id = api.get("/me/passkeys", token=token).body["passkeys"][0]["id"]
    cases = [
        ("PATCH", f"/me/passkeys/{passkey_id}", {"name": f"card {VISA}"}),
        (
            "PATCH",
            "/me",
            {
                "postal_address": {
                    "line1": MASTERCARD,
                    "postal_code": "75001",
                    "city": "Paris",
                    "country": "FR",
                }
            },
        ),
        ("POST", "/me/payment-methods", {"provider_token": "tok_visa", "label": AMEX}),
        ("POST", "/lines/ln_hostile/plan-change", {"plan_id": "essentiel", "preview_token": VISA}),
        (
            "PUT",
            "/me/devices/inst-hostile-1",
            {"fcm_token": "t" * 20, "platform": "android", "app_version": MASTERCARD, "locale": "fr"},
        ),
        (
            "PUT",
            "/me/notification-preferences",
            {"categories": {"billing": True}, "quiet_hours": {"start": VISA, "end": "07:00"}},
        ),
        (
            "POST",
            "/offers/off_hostile/bid/challenge",
            {"amount": int(MASTERCARD), "payment_method_id": "pm_" + "0" * 16},
        ),
    ]
    for method, path, body in cases:
        _refused_without_echo(api.request(method, path, body, token=token), VISA, MASTERCARD, AMEX)
    # Unauthenticated routes too, a card number as a key, JSON-escaped, or inside a credential.
    _refused_without_echo(api.post("/auth/token/refresh", {"refresh_token": VISA}), VISA)
    _refused_without_echo(api.post("/auth/passkeys/login/options", {MASTERCARD: 1}), MASTERCARD)
    _refused_without_echo(
        api.post("/auth/token/refresh", raw=b'{"refresh_token": "\\u00342424242424242 42"}'),
        "4242424242424242",
    )
    _refused_without_echo(
        api.post(
            "/auth/passkeys/login/verify", {"challenge_id": "chl_" + "0" * 32, "credential": {"type": VISA}}
        ),
        VISA,
    )
    # Query strings as well.
    _refused_without_echo(api.get(f"/offers/off_hostile?amount={MASTERCARD}", token=token), MASTERCARD)
    assert not [line for line in logs if "4242424242424242" in line.replace(" ", "") or MASTERCARD in line]


def test_no_400_message_repeats_what_was_sent(api, enrol):
    """Validators' messages quoted the value (`unknown IANA time zone 'Europe/4242…'`), pydantic's
    unknown-field messages the key. Mutation: describe_validation_error back to msg and loc as is."""
    token = enrol().token
    zone = api.patch("/me", {"time_zone": f"Europe/{NOT_A_CARD}"}, token=token)
    assert (
        zone.status == 400
        and zone.error_code == "validation_error"
        and "time_zone" in zone.body["error"]["message"]
    )
    assert NOT_A_CARD not in json.dumps(zone.body)
    odd_key = api.post("/auth/passkeys/login/options", {"<img src=x onerror=alert(1)>": 1})
    assert odd_key.status == 400 and "onerror" not in odd_key.body["error"]["message"]
    assert (
        "username" in api.post("/auth/passkeys/login/options", {"username": "ada"}).body["error"]["message"]
    )  # names still help


def test_what_is_not_a_card_number_passes():
    """Mutation: a detector without Luhn, or one that reads E.164 phones or our ids as cards."""
    from chalicelib.common.pan import contains_pan, redact_pans

    assert contains_pan({"a": [{"b": VISA}]}) and contains_pan(int(MASTERCARD)) and contains_pan({AMEX: 1})
    assert not contains_pan(NOT_A_CARD)
    assert not contains_pan("+4915112345678")  # 13 digits, Luhn-valid, a German mobile number
    assert not contains_pan("pm_4242424242424242") and not contains_pan("2026-12-01T09:00:00Z")
    assert redact_pans(f"x {VISA} y") == "x [card number removed] y"
    cycle: list[Any] = []
    cycle.append(cycle)
    assert not contains_pan(cycle)


# --- 3. cursors -------------------------------------------------------------------------------------


def _cursor(plain: Any) -> str:
    raw = plain if isinstance(plain, bytes) else json.dumps(plain).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_cursors_that_are_not_ours_are_400_invalid_cursor(api, enrol, app_module):
    """Each of these is a 400, never a DynamoDB ValidationException (a 500): an extra or missing key
    attribute, an empty key value, a bill cursor on the inbox and the reverse, a stranger's, a huge one."""
    from chalicelib.store.models import customer_pk
    from tests.billing.conftest import bill_document

    mine, theirs = enrol(), enrol()
    cid, pk = mine.customer["customer_id"], customer_pk(mine.customer["customer_id"])
    app_module.import_bills(
        {"bills": [bill_document(mine.customer["customer_number"]) for _ in range(2)]}, None
    )
    app_module.import_bills(
        {"bills": [bill_document(theirs.customer["customer_number"]) for _ in range(2)]}, None
    )
    bills_cursor = api.get("/bills?limit=1", token=mine.token).body["next_cursor"]
    their_bills_cursor = api.get("/bills?limit=1", token=theirs.token).body["next_cursor"]
    assert bills_cursor and their_bills_cursor
    assert api.get(f"/bills?cursor={bills_cursor}", token=mine.token).status == 200  # ours still work
    garbage = [
        "!!!",
        "a",
        _cursor(b"\xff\xfe\xfd"),
        _cursor([]),
        _cursor({"SK": 1}),
        _cursor(b"[" * 600),
        "A" * 100_000,
    ]
    inbox_only = [
        _cursor({"PK": pk, "SK": "INBOX#alr_1", "extra": "x"}),
        _cursor({"PK": pk, "SK": "INBOX#alr_1", "GSI1PK": "x", "GSI1SK": "y"}),
        _cursor({"PK": pk, "SK": "INBOX#alr_" + "\ud800"}),
        _cursor({"PK": pk, "SK": "INBOX#alr_" + "x" * 1100}),
        bills_cursor,
    ]
    bills_only = [
        _cursor({"PK": pk, "SK": "BILL#x", "GSI1PK": f"BILLS#{cid}"}),
        _cursor({"PK": pk, "SK": "BILL#x", "GSI1PK": f"BILLS#{cid}", "GSI1SK": ""}),
        _cursor({"PK": pk, "SK": "BILL#x", "GSI1PK": f"BILLS#{cid}", "GSI1SK": "2026", "extra": "x"}),
        _cursor({"PK": pk, "SK": "INBOX#alr_1"}),
        their_bills_cursor,
    ]
    wrong = []
    for path, cursors in (("/me/inbox", garbage + inbox_only), ("/bills", garbage + bills_only)):
        for cursor in cursors:
            response = api.get(f"{path}?cursor={cursor}", token=mine.token)
            if (response.status, response.error_code) != (400, "invalid_cursor"):
                wrong.append((path, cursor[:60], response.status, response.body))
    assert not wrong, "\n".join(map(repr, wrong))


def test_another_customers_inbox_cursor_is_400(api, enrol):
    from chalicelib.notifications import inbox

    mine, theirs = enrol(), enrol()
    for n in range(2):
        inbox.notify(
            customer_id=theirs.customer["customer_id"],
            kind="security.passkey_added",
            data={"passkey_id": "p1", "passkey_name": "Phone"},
            dedup_key=f"hostile-{n}",
        )
    cursor = api.get("/me/inbox?limit=1", token=theirs.token).body["next_cursor"]
    assert cursor
    response = api.get(f"/me/inbox?cursor={cursor}", token=mine.token)
    assert (response.status, response.error_code) == (400, "invalid_cursor")


# --- 4. admin events ----------------------------------------------------------------------------------


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_malformed_admin_events_get_a_structured_error_never_an_exception(app_module):
    """Mutation: drop the checks in run_admin (a list event, a 100,000-deep one, a cyclic one, a
    5 MB one, a million-item one would raise or take seconds)."""
    cyclic: dict[str, Any] = {"customer_number": "C-CYCLE", "name": "x"}
    cyclic["segments"] = [cyclic]
    cases = [
        ([1, 2], "invalid_event"),
        ("C-1001", "invalid_event"),
        (None, "invalid_event"),
        ({"customer_number": 5, "name": ["x"]}, "validation_error"),
        ({"customer_number": "C-ODD", "name": "x", "nickname": "y"}, "validation_error"),
        ({"customer_number": "C-DEEP", "name": "x", "segments": _deep_list(100_000)}, "invalid_event"),
        (cyclic, "invalid_event"),
        ({"customer_number": "C-HUGE", "name": "x" * 5_000_000}, "event_too_large"),
        ({"customer_number": "C-MANY", "name": "x", "segments": ["a"] * 1_000_000}, "event_too_large"),
        ({"customer_number": "C-KEYS", "name": "x", 5: "y"}, "invalid_event"),
        ({"customer_number": "C-SET", "name": "x", "segments": {"a"}}, "invalid_event"),
    ]
    for event, code in cases:
        started = time.perf_counter()
        result = app_module.admin_create_customer(event, None)
        assert set(result) == {"error"} and set(result["error"]) == {"code", "message"}, result
        assert result["error"]["code"] == code, (code, result)
        assert time.perf_counter() - started < 0.5, code
    bills = app_module.import_bills({"bills": [{"bill_id": _deep_list(50)}]}, None)
    assert bills["error"]["code"] == "invalid_event"


def test_an_unexpected_failure_of_an_admin_function_is_a_json_answer(app_module, monkeypatch, logs):
    from chalicelib.customers import admin

    def boom(event: Any) -> dict[str, Any]:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(admin, "issue_activation_code", boom)
    result = app_module.admin_issue_activation_code({"customer_number": "C-1001"}, None)
    assert result["error"]["code"] == "internal_error" and "hunter2" not in json.dumps(result)
    assert any('"unhandled_error"' in line and "RuntimeError" in line for line in logs)


def test_card_numbers_in_admin_events_are_refused_and_not_echoed(app_module, logs):
    for event in (
        {"customer_number": "C-PAN-1", "name": f"Ada {VISA}"},
        {"customer_number": "C-PAN-2", "name": "Ada", "operator": MASTERCARD},
    ):
        result = app_module.admin_create_customer(event, None)
        assert result["error"]["code"] == "card_number_refused"
        assert "4242424242424242" not in json.dumps(result).replace(" ", "") and MASTERCARD not in json.dumps(
            result
        )
    assert not [line for line in logs if "4242424242424242" in line.replace(" ", "") or MASTERCARD in line]


def test_admin_functions_log_the_operator_and_never_an_activation_code(app_module, logs):
    """Mutation: log the event or the result in run_admin (the result holds the code), or validate
    `operator` as an event field (every model refuses it as unknown)."""
    created = app_module.admin_create_customer(
        {"customer_number": "C-OPS-1", "name": "Ada", "operator": "ops@example.com"}, None
    )
    assert "error" not in created, created
    issued = app_module.admin_issue_activation_code(
        {"customer_number": "C-OPS-1", "operator": "ops@example.com"}, None
    )
    reset = app_module.admin_reset_passkeys(
        {"customer_number": "C-OPS-1", "reason": "lost_phone", "operator": "ops@example.com"}, None
    )
    codes = [r["activation_code"] for r in (created, issued, reset)]
    actions = [json.loads(line) for line in logs if '"admin_action"' in line]
    assert len(actions) == 3 and all(a["operator"] == "ops@example.com" and a["ok"] for a in actions)
    for code in codes:
        assert not [line for line in logs if code in line or code.replace("-", "") in line]
    wrong = app_module.admin_issue_activation_code({"customer_number": "C-OPS-1", "operator": 5}, None)
    assert wrong["error"]["code"] == "validation_error" and "operator" in wrong["error"]["message"]


class _Context:
    aws_request_id = "3f1e2d4c-hostile-request"


def test_run_admin_logs_the_lambda_request_id(logs):
    from chalicelib.api.admin import run_admin
    from chalicelib.customers import admin

    result = run_admin(
        admin.issue_activation_code,
        admin.IssueActivationCodeEvent,
        {"customer_number": "NOPE-9", "operator": "ops"},
        context=_Context(),
    )
    assert result["error"]["code"] == "customer_not_found"
    line = json.loads(next(line for line in logs if '"admin_action"' in line))
    assert line["request_id"] == _Context.aws_request_id and line["operator"] == "ops"


def test_admin_functions_log_the_lambda_request_id(app_module, logs):
    app_module.admin_issue_activation_code({"customer_number": "NOPE-9"}, _Context())
    line = json.loads(next(line for line in logs if '"admin_action"' in line))
    assert line["request_id"] == _Context.aws_request_id


# --- 5. py_webauthn's text stays in the log -----------------------------------------------------------


def _tampered(credential: dict[str, Any]) -> dict[str, Any]:
    signature = bytearray(base64.urlsafe_b64decode(credential["response"]["signature"] + "=="))
    signature[-1] ^= 0x01
    response = {
        **credential["response"],
        "signature": base64.urlsafe_b64encode(bytes(signature)).decode().rstrip("="),
    }
    return {**credential, "response": response}


def test_a_tampered_assertion_and_an_unknown_credential_get_the_same_answer(api, enrol, logs):
    """Mutation: put py_webauthn's exception text in the message (it was: "The passkey assertion is
    not valid: Could not verify authentication signature")."""
    from devtools.soft_authenticator import SoftAuthenticator

    enrolled = enrol()
    answers = []
    for make in (
        lambda options: _tampered(enrolled.authenticator.get(options)),
        lambda options: SoftAuthenticator(user_handle=enrolled.authenticator.user_handle).get(options),
        lambda options: enrolled.authenticator.get(options, origin="https://evil.example"),
    ):
        options = api.post("/auth/passkeys/login/options").body
        response = api.post(
            "/auth/passkeys/login/verify",
            {"challenge_id": options["challenge_id"], "credential": make(options["options"])},
        )
        answers.append((response.status, json.dumps(response.body, separators=(",", ":"))))
    assert answers[0][0] == 401 and len(set(answers)) == 1, answers
    details = [json.loads(line)["detail"] for line in logs if '"webauthn_rejected"' in line]
    assert len(details) == 2 and all(details), (
        details
    )  # the tampered and the wrong origin: the reason is logged


def test_a_registration_with_a_key_that_cannot_verify_is_refused_not_stored(api, new_customer, logs):
    """A COSE key that is a CBOR list made py_webauthn raise IndexError (a 500); one with integer
    coordinates was stored. Mutation: drop the key check or narrow the caught exceptions."""
    import cbor2

    from devtools.soft_authenticator import SoftAuthenticator

    for cose in (cbor2.dumps([1, 2]), cbor2.dumps({1: 2, 3: -7, -1: 1, -2: 5, -3: 6})):
        customer = new_customer()
        enrolment = {k: customer[k] for k in ("enrolment_handle", "customer_number") if k in customer}
        if "enrolment_handle" in enrolment:
            enrolment.pop("customer_number", None)
        options = api.post(
            "/auth/passkeys/register/options", {**enrolment, "activation_code": customer["activation_code"]}
        )
        assert options.status == 200, options.body
        authenticator = SoftAuthenticator()
        authenticator.cose_public_key = lambda cose=cose: cose  # type: ignore[method-assign]
        verify = api.post(
            "/auth/passkeys/register/verify",
            {
                "challenge_id": options.body["challenge_id"],
                "credential": authenticator.create(options.body["options"]),
            },
        )
        assert (verify.status, verify.error_code) == (401, "invalid_credential"), verify.body
        assert verify.body["error"]["message"] == "The passkey could not be registered."
    assert len([line for line in logs if '"webauthn_rejected"' in line]) == 2


# --- 6. personal responses are not cached ----------------------------------------------------------------


def _cache_control(response: Any) -> str | None:
    return next((v for k, v in response.headers.items() if k.lower() == "cache-control"), None)


def test_personal_answers_and_every_error_are_no_store(api, enrol, monkeypatch):
    """Mutation: drop apply_cache_policy from the access-log middleware, or exempt 4xx/5xx."""
    enrolled = enrol()
    token = enrolled.token
    answers = {
        "GET /me": api.get("/me", token=token),
        "GET /me/passkeys": api.get("/me/passkeys", token=token),
        "GET /me/inbox": api.get("/me/inbox", token=token),
        "login options": api.post("/auth/passkeys/login/options"),
        "refresh": api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]}),
        "400": api.post("/auth/token/refresh", raw=b"{"),
        "401": api.post("/auth/token/refresh", {"refresh_token": "x" * 40}),
        "404": api.get("/bills/B-nobody-1", token=token),
        "405": api.request("PUT", "/me/passkeys", token=token),
    }
    from chalicelib.auth import passkeys

    def boom() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(passkeys, "login_options", boom)
    answers["500"] = api.post("/auth/passkeys/login/options")
    assert answers["refresh"].status == 200 and answers["500"].status == 500
    assert {name: _cache_control(r) for name, r in answers.items()} == {name: "no-store" for name in answers}


def test_public_documents_keep_their_own_caching(api):
    assert _cache_control(api.get("/.well-known/jwks.json")) == "public, max-age=300"
    assert _cache_control(api.get("/.well-known/assetlinks.json")) != "no-store"


def test_the_gateways_own_errors_are_no_store(api):
    for response in (api.get("/me"), api.get("/me", token="not-a-token"), api.get("/no/such/route")):
        assert response.status in (401, 403, 404) and _cache_control(response) == "no-store", response


# --- Abroad: a money amount is a JSON integer, nothing that looks like one --------------------


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "5000"},
        {"amount": 50.0},
        {"amount": True},
        {"amount": 0},
        {"amount": 100_001},
        {"lifted": False},
        {"amount": 5000, "lifted": True},
        {},
    ],
)
def test_the_roaming_limit_takes_a_json_integer_or_lifted_only(api, enrol, body):
    """Strict numbers: "5000", 50.0 and true are not 5000 (nor is 0, or over the maximum); one of
    `amount` and `lifted: true`, never both. Refused before any confirmation is looked at.
    Mutations (roaming.LimitChange): drop `_one_of_them` → both and neither pass → fails; drop
    `ge=1` → 0 passes → fails. ("5000", 50.0, true: refused by the Strict base and JsonInt.)"""
    enrolled = enrol()
    confirmation = {"challenge_id": "chl_" + "0" * 32, "credential": {}}
    answer = api.put(
        "/lines/ln_hostile/roaming/data-limit", {**body, "confirmation": confirmation}, token=enrolled.token
    )
    assert answer.status == 400, answer.body
    assert answer.body["error"]["code"] == "validation_error"
