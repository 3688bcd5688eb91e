"""Money adds up: the provider's idempotency key is a random attempt id of ours, never built from
client input; payment ids cannot cross customers or namespaces; settlement checks the provider's
charge against the payment before a bill is ever marked paid."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, timedelta

import pytest

from chalicelib.billing import payments
from chalicelib.billing.gateway import GatewayRejected, install_gateway
from chalicelib.billing.sandbox_gateway import SandboxGateway
from chalicelib.common.clock import now
from chalicelib.common.secrets import new_id
from tests.billing.conftest import balance, bill_document, confirm, only_payment, pay
from tests.support.stepup import add_card, set_autopay


def test_a_client_key_in_the_autopay_pattern_cannot_settle_another_bill(api, app_module, enrol, sandbox):
    """The exploit measured on main: paying a 0.01 EUR bill with Idempotency-Key `autopay:<other
    bill>` made autopay find "its" charge (the cent) and mark the 480.00 EUR bill paid. Mutations
    that bring it back: autopay's payment id in the client namespace plus the payment id as the
    provider's key, or settlement without the amount check."""
    enrolled = enrol()
    method = add_card(api, enrolled).body["payment_method_id"]
    number = enrolled.customer["customer_number"]
    small = bill_document(number, total_items=(1, 0))
    big = bill_document(number, total_items=(40000, 8000), due=date.today())
    assert len(app_module.import_bills({"bills": [small, big]}, None)["imported"]) == 2
    assert set_autopay(api, enrolled, True).status == 200

    cent = pay(
        api,
        enrolled,
        small["bill_id"],
        confirm(api, enrolled, small["bill_id"], 1, method),
        key=f"autopay:{big['bill_id']}",
    )
    assert cent.status == 201 and cent.body["amount"] == {"amount": 1, "currency": "EUR"}

    assert payments.autopay()[big["bill_id"]] == "succeeded"
    autopaid = only_payment(enrolled, big["bill_id"])
    assert autopaid.payment_id != cent.body["payment_id"] and autopaid.initiated_by == "autopay"
    # The 480.00 EUR bill was paid by a 480.00 EUR charge asked for it, nothing else.
    assert [(a.amount, a.idempotency_key) for a in sandbox.attempts_for(autopaid.payment_id)] == [
        (48000, autopaid.attempt_id)
    ]
    charge = sandbox.get_charge(idempotency_key=autopaid.attempt_id)
    assert charge is not None and charge.amount == 48000 and charge.reference == autopaid.payment_id
    assert balance(api, enrolled, big["bill_id"]) == {"balance": 0, "available": 0}
    assert balance(api, enrolled, small["bill_id"]) == {"balance": 0, "available": 0}


def test_payment_ids_are_scoped_to_their_namespace_and_customer():
    """Mutation: hash only the key (or customer + key) → the assertions of equality fail."""
    ids = {
        payments.payment_id_for(namespace="client", customer_id="C1", key="autopay:B1"),
        payments.payment_id_for(namespace="autopay", customer_id="C1", key="B1"),
        payments.payment_id_for(namespace="autopay", customer_id="C2", key="B1"),
        payments.payment_id_for(namespace="client", customer_id="C2", key="autopay:B1"),
        payments.payment_id_for(namespace="client", customer_id="C1|autopay", key="B1"),
    }
    assert len(ids) == 5
    assert payments.payment_id_for(
        namespace="client", customer_id="C1", key="k-12345678"
    ) == payments.payment_id_for(
        namespace="client", customer_id="C1", key="k-12345678"
    )  # a retry finds its payment


def test_the_provider_key_is_a_random_attempt_id_stored_on_the_payment(api, billed, sandbox):
    """Mutation: pass `idempotency_key=payment.payment_id` (derived from the client's key) to the
    gateway → the attempt's key is not the stored random attempt id."""
    key = f"k-{uuid.uuid4()}"
    mine, bill_id, method = billed()
    theirs, their_bill, their_method = billed()
    assert pay(api, mine, bill_id, confirm(api, mine, bill_id, 700, method), key=key).status == 201
    assert (
        pay(api, theirs, their_bill, confirm(api, theirs, their_bill, 700, their_method), key=key).status
        == 201
    )
    a, b = only_payment(mine, bill_id), only_payment(theirs, their_bill)
    assert a.payment_id != b.payment_id  # the same client key, two customers: two payments
    for payment in (a, b):
        [attempt] = sandbox.attempts_for(payment.payment_id)
        assert (
            attempt.idempotency_key == payment.attempt_id
            and payment.attempt_id.startswith("att_")
            and len(payment.attempt_id) == 36
        )
        assert attempt.idempotency_key not in (payment.payment_id, key) and key not in attempt.idempotency_key
    assert a.attempt_id != b.attempt_id


def test_the_sandbox_refuses_a_key_reused_with_other_parameters(sandbox):
    """The provider's own idempotency (as Stripe's): a reused key with another amount or reference
    is never a charge. Mutation: answer the first charge whatever the parameters → no error."""
    method = sandbox.create_method(provider_token="tok_visa", customer_id="C1", customer_ref=None)
    key = new_id("att", 16)
    first = sandbox.charge(
        provider_ref=method.provider_ref, amount=1, currency="EUR", reference="pay_cent", idempotency_key=key
    )
    again = sandbox.charge(
        provider_ref=method.provider_ref, amount=1, currency="EUR", reference="pay_cent", idempotency_key=key
    )
    assert again == first and first.status == "succeeded" and first.amount == 1
    with pytest.raises(GatewayRejected) as refused:
        sandbox.charge(
            provider_ref=method.provider_ref,
            amount=48000,
            currency="EUR",
            reference="pay_big",
            idempotency_key=key,
        )
    assert refused.value.code == "idempotency_key_reused"
    assert len([a for a in sandbox.attempts if a.idempotency_key == key]) == 3  # every call counted...
    assert sandbox.get_charge(reference="pay_big") is None  # ...one charge, and none for the other reference


class _Lying(SandboxGateway):
    """A provider whose answers do not match what was asked (one field at a time)."""

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def _bend(self, charge):
        if charge is None:
            return None
        bent = {"amount": charge.amount + 1, "currency": "USD", "reference": "pay_someone_else"}[self.field]
        return dataclasses.replace(charge, **{self.field: bent})

    def charge(self, **kwargs):
        return self._bend(super().charge(**kwargs))

    def get_charge(self, **kwargs):
        return self._bend(super().get_charge(**kwargs))


@pytest.mark.parametrize("field", ["amount", "currency", "reference"])
def test_a_charge_that_does_not_match_its_payment_never_pays_the_bill(
    api, billed, events, metrics_seen, field
):
    """Mutation: drop the check of this field in settlement._mismatch → the bill is paid."""
    enrolled, bill_id, method = billed()
    body = confirm(api, enrolled, bill_id, 1800, method)
    previous = install_gateway(_Lying(field))
    try:
        answer = pay(api, enrolled, bill_id, body)
        assert answer.status == 409 and answer.error_code == "payment_under_review"
        payment = only_payment(enrolled, bill_id)
        assert payment.status == "pending" and payment.charge_id is None
        assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 0}  # reserved, never paid
        # The sweeper sees the same charge: it stays pending, again logged and counted.
        assert payments.sweep(moment=now() + timedelta(minutes=11))[payment.payment_id] == "mismatch"
        assert only_payment(enrolled, bill_id).status == "pending"
        assert api.get(f"/bills/{bill_id}", token=enrolled.token).body["status"] == "open"
    finally:
        install_gateway(previous)
    mismatches = [e for e in events if e.get("event") == "payment_charge_mismatch"]
    ours = [e for e in mismatches if e["payment"] == payment.payment_id]
    assert [e["mismatch"] for e in ours] == [field, field] and [e["via"] for e in ours] == [
        "request",
        "sweep",
    ]
    assert metrics_seen.count("PaymentChargeMismatch") == len(
        mismatches
    )  # one per mismatch seen (the sweep sees everyone's)


def test_with_the_sandbox_a_charge_that_shows_up_after_the_payment_failed_is_refunded_once(
    api, billed, sandbox
):
    """`tok_unreachable`: the call never reaches the provider. Mutation: fail not-found payments
    whatever their age → failed at +3 min; drop the refund → no refund attempt."""
    enrolled, bill_id, method = billed(token="tok_unreachable")
    assert pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method)).status == 503
    payment = only_payment(enrolled, bill_id)
    assert payments.sweep(moment=now() + timedelta(minutes=3))[payment.payment_id] == "pending"
    assert payments.sweep(moment=now() + timedelta(minutes=11))[payment.payment_id] == "failed"
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}
    # The provider turns out to have made the charge after all (as a late, replayed call would).
    late = sandbox.charge(
        provider_ref="pm_sandbox_visa_00000000",
        amount=1800,
        currency="EUR",
        reference=payment.payment_id,
        idempotency_key=payment.attempt_id,
    )
    assert late.status == "succeeded"
    assert payments.sweep(moment=now() + timedelta(minutes=12))[payment.payment_id] == "refunded"
    assert payment.payment_id not in payments.sweep(moment=now() + timedelta(minutes=13))
    refunds = [a for a in sandbox.refund_attempts if a.charge_id == late.charge_id]
    assert [(r.amount, r.idempotency_key) for r in refunds] == [(1800, f"refund_{payment.attempt_id}")]
    refunded = only_payment(enrolled, bill_id)
    assert (
        refunded.status == "failed"
        and refunded.refunded_amount == 1800
        and refunded.failure_code == "charge_refunded"
    )
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}
