"""The fake Stripe API itself (devtools/fake_stripe.py), over raw HTTP: Stripe's Idempotency-Key
rules, the record of every attempt, holds, and signed webhooks a real verifier accepts."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe

from devtools.fake_stripe import FakeStripe
from tests.billing.conftest import wait_for


def _post(
    fake: FakeStripe, path: str, form: dict[str, str], *, key: str | None = None, timeout: float = 5
) -> tuple[int, dict[str, Any], Any]:
    headers = {"Authorization": f"Bearer {fake.api_key}", "Content-Type": "application/x-www-form-urlencoded"}
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        fake.url + path, data=urllib.parse.urlencode(form).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read()), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def _intent(amount: int) -> dict[str, str]:
    return {
        "amount": str(amount),
        "currency": "eur",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "off_session": "true",
        "metadata[reference]": "pay_x",
        "allowed_payment_method_types[0]": "card",
    }


def test_idempotency_keys_replay_refuse_other_parameters_and_conflict_while_running(fake_stripe):
    fake_stripe.reset()
    status, first, _ = _post(fake_stripe, "/v1/payment_intents", _intent(500), key="k-fake-1")
    assert status == 200 and first["status"] == "succeeded" and first["metadata"] == {"reference": "pay_x"}
    status, again, headers = _post(fake_stripe, "/v1/payment_intents", _intent(500), key="k-fake-1")
    assert status == 200 and again == first and headers["Idempotent-Replayed"] == "true"
    status, refused, _ = _post(fake_stripe, "/v1/payment_intents", _intent(501), key="k-fake-1")
    assert status == 400 and refused["error"]["type"] == "idempotency_error"

    fake_stripe.hold_next()
    held = threading.Thread(
        target=_post,
        args=(fake_stripe, "/v1/payment_intents", _intent(700)),
        kwargs={"key": "k-fake-2", "timeout": 10},
    )
    held.start()
    assert wait_for(lambda: len(fake_stripe.attempts) == 4)
    status, busy, _ = _post(fake_stripe, "/v1/payment_intents", _intent(700), key="k-fake-2")
    assert status == 409
    made = lambda: [i for i in fake_stripe.charges(reference="pay_x") if i["amount"] == 700]  # noqa: E731
    assert made() == []  # held before it was processed
    fake_stripe.release()
    held.join(timeout=10)
    assert len(made()) == 1
    # Every call is an attempt, replays and refusals included; two intents were made.
    assert [a["amount"] for a in fake_stripe.attempts] == ["500", "500", "501", "700", "700"]
    assert {a["idempotency_key"] for a in fake_stripe.attempts} == {"k-fake-1", "k-fake-2"}


def test_declines_are_402_card_errors_with_the_intent(fake_stripe):
    status, body, _ = _post(
        fake_stripe,
        "/v1/payment_intents",
        {**_intent(900), "payment_method": "pm_card_chargeDeclinedInsufficientFunds"},
    )
    assert status == 402 and body["error"]["type"] == "card_error"
    assert (body["error"]["code"], body["error"]["decline_code"]) == ("card_declined", "insufficient_funds")
    assert body["error"]["payment_intent"]["status"] == "requires_payment_method"


def test_webhook_events_are_signed_as_stripe_signs_them_and_can_be_sent(fake_stripe):
    """The library's own verifier accepts the fake's signature; `send_event` POSTs it."""
    status, intent, _ = _post(fake_stripe, "/v1/payment_intents", _intent(1200))
    received: list[tuple[bytes, str]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(
                (self.rfile.read(int(self.headers["Content-Length"])), self.headers["Stripe-Signature"])
            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert (
            fake_stripe.send_event(f"http://127.0.0.1:{server.server_address[1]}/hook", intent["id"]) == 200
        )
    finally:
        server.shutdown()
        server.server_close()
    [(payload, signature)] = received
    stripe.WebhookSignature.verify_header(payload, signature, fake_stripe.webhook_secret, tolerance=300)
    event = json.loads(payload)
    assert event["type"] == "payment_intent.succeeded" and event["data"]["object"]["id"] == intent["id"]


def test_the_removed_payment_method_types_parameter_is_refused_as_stripe_refuses_it(fake_stripe):
    """Stripe's API version pinned by stripe 16 refuses `payment_method_types`: so does the fake,
    so a gateway that sent it would fail the suite (as it failed in Stripe before this was found)."""
    fake_stripe.reset()
    old = {**_intent(500), "payment_method_types[0]": "card"}
    del old["allowed_payment_method_types[0]"]
    status, refused, _ = _post(fake_stripe, "/v1/payment_intents", old, key="k-fake-old")
    assert status == 400 and refused["error"]["code"] == "payment_method_types_no_longer_supported"
