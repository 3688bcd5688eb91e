"""The Stripe adapter, through the real `stripe` library against the fake Stripe API: cards,
off-session PaymentIntents, declines and 3-D Secure, idempotency errors, secrets, webhooks."""

from __future__ import annotations

import dataclasses
import time

import pytest

from chalicelib.billing import gateway as gateway_module
from chalicelib.billing import payments
from chalicelib.billing.gateway import GatewayRejected, install_gateway
from chalicelib.billing.secrets import read_secret
from chalicelib.config import get_settings
from chalicelib.errors import ServiceMisconfigured
from chalicelib.store.models import BillingSettings, PaymentMethod, customer_pk
from tests.billing.conftest import balance, confirm, only_payment, pay, wait_for
from tests.support.stepup import add_card


def test_a_card_comes_from_stripe_and_is_attached_to_one_customer(api, enrol, stripe_api):
    """Mutation: create a Stripe customer per card (ignore the stored customer ref) → two customers."""
    enrolled = enrol()
    first = add_card(api, enrolled, "pm_card_visa")
    second = add_card(api, enrolled, "pm_card_mastercard")
    assert first.status == 201 and (first.body["brand"], first.body["last4"]) == ("visa", "4242")
    assert second.status == 201 and (second.body["brand"], second.body["last4"]) == ("mastercard", "4444")
    cid = enrolled.customer["customer_id"]
    customer_ref = BillingSettings.get(customer_pk(cid), "SETTINGS#BILLING").provider_customer_ref
    assert customer_ref in stripe_api.customers and stripe_api.customers[customer_ref]["metadata"] == {
        "customer_id": cid
    }
    assert len([c for c in stripe_api.customers.values() if c["metadata"].get("customer_id") == cid]) == 1
    for added in (first, second):
        method = PaymentMethod.get(customer_pk(cid), f"PM#{added.body['payment_method_id']}")
        assert method.provider_customer_ref == customer_ref
        assert (
            stripe_api.payment_methods[method.provider_ref]["customer"] == customer_ref
        )  # attached (a clone of the test card)
    assert add_card(api, enrolled, "pm_unknown_card").status == 400


def test_a_payment_is_an_off_session_payment_intent_with_our_reference_and_attempt_key(
    api, billed, stripe_api
):
    """Mutation: send the client's Idempotency-Key (or the payment id) as Stripe's key → the
    recorded key is not the attempt id."""
    enrolled, bill_id, method = billed(token="pm_card_visa")
    paid = pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method), key="client-key-0001")
    assert paid.status == 201 and paid.body["status"] == "succeeded"
    payment = only_payment(enrolled, bill_id)
    [attempt] = stripe_api.attempts
    assert (
        attempt["idempotency_key"] == payment.attempt_id
        and "client-key-0001" not in attempt["idempotency_key"]
    )
    assert (attempt["amount"], attempt["currency"], attempt["confirm"], attempt["off_session"]) == (
        "1800",
        "eur",
        "true",
        "true",
    )
    assert attempt["metadata"] == {
        "kind": "bill_payment",
        "customer_id": enrolled.customer["customer_id"],
        "bill_id": bill_id,
        "reference": payment.payment_id,
        "attempt": payment.attempt_id,
    }
    [intent] = stripe_api.charges(reference=payment.payment_id)
    assert payment.charge_id == intent["id"] and intent["customer"] == attempt["customer"]
    assert balance(api, enrolled, bill_id) == {"balance": 0, "available": 0}


@pytest.mark.parametrize(
    "card, code, words",
    [
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "Insufficient funds"),
        ("pm_card_chargeDeclined", "card_declined", "declined"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired"),
        ("pm_card_authenticationRequired", "authentication_required", "confirm this payment"),
    ],
)
def test_declines_and_3d_secure_say_why_and_charge_nothing(api, billed, stripe_api, card, code, words):
    """Mutation: map Stripe's card errors to one code (or treat authentication_required as a
    timeout) → the code or status differs."""
    enrolled, bill_id, method = billed(token=card)
    answer = pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method))
    assert answer.status == 402 and answer.error_code == code and words in answer.body["error"]["message"]
    payment = only_payment(enrolled, bill_id)
    assert payment.status == "failed" and payment.failure_code == code
    assert stripe_api.charges(reference=payment.payment_id, status="succeeded") == []
    assert [(a["amount"], a["idempotency_key"]) for a in stripe_api.attempts_for(payment.payment_id)] == [
        ("1800", payment.attempt_id)
    ]  # asked once: a decline is an answer, never retried
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}


def test_a_reused_stripe_key_with_other_parameters_is_never_a_charge(
    api, billed, stripe_api, fake_stripe, monkeypatch, events
):
    """Stripe's 400 idempotency_error: logged, the payment fails as not charged by us, nothing
    charged for it. Mutation: treat IdempotencyError as a timeout → 503 and a pending payment."""
    enrolled, bill_id, method = billed(token="pm_card_visa")
    used = "att_" + "ab" * 16
    gateway = gateway_module.get_gateway()
    provider_ref = PaymentMethod.get(
        customer_pk(enrolled.customer["customer_id"]), f"PM#{method}"
    ).provider_ref
    customer_ref = BillingSettings.get(
        customer_pk(enrolled.customer["customer_id"]), "SETTINGS#BILLING"
    ).provider_customer_ref
    gateway.charge(
        provider_ref=provider_ref,
        customer_ref=customer_ref,
        amount=1,
        currency="EUR",
        reference="pay_elsewhere",
        idempotency_key=used,
    )
    monkeypatch.setattr(
        payments, "new_id", lambda prefix, nbytes=12: used
    )  # our attempt draws a key Stripe already knows
    answer = pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method))
    assert answer.status == 402 and answer.error_code == "provider_refused"
    payment = only_payment(enrolled, bill_id)
    assert payment.status == "failed" and payment.attempt_id == used
    assert stripe_api.charges(reference=payment.payment_id) == []
    # Asked once with that key and refused; never asked again with another.
    assert [a["idempotency_key"] for a in stripe_api.attempts_for(payment.payment_id)] == [used]
    assert [i["amount"] for i in stripe_api.charges(reference="pay_elsewhere")] == [
        1
    ]  # only the earlier charge made with that key
    assert [e["operation"] for e in events if e.get("event") == "stripe_idempotency_error"] == [
        "create_payment_intent"
    ]
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}
    with pytest.raises(GatewayRejected):
        gateway.charge(
            provider_ref=provider_ref,
            customer_ref=customer_ref,
            amount=2,
            currency="EUR",
            reference="pay_elsewhere",
            idempotency_key=used,
        )


def test_the_gateway_is_built_from_the_settings_secret_sources_and_never_logs_the_key(
    api, billed, fake_stripe, monkeypatch, events, tmp_path
):
    """PAYMENT_GATEWAY=stripe: the key read from its source (env: here; file: below), the client
    pointed at STRIPE_API_BASE. Mutation: ignore stripe_api_base → the fake sees no request."""
    fake_stripe.reset()
    monkeypatch.setenv("TEST_STRIPE_KEY", fake_stripe.api_key)
    hook = tmp_path / "whsec"
    hook.write_text(fake_stripe.webhook_secret + "\n")
    settings = dataclasses.replace(
        get_settings(),
        payment_gateway="stripe",
        stripe_secret_key="env:TEST_STRIPE_KEY",
        stripe_webhook_secret=f"file:{hook}",
        stripe_api_base=fake_stripe.url,
    )
    monkeypatch.setattr(gateway_module, "get_settings", lambda: settings)
    previous = install_gateway(None)
    try:
        built = gateway_module.get_gateway()
        assert built.name == "stripe" and gateway_module.get_gateway() is built and "sk_" not in repr(built)
        enrolled, bill_id, method = billed(token="pm_card_visa")
        assert pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method)).status == 201
        assert ("POST", "/v1/payment_intents") in fake_stripe.requests
        intent = fake_stripe.charges(reference=only_payment(enrolled, bill_id).payment_id)[0]
        payload, headers = fake_stripe.event(intent["id"])
        assert (
            api.post("/webhooks/stripe", raw=payload, headers=headers).status == 200
        )  # the secret from file: verifies
    finally:
        install_gateway(previous)
    assert not [
        e for e in events if fake_stripe.api_key in e["_raw"] or fake_stripe.webhook_secret in e["_raw"]
    ]


def test_secret_sources_and_their_errors_never_show_the_value(tmp_path, monkeypatch):
    monkeypatch.setenv("SOME_SECRET", "sk_live_do_not_show")
    assert read_secret("env:SOME_SECRET") == "sk_live_do_not_show"
    (tmp_path / "k").write_text("  sk_file_value \n")
    assert read_secret(f"file:{tmp_path / 'k'}") == "sk_file_value"
    for source in ("env:ABSENT_SECRET_VAR", f"file:{tmp_path / 'missing'}", "vault:x", "env:"):
        with pytest.raises(ServiceMisconfigured) as error:
            read_secret(source)
        assert "sk_" not in error.value.message


# --- the webhook route ---------------------------------------------------------------------------


def _pending_with_intent(api, billed, stripe_api, card):
    """A payment left pending (our call timed out) whose intent then reached its outcome."""
    enrolled, bill_id, method = billed(token=card)
    stripe_api.hold_next()
    assert pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method)).status == 503
    stripe_api.release()
    payment = only_payment(enrolled, bill_id)
    [intent] = wait_for(lambda: stripe_api.charges(reference=payment.payment_id))
    assert [a["idempotency_key"] for a in stripe_api.attempts_for(payment.payment_id)] == [payment.attempt_id]
    return enrolled, bill_id, payment, intent


def test_a_signed_succeeded_event_settles_the_payment_at_once_and_a_replay_is_harmless(
    api, billed, stripe_api
):
    enrolled, bill_id, payment, intent = _pending_with_intent(api, billed, stripe_api, "pm_card_visa")
    assert only_payment(enrolled, bill_id).status == "pending"
    payload, headers = stripe_api.event(intent["id"])
    for _ in range(2):
        answer = api.post("/webhooks/stripe", raw=payload, headers=headers)
        assert answer.status == 200 and answer.body == {"received": True, "handled": True}
    settled = only_payment(enrolled, bill_id)
    assert settled.status == "succeeded" and settled.charge_id == intent["id"] and settled.refund_id is None
    assert balance(api, enrolled, bill_id) == {"balance": 0, "available": 0}
    alerts = [
        i
        for i in api.get("/me/inbox", token=enrolled.token).body["items"]
        if i["kind"] == "billing.payment_succeeded"
    ]
    assert len(alerts) == 1 and stripe_api.refund_attempts == []


def test_a_signed_failed_event_fails_the_payment_and_releases_the_amount(api, billed, stripe_api):
    enrolled, bill_id, payment, intent = _pending_with_intent(
        api, billed, stripe_api, "pm_card_chargeDeclinedInsufficientFunds"
    )
    payload, headers = stripe_api.event(intent["id"])
    assert api.post("/webhooks/stripe", raw=payload, headers=headers).body == {
        "received": True,
        "handled": True,
    }
    failed = only_payment(enrolled, bill_id)
    assert failed.status == "failed" and failed.failure_code == "insufficient_funds"
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}


def test_bad_absent_or_stale_signatures_are_400_and_change_nothing(api, billed, stripe_api):
    """Mutation: skip verification (construct_event_without_verification) → 200 and a paid bill."""
    enrolled, bill_id, payment, intent = _pending_with_intent(api, billed, stripe_api, "pm_card_visa")
    payload, headers = stripe_api.event(intent["id"])
    forged = stripe_api.sign(payload, secret="whsec_someone_else")
    stale_payload, stale_headers = stripe_api.event(intent["id"], timestamp=int(time.time()) - 6 * 60)
    tampered = payload.replace(b'"amount": 1800', b'"amount": 1')
    attempts = [
        (payload, {"Content-Type": "application/json"}),  # no signature
        (payload, {**headers, "Stripe-Signature": forged}),
        (payload, {**headers, "Stripe-Signature": "garbage"}),
        (stale_payload, stale_headers),  # older than the 5 minutes of tolerance
        (tampered, headers),
        (b"\xff\xfe not json", {**headers, "Stripe-Signature": stripe_api.sign(b"\xff\xfe not json")}),
    ]
    for body, sent in attempts:
        answer = api.post("/webhooks/stripe", raw=body, headers=sent)
        assert answer.status == 400 and answer.error_code == "invalid_signature", (sent, answer.body)
    assert only_payment(enrolled, bill_id).status == "pending"
    assert (
        api.post("/webhooks/stripe", raw=payload, headers=headers).status == 200
    )  # the genuine one still works


def test_other_events_are_acknowledged_and_ignored(api, stripe_api):
    payload = b'{"id": "evt_1", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1", "object": "customer"}}}'
    answer = api.post("/webhooks/stripe", raw=payload, headers={"Stripe-Signature": stripe_api.sign(payload)})
    assert answer.status == 200 and answer.body == {"received": True, "handled": False}


def test_with_the_sandbox_no_event_verifies(api, sandbox):
    """The suite's own gateway (and the fuzzing's): the route refuses with a 400, never a 5xx."""
    answer = api.post(
        "/webhooks/stripe",
        {"id": "evt_1", "type": "payment_intent.succeeded"},
        headers={"Stripe-Signature": "t=1,v1=00"},
    )
    assert answer.status == 400 and answer.error_code == "invalid_signature"
