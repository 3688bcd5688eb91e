"""Paying a bill: confirmed with a passkey bound to the transaction, charged exactly once.

1. `challenge` stores a step-up challenge whose bytes commit to (bill, amount, currency, method)
   and answers WebAuthn request options listing the customer's passkeys (5 minutes).
2. `pay` runs once per Idempotency-Key (see idempotency.py). The payment's id is derived from the
   customer and the key, so a retried or resumed request finds the same payment. It consumes the
   challenge, checks that it was for this exact transaction, verifies the assertion with one of
   the customer's passkeys, then creates the payment `pending` while reserving the amount on the
   bill (`available`, conditional: concurrent payments never exceed the balance), charges the
   provider with the payment id as the provider's idempotency key, and moves the payment to
   `succeeded` (with the bill's balance and status, in the same transaction) or `failed` (the
   reservation released).
3. If the provider does not answer, the payment stays `pending`: a retry with the same key, or the
   sweeper (every 5 minutes), asks the provider for the charge made with that key and finishes it:
   never a second charge.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from chalicelib.auth import challenges, passkeys
from chalicelib.billing import bills, idempotency, methods
from chalicelib.billing.gateway import Charge, GatewayTimeout, get_gateway
from chalicelib.common.clock import iso, now
from chalicelib.errors import Conflict, NotFound, PaymentFailed, TemporarilyUnavailable, Unauthenticated, ValidationFailed
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import Bill, Notice, Passkey, Payment, PaymentMethod, customer_pk

SWEEP_AFTER = timedelta(minutes=2)
STUCK_AFTER = timedelta(minutes=15)

DECLINES = {
    "card_declined": ("Votre banque a refusé le paiement. Essayez une autre carte ou contactez votre banque.",
                      "Your bank declined the payment. Try another card or contact your bank."),
    "insufficient_funds": ("Provision insuffisante sur cette carte. Essayez une autre carte ou un montant plus petit.",
                           "Insufficient funds on this card. Try another card or a smaller amount."),
    "not_charged": ("Le paiement n'a pas pu aboutir et rien n'a été prélevé. Vous pouvez réessayer.",
                    "The payment could not go through and nothing was charged. You can try again."),
}


def binding(*, bill_id: str, amount: int, currency: str, method_id: str) -> str:
    return json.dumps({"bill": bill_id, "amount": amount, "currency": currency, "method": method_id}, sort_keys=True, separators=(",", ":"))


def _payable(customer_id: str, bill_id: str, amount: int, method_id: str, *, bill: Bill | None = None) -> tuple[Bill, PaymentMethod]:
    """The bill (read here unless given) and the method, if `amount` may be paid with it now."""
    if bill is None:
        bill, _ = bills.get_bill(customer_id=customer_id, bill_id=bill_id)
    method = methods.get_owned(customer_id, method_id)
    if bill.status == "paid" or int(bill.balance) == 0:
        raise Conflict("This bill is already paid.", code="bill_already_paid")
    if amount < 1:
        raise ValidationFailed("The amount must be at least 1 (minor units).", code="invalid_amount")
    if amount > int(bill.available):
        raise ValidationFailed(f"The amount is more than what is left to pay ({int(bill.available)} {bill.currency}).", code="amount_exceeds_balance")
    return bill, method


def challenge(*, customer_id: str, bill_id: str, amount: int, method_id: str) -> dict[str, Any]:
    from chalicelib.auth import ceremonies

    bill, _ = _payable(customer_id, bill_id, amount, method_id)
    bound = binding(bill_id=bill_id, amount=amount, currency=bill.currency, method_id=method_id)
    issued = challenges.issue(purpose=challenges.STEP_UP, customer_id=customer_id, binding=bound)
    allowed = [(p.credential_id, list(p.transports or [])) for p in Passkey.gsi1.query(customer_pk(customer_id), Passkey.GSI1SK.startswith("PASSKEY#"))]
    return {
        "challenge_id": issued.challenge_id,
        "options": ceremonies.step_up_options(challenge=issued.challenge, allow=allowed),
        "transaction": {"bill_id": bill_id, "amount": {"amount": amount, "currency": bill.currency}, "payment_method_id": method_id},
    }


def payment_id_for(customer_id: str, key: str) -> str:
    return "pay_" + hashlib.sha256(f"{customer_id}|{key}".encode()).hexdigest()[:24]


def pay(*, customer_id: str, bill_id: str, idempotency_key: str, amount: int, method_id: str, challenge_id: str,
        credential: dict[str, Any]) -> dict[str, Any]:
    fingerprint = hashlib.sha256(
        json.dumps({"bill": bill_id, "amount": amount, "method": method_id, "challenge": challenge_id, "credential": credential},
                   sort_keys=True).encode()
    ).hexdigest()
    return idempotency.run_once(
        customer_id=customer_id,
        key=idempotency_key,
        fingerprint=fingerprint,
        operation=lambda resumed: _pay(customer_id=customer_id, bill_id=bill_id, key=idempotency_key, amount=amount, method_id=method_id,
                                       challenge_id=challenge_id, credential=credential, resumed=resumed),
    )


def _pay(*, customer_id: str, bill_id: str, key: str, amount: int, method_id: str, challenge_id: str, credential: dict[str, Any],
         resumed: bool) -> dict[str, Any]:
    payment_id = payment_id_for(customer_id, key)
    if resumed:  # an earlier run of this key died: it may have created the payment already
        existing = _find(customer_id, bill_id, payment_id)
        if existing is not None:  # the step-up was checked when it was created
            return _finish(existing)
    bill, method = _payable(customer_id, bill_id, amount, method_id)
    spent = challenges.consume(challenge_id=challenge_id, purpose=challenges.STEP_UP)
    expected = binding(bill_id=bill_id, amount=amount, currency=bill.currency, method_id=method_id)
    if spent.customer_id != customer_id or spent.binding != expected:
        log_event("payment_refused", customer_id=customer_id, reason="challenge_for_another_transaction")
        raise Unauthenticated("This confirmation was for another payment: confirm this one again.", code="step_up_mismatch")
    passkeys.confirm(customer_id=customer_id, challenge=spent.challenge, credential=credential)
    payment = _create(customer_id=customer_id, bill=bill, payment_id=payment_id, amount=amount, method_id=method_id, initiated_by="customer")
    return _finish(payment, method=method, bill=bill)


def _find(customer_id: str, bill_id: str, payment_id: str) -> Payment | None:
    try:
        return Payment.get(customer_pk(customer_id), f"BILL#{bill_id}#PAY#{payment_id}", consistent_read=True)
    except Payment.DoesNotExist:
        return None


def _create(*, customer_id: str, bill: Bill, payment_id: str, amount: int, method_id: str, initiated_by: str) -> Payment:
    moment = iso(now())
    payment = Payment(
        customer_pk(customer_id), f"BILL#{bill.bill_id}#PAY#{payment_id}",
        GSI1PK="PAYMENTS#PENDING", GSI1SK=f"{moment}#{customer_id}#{bill.bill_id}#{payment_id}",
        payment_id=payment_id, bill_id=bill.bill_id, customer_id=customer_id, amount=amount, currency=bill.currency,
        method_id=method_id, status="pending", initiated_by=initiated_by, created_at=moment, updated_at=moment,
    )
    try:
        with transaction() as tx:
            tx.save(payment, condition=Payment.PK.does_not_exist(), label="new")
            # Reserve the amount: two payments in flight can never take more than the balance.
            tx.update(bill, actions=[Bill.available.add(-amount)], condition=Bill.available >= amount, label="available")
    except ConditionsFailed as failed:
        if "new" in failed.labels:
            found = _find(customer_id, bill.bill_id, payment_id)
            if found is not None:
                return found
        raise ValidationFailed("The amount is more than what is left to pay.", code="amount_exceeds_balance") from None
    log_event("payment_created", customer_id=customer_id, payment=payment_id, amount=amount)
    return payment


def _finish(payment: Payment, *, method: PaymentMethod | None = None, bill: Bill | None = None) -> dict[str, Any]:
    """Charge a pending payment and settle it. `method` and `bill` as already read by this request
    (the bill as it was before the reservation; its balance is re-read only if it moved)."""
    if payment.status == "pending":
        method = method or methods.get_owned(payment.customer_id, payment.method_id)
        try:
            charge = get_gateway().charge(provider_ref=method.provider_ref, amount=int(payment.amount), currency=payment.currency,
                                          idempotency_key=payment.payment_id)
        except GatewayTimeout:
            log_event("payment_provider_timeout", customer_id=payment.customer_id, payment=payment.payment_id)
            raise TemporarilyUnavailable("The payment provider is slow to answer: retry with the same Idempotency-Key; you will not be charged twice.") from None
        payment = _settle(payment, charge, bill=bill)
    if payment.status == "failed":
        raise PaymentFailed(payment.failure_message or "The payment failed.", code=payment.failure_code or "payment_failed")
    return bills.payment_to_wire(payment)


def _settle(payment: Payment, charge: Charge | None, *, bill: Bill | None = None) -> Payment:
    """pending → succeeded | failed, with the bill, in one transaction; idempotent."""
    pk = customer_pk(payment.customer_id)
    bill = bill or Bill.get(pk, f"BILL#{payment.bill_id}#0", consistent_read=True)
    moment = iso(now())
    amount = int(payment.amount)
    succeeded = charge is not None and charge.status == "succeeded"
    try:
        with transaction() as tx:
            common = [Payment.updated_at.set(moment), Payment.GSI1PK.remove(), Payment.GSI1SK.remove()]
            if succeeded:
                left = int(bill.balance) - amount
                tx.update(payment, actions=[Payment.status.set("succeeded"), Payment.charge_id.set(charge.charge_id), *common],
                          condition=Payment.status == "pending", label="pending")
                tx.update(bill, actions=[Bill.balance.set(left), Bill.status.set("paid" if left == 0 else "open"),
                                         *([Bill.paid_at.set(moment)] if left == 0 else [])],
                          condition=Bill.balance == int(bill.balance), label="balance")
                if left == 0:
                    tx.delete(Notice(pk, f"NOTICE#BILLDUE#{payment.bill_id}"))
                tx.delete(Notice(pk, f"NOTICE#PAYFAIL#{payment.bill_id}"))
            else:
                code = (charge.decline_code if charge else None) or "not_charged"
                fr, en = DECLINES.get(code, DECLINES["card_declined"])
                tx.update(payment, actions=[Payment.status.set("failed"), Payment.failure_code.set(code), Payment.failure_message.set(en), *common],
                          condition=Payment.status == "pending", label="pending")
                tx.update(bill, actions=[Bill.available.add(amount)])  # the reservation goes back
                tx.save(Notice(pk, f"NOTICE#PAYFAIL#{payment.bill_id}", notice_kind="payment_failed", customer_id=payment.customer_id,
                               bill_id=payment.bill_id, amount=amount, currency=payment.currency, message=en))
    except ConditionsFailed as failed:
        if "balance" in failed.labels:
            return _settle(payment, charge)  # the balance moved (another payment settled): re-read it
        return Payment.get(payment.PK, payment.SK, consistent_read=True)  # settled by another run
    settled = _settled_copy(payment, charge, moment)
    _tell(settled)
    log_event("payment_settled", customer_id=payment.customer_id, payment=payment.payment_id, status=settled.status)
    emit("PaymentSucceeded" if settled.status == "succeeded" else "PaymentFailed")
    return settled


def _settled_copy(payment: Payment, charge: Charge | None, moment: str) -> Payment:
    """The payment as the transaction just wrote it (no read back)."""
    payment.updated_at, payment.GSI1PK, payment.GSI1SK = moment, None, None
    if charge is not None and charge.status == "succeeded":
        payment.status, payment.charge_id = "succeeded", charge.charge_id
    else:
        code = (charge.decline_code if charge else None) or "not_charged"
        payment.status, payment.failure_code, payment.failure_message = "failed", code, DECLINES.get(code, DECLINES["card_declined"])[1]
    return payment


def _tell(payment: Payment) -> None:
    amount = bills.format_money(int(payment.amount), payment.currency)
    if payment.status == "succeeded":
        inbox.notify(customer_id=payment.customer_id, kind="billing.payment_succeeded",
                     data={"bill_id": payment.bill_id, "payment_id": payment.payment_id, "amount": amount},
                     dedup_key=f"payment:{payment.payment_id}:succeeded")
    else:
        fr, en = DECLINES.get(payment.failure_code or "", DECLINES["card_declined"])
        inbox.notify(customer_id=payment.customer_id, kind="billing.payment_failed",
                     data={"bill_id": payment.bill_id, "payment_id": payment.payment_id, "amount": amount, "reason_fr": fr, "reason_en": en},
                     dedup_key=f"payment:{payment.payment_id}:failed")


def sweep(*, moment: datetime | None = None) -> dict[str, str]:
    """Finish payments left pending (a crash or timeout after the provider's charge): ask the
    provider what happened with the payment's key, never charge again."""
    moment = moment or now()
    done: dict[str, str] = {}
    stuck = 0
    for item in Payment.gsi1.query("PAYMENTS#PENDING", Payment.GSI1SK < iso(moment - SWEEP_AFTER)):
        stuck += item.GSI1SK < iso(moment - STUCK_AFTER)
        payment = Payment.get(item.PK, item.SK, consistent_read=True)
        if payment.status != "pending":
            continue
        charge = get_gateway().get_charge(idempotency_key=payment.payment_id)
        done[payment.payment_id] = _settle(payment, charge).status
    emit("PaymentsStuckPending", stuck)  # an alarm fires above 0: the provider keeps not answering
    return done


def autopay(*, today: datetime | None = None) -> dict[str, str]:
    """Pay, with the default method, the bills due today of customers who chose autopay; once each
    (the payment id is derived from the bill, whatever the number of runs)."""
    from chalicelib.store.models import BillingSettings

    day = (today or now()).date().isoformat()
    outcomes: dict[str, str] = {}
    for notice in Notice.gsi1.query(f"DUE#{day}"):
        try:
            settings = BillingSettings.get(customer_pk(notice.customer_id), "SETTINGS#BILLING")
        except BillingSettings.DoesNotExist:
            continue
        if not settings.autopay or not settings.default_method_id:
            continue
        payment_id = payment_id_for(notice.customer_id, f"autopay:{notice.bill_id}")
        try:
            existing = _find(notice.customer_id, notice.bill_id, payment_id)
            if existing is None:
                bill, _ = bills.get_bill(customer_id=notice.customer_id, bill_id=notice.bill_id)
                bill, method = _payable(notice.customer_id, notice.bill_id, int(bill.available), settings.default_method_id, bill=bill)
                existing = _create(customer_id=notice.customer_id, bill=bill, payment_id=payment_id, amount=int(bill.available),
                                   method_id=settings.default_method_id, initiated_by="autopay")
                outcomes[notice.bill_id] = _finish(existing, method=method, bill=bill)["status"]
            else:
                outcomes[notice.bill_id] = _finish(existing)["status"]
        except (PaymentFailed, Conflict, ValidationFailed, NotFound, TemporarilyUnavailable) as error:
            outcomes[notice.bill_id] = error.code
    return outcomes
