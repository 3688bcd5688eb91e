"""The settlement writes the payment, the bill, the bill's due notice and the customer's alert in one
transaction (issue 17: a payment's alert costs no call of its own, nor its language a GetItem); the
notice's and the alert's writes are made only while still due, and never hold the settlement back."""

from __future__ import annotations

import uuid
from typing import Any

from tests.billing.conftest import balance, confirm, pay


def _speaks(customer_id: str, language: str) -> None:
    from chalicelib.store.models import Customer, customer_pk

    Customer(customer_pk(customer_id), "PROFILE").update(actions=[Customer.language.set(language)])


def _notice_amount(customer_id: str, bill_id: str) -> int | None:
    from chalicelib.store.models import Notice, customer_pk

    try:
        notice = Notice.get(customer_pk(customer_id), f"NOTICE#BILLDUE#{bill_id}", consistent_read=True)
    except Notice.DoesNotExist:
        return None
    return int(notice.amount)


def _alerts(api: Any, enrolled: Any, kind: str) -> list[dict[str, Any]]:
    items = api.get("/me/inbox", token=enrolled.token).body["items"]
    return [i for i in items if i["kind"] == kind]


def _unread(customer_id: str) -> int:
    from chalicelib.notifications import inbox

    return inbox.unread_count(customer_id=customer_id)


def test_a_part_payment_settles_notice_and_alert_in_one_transaction(api, billed, counted):
    """7.00 of 18.00 paid: four calls in all (the read, the payment's transaction, the sandbox
    provider's record, the settlement), the due notice says 11.00 and the alert is in the
    language read with the rest (English here). Mutations: update the notice after the
    settlement on its own → an UpdateItem → fails; drop "profile" from pay's read → a GetItem
    for the language → fails; a fixed "fr" → the alert says « 7,00 € » → fails."""
    enrolled, bill_id, method = billed()
    customer_id = enrolled.customer["customer_id"]
    _speaks(customer_id, "en")
    body = confirm(api, enrolled, bill_id, 700, method)
    with counted() as seen:
        paid = pay(api, enrolled, bill_id, body)
    assert paid.status == 201, paid.body
    assert dict(seen) == {"BatchGetItem": 1, "TransactWriteItems": 3}
    assert balance(api, enrolled, bill_id) == {"balance": 1100, "available": 1100}
    assert _notice_amount(customer_id, bill_id) == 1100
    (alert,) = _alerts(api, enrolled, "billing.payment_succeeded")
    assert alert["data"]["amount"] == "€7.00", alert


def _pending_payment(enrolled: Any, bill_id: str, method_id: str, amount: int) -> Any:
    """A payment created pending, its amount reserved, as the request leaves it before the charge."""
    from chalicelib.billing import bills, payments

    customer_id = enrolled.customer["customer_id"]
    bill, _ = bills.get_bill(customer_id=customer_id, bill_id=bill_id)
    payment_id = payments.payment_id_for(
        namespace=payments.CLIENT, customer_id=customer_id, key=str(uuid.uuid4())
    )
    return payments._create(
        customer_id=customer_id,
        bill=bill,
        payment_id=payment_id,
        amount=amount,
        method_id=method_id,
        initiated_by="customer",
    )


def _succeeded(payment: Any) -> Any:
    from chalicelib.billing.gateway import Charge

    return Charge(
        charge_id=f"ch_{uuid.uuid4().hex[:12]}",
        status="succeeded",
        amount=int(payment.amount),
        currency=payment.currency,
        reference=payment.payment_id,
    )


def test_an_alert_already_made_does_not_hold_the_settlement_back(api, billed):
    """The dedup marker of the payment's alert exists already: the settlement commits again
    without the alert (the payment succeeded, the bill paid), and no second alert is counted.
    Mutation: treat the "dedup" label as "settled by someone else" (drop the `_OPTIONAL` retry)
    → the payment stays pending → fails."""
    from chalicelib.billing import settlement
    from chalicelib.store.models import AlertDedup, Payment, customer_pk

    enrolled, bill_id, method = billed()
    customer_id = enrolled.customer["customer_id"]
    payment = _pending_payment(enrolled, bill_id, method, 1800)
    AlertDedup(
        customer_pk(customer_id),
        f"DEDUP#payment:{payment.payment_id}:succeeded",
        alert_id="alr_made_before",
        expires_at=2_000_000_000,
    ).save()
    before = _unread(customer_id)
    settled = settlement.settle(payment, _succeeded(payment), via="webhook")
    assert settled.status == "succeeded"
    assert Payment.get(payment.PK, payment.SK, consistent_read=True).status == "succeeded"
    assert balance(api, enrolled, bill_id) == {"balance": 0, "available": 0}
    assert _alerts(api, enrolled, "billing.payment_succeeded") == []
    assert _unread(customer_id) == before


def test_a_part_payment_never_writes_back_a_notice_already_gone(api, billed):
    """The bill's due notice was removed meanwhile: the part payment settles (alert included)
    and no notice is created. Mutations: drop `Notice.PK.exists()` from the notice's condition
    → a bare notice is created → fails; drop the `_OPTIONAL` retry → the payment stays pending →
    fails."""
    from chalicelib.billing import settlement
    from chalicelib.store.models import Notice, customer_pk

    enrolled, bill_id, method = billed()
    customer_id = enrolled.customer["customer_id"]
    Notice(customer_pk(customer_id), f"NOTICE#BILLDUE#{bill_id}").delete()
    payment = _pending_payment(enrolled, bill_id, method, 500)
    settled = settlement.settle(payment, _succeeded(payment), via="webhook")
    assert settled.status == "succeeded"
    assert balance(api, enrolled, bill_id) == {"balance": 1300, "available": 1300}
    assert _notice_amount(customer_id, bill_id) is None
    assert len(_alerts(api, enrolled, "billing.payment_succeeded")) == 1


def test_a_settlement_without_the_callers_language_reads_it_and_alerts_once(api, billed, counted):
    """The webhook's or the sweeper's settlement (no language given): the profile's language is
    read (one GetItem) and the alert goes in the settlement's transaction: two calls, one alert.
    Mutation: write the alert with `inbox.notify` after the commit → three calls → fails."""
    from chalicelib.billing import settlement

    enrolled, bill_id, method = billed()
    customer_id = enrolled.customer["customer_id"]
    _speaks(customer_id, "en")
    payment = _pending_payment(enrolled, bill_id, method, 1800)
    charge = _succeeded(payment)
    with counted() as seen:
        settlement.settle(payment, charge, via="webhook")
    assert dict(seen) == {"GetItem": 2, "TransactWriteItems": 1}  # the bill and the profile
    (alert,) = _alerts(api, enrolled, "billing.payment_succeeded")
    assert alert["data"]["amount"] == "€18.00"
