"""Never "charged but unpaid": with the fake Stripe holding a charge while the sweeper runs, every
interleaving of the sweeper, the late answer, the webhook and the app's retry ends with the charge
either paying the bill or refunded, once."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from chalicelib.billing import payments
from chalicelib.billing.gateway import install_gateway
from chalicelib.billing.stripe_gateway import StripeGateway
from chalicelib.common.clock import now
from tests.billing.conftest import balance, confirm, only_payment, pay, wait_for


def _later(minutes: float):
    return now() + timedelta(minutes=minutes)


def _succeeded_intent(fake, payment_id):
    intents = wait_for(lambda: fake.charges(reference=payment_id, status="succeeded"))
    assert len(intents) == 1, intents
    return intents[0]


def _asked(fake, payment):
    """Every PaymentIntent creation asked for this payment: (amount, idempotency key)."""
    return [(int(a["amount"]), a["idempotency_key"]) for a in fake.attempts_for(payment.payment_id)]


def _refunds(fake, intent_id):
    return [r["amount"] for r in fake.refunds.values() if r["payment_intent"] == intent_id]


def test_a_held_charge_the_sweeper_gave_up_on_is_refunded_by_the_webhook(
    api, billed, stripe_api, metrics_seen
):
    """Mutations: settle a failed payment's late success as a no-op → no refund; give up on a
    pending payment without looking at its age → failed at +3 min."""
    enrolled, bill_id, method = billed(token="pm_card_visa")
    body, key = confirm(api, enrolled, bill_id, 1800, method), str(uuid.uuid4())
    stripe_api.hold_next()  # the provider holds the charge: our call times out (1 s)
    first = pay(api, enrolled, bill_id, body, key=key)
    assert first.status == 503 and first.headers.get("Retry-After")
    payment = only_payment(enrolled, bill_id)
    assert payment.status == "pending" and stripe_api.charges(reference=payment.payment_id) == []

    # Young: the call may still be in flight at the provider; the sweeper leaves it alone.
    assert payments.sweep(moment=_later(3))[payment.payment_id] == "pending"
    # Old enough, and still nothing at the provider: not charged. The reservation goes back.
    assert payments.sweep(moment=_later(11))[payment.payment_id] == "failed"
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}

    stripe_api.release()  # ...and then the held charge goes through
    intent = _succeeded_intent(stripe_api, payment.payment_id)
    assert intent["amount"] == 1800 and intent["metadata"]["attempt"] == payment.attempt_id
    payload, headers = stripe_api.event(intent["id"])
    answer = api.post("/webhooks/stripe", raw=payload, headers=headers)
    assert answer.status == 200 and answer.body == {"received": True, "handled": True}
    assert _refunds(stripe_api, intent["id"]) == [1800]
    refunded = only_payment(enrolled, bill_id)
    assert (
        refunded.status == "failed"
        and refunded.failure_code == "charge_refunded"
        and refunded.refunded_amount == 1800
    )
    assert refunded.refunded_charge_id == intent["id"]
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}
    assert metrics_seen.count("PaymentLateChargeRefunded") == 1

    # The webhook again (Stripe retries), the next sweep, the app's retry: still one refund.
    assert api.post("/webhooks/stripe", raw=payload, headers=headers).status == 200
    payments.sweep(moment=_later(12))
    retried = pay(api, enrolled, bill_id, body, key=key)
    assert retried.status == 402 and retried.error_code == "charge_refunded"
    assert _refunds(stripe_api, intent["id"]) == [1800] and len(stripe_api.refund_attempts) == 1
    # The provider was asked once for this payment: the sweeps and the webhook only looked.
    assert _asked(stripe_api, payment) == [(1800, payment.attempt_id)]
    # The bill can be paid again, for real.
    again = pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method))
    assert again.status == 201 and balance(api, enrolled, bill_id) == {"balance": 0, "available": 0}


def test_without_a_webhook_the_next_sweep_refunds_the_late_charge(api, billed, stripe_api):
    """Mutation: stop watching payments failed without the provider's word (remove them from the
    index when failing) → the late charge is never refunded."""
    enrolled, bill_id, method = billed(token="pm_card_visa")
    stripe_api.hold_next()
    assert pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method)).status == 503
    payment = only_payment(enrolled, bill_id)
    assert payments.sweep(moment=_later(11))[payment.payment_id] == "failed"
    stripe_api.release()
    intent = _succeeded_intent(stripe_api, payment.payment_id)
    assert payments.sweep(moment=_later(12))[payment.payment_id] == "refunded"
    assert _refunds(stripe_api, intent["id"]) == [1800]
    assert payment.payment_id not in payments.sweep(moment=_later(13))  # refunded: no longer watched
    assert len(stripe_api.refund_attempts) == 1
    assert _asked(stripe_api, payment) == [(1800, payment.attempt_id)]
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}


def test_the_late_answer_of_the_request_itself_refunds_when_the_sweeper_failed_the_payment(
    api, billed, stripe_api, fake_stripe
):
    """The request waits on the provider (long timeout) while the sweeper gives the payment up;
    the provider then answers "succeeded" to that very request. Mutation: `settle` ignoring a
    succeeded charge when the payment is no longer pending → charged, bill unpaid, no refund."""
    enrolled, bill_id, method = billed(token="pm_card_visa")
    body = confirm(api, enrolled, bill_id, 1800, method)
    install_gateway(
        StripeGateway(
            api_key=fake_stripe.api_key,
            webhook_secret=fake_stripe.webhook_secret,
            api_base=fake_stripe.url,
            timeout_s=20,
        )
    )
    stripe_api.hold_next()
    answers = []
    request = threading.Thread(target=lambda: answers.append(pay(api, enrolled, bill_id, body)))
    request.start()
    try:
        assert wait_for(lambda: stripe_api.attempts)  # the request is at the provider, held
        payment = only_payment(enrolled, bill_id)
        assert payments.sweep(moment=_later(11))[payment.payment_id] == "failed"
    finally:
        stripe_api.release()
        request.join(timeout=30)
    [answer] = answers
    assert answer.status == 402 and answer.error_code == "charge_refunded"
    intent = _succeeded_intent(stripe_api, payment.payment_id)
    assert _refunds(stripe_api, intent["id"]) == [1800]
    assert only_payment(enrolled, bill_id).refund_id
    assert _asked(stripe_api, payment) == [(1800, payment.attempt_id)]
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}


def test_a_charge_whose_answer_was_lost_pays_the_bill_through_the_sweeper(api, billed, stripe_api):
    """Charged at once, the answer held back (a lost reply). Mutation: charge again on the retry
    instead of finding the charge → two payment intents."""
    enrolled, bill_id, method = billed(token="pm_card_visa")
    body, key = confirm(api, enrolled, bill_id, 1800, method), str(uuid.uuid4())
    stripe_api.hold_next(when="after")
    assert pay(api, enrolled, bill_id, body, key=key).status == 503
    stripe_api.release()
    payment = only_payment(enrolled, bill_id)
    assert payments.sweep(moment=_later(3))[payment.payment_id] == "succeeded"
    retried = pay(api, enrolled, bill_id, body, key=key)
    assert retried.status == 201 and retried.body["status"] == "succeeded"
    assert _asked(stripe_api, payment) == [(1800, payment.attempt_id)] and len(stripe_api.attempts) == 1
    assert stripe_api.refund_attempts == []
    assert balance(api, enrolled, bill_id) == {"balance": 0, "available": 0}


def test_a_retry_while_the_charge_is_in_flight_never_charges_twice(api, billed, stripe_api):
    """The first call timed out while the provider still works on it: the retry with the same key
    meets the provider's 409 (503 for the app), then, once the charge went through, the same
    charge. Mutation: a new provider key on the retry → two payment intents."""
    enrolled, bill_id, method = billed(token="pm_card_visa")
    body, key = confirm(api, enrolled, bill_id, 1800, method), str(uuid.uuid4())
    stripe_api.hold_next()
    assert pay(api, enrolled, bill_id, body, key=key).status == 503
    assert pay(api, enrolled, bill_id, body, key=key).status == 503  # still in flight at the provider
    stripe_api.release()
    payment = only_payment(enrolled, bill_id)
    _succeeded_intent(stripe_api, payment.payment_id)
    retried = pay(api, enrolled, bill_id, body, key=key)
    assert retried.status == 201 and retried.body["status"] == "succeeded"
    # Asked to charge twice (the call, then the retry, which found nothing by the key yet and met
    # the provider's 409), always with the payment's one key; the last retry finds the charge by
    # its key and asks for nothing more: one PaymentIntent.
    assert _asked(stripe_api, payment) == [(1800, payment.attempt_id)] * 2 and len(stripe_api.attempts) == 2
    assert len(stripe_api.charges(reference=payment.payment_id)) == 1
    assert balance(api, enrolled, bill_id) == {"balance": 0, "available": 0}
