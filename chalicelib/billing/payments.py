"""Paying a bill: confirmed with a passkey bound to the transaction, charged exactly once.

1. `challenge` stores a step-up challenge whose bytes commit to (bill, amount, currency, method)
   and answers WebAuthn request options listing the customer's passkeys (5 minutes), with a
   statement, in the customer's language, of what will be charged to which card.
2. `pay` runs once per Idempotency-Key (see idempotency.py). The payment's id derives from the
   customer and the key in the `client` namespace, so a retried or resumed request finds the same
   payment, and no client key can name another customer's payment or a system one (autopay's
   live in their own namespace). It consumes the challenge, checks that it was for this exact
   transaction, verifies the assertion with one of the customer's passkeys, then creates the
   payment `pending` with a random attempt id, while reserving the amount on the bill
   (`available`, conditional: concurrent payments never exceed the balance); charges the provider
   with the payment id as reference and the attempt id as the provider's idempotency key (never
   anything the client chose); and settles it (settlement.py: the charge is checked against the
   payment first).
3. If the provider does not answer, the payment stays `pending`: a retry with the same key (which
   charges again with the same attempt key only within CALL_WINDOW, and after that only asks), the
   provider's webhook, or the sweeper settles it: never a second charge.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any, TypedDict

from chalicelib.auth import challenges, passkeys
from chalicelib.billing import bills, idempotency, jobs, methods, settlement
from chalicelib.billing.gateway import GatewayMisconfigured, GatewayRejected, GatewayTimeout, get_gateway

# DECLINES and sweep are part of this module's API too: re-exported (`X as X`).
from chalicelib.billing.settlement import DECLINES as DECLINES
from chalicelib.billing.settlement import ChargeMismatch
from chalicelib.billing.settlement import sweep as sweep
from chalicelib.common.clock import iso, now
from chalicelib.common.secrets import new_id
from chalicelib.customers.language import customer_language
from chalicelib.errors import (
    Conflict,
    DomainError,
    NotFound,
    PaymentFailed,
    ServiceMisconfigured,
    TemporarilyUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from chalicelib.observability.log import log_event
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import (
    Bill,
    BillingSettings,
    Notice,
    Payment,
    PaymentMethod,
    customer_pk,
)

CLIENT, AUTOPAY = "client", "autopay"  # namespaces of payment ids


class PaymentRequest(TypedDict):
    """A customer's payment request, as the route hands it to `replay_finished` and `pay`."""

    customer_id: str
    bill_id: str
    idempotency_key: str
    amount: int
    method_id: str
    challenge_id: str
    credential: dict[str, Any]


def binding(*, bill_id: str, amount: int, currency: str, method_id: str) -> str:
    return json.dumps(
        {"bill": bill_id, "amount": amount, "currency": currency, "method": method_id},
        sort_keys=True,
        separators=(",", ":"),
    )


def _payable(
    customer_id: str, bill_id: str, amount: int, method_id: str, *, bill: Bill | None = None
) -> tuple[Bill, PaymentMethod]:
    """The bill (read here unless given) and the method, if `amount` may be paid with it now."""
    if bill is None:
        bill, _ = bills.get_bill(customer_id=customer_id, bill_id=bill_id)
    method = methods.get_owned(customer_id, method_id)
    if bill.status == "paid" or int(bill.balance) == 0:
        raise Conflict("This bill is already paid.", code="bill_already_paid")
    if amount < 1:
        raise ValidationFailed("The amount must be at least 1 (minor units).", code="invalid_amount")
    if amount > int(bill.available):
        left = bills.format_money(int(bill.available), bill.currency)
        raise ValidationFailed(
            f"The amount is more than what is left to pay ({left}).", code="amount_exceeds_balance"
        )
    return bill, method


def statement(*, amount: int, currency: str, method: PaymentMethod, language: str) -> str:
    """What the customer confirms, in their language: « 42,00 € seront prélevés sur visa •••• 4242 »."""
    total = bills.format_money(amount, currency, language=language)
    card = f"{method.brand} •••• {method.last4}"
    if language == "en":
        return f"{total} will be charged to {card}."
    return f"{total} seront prélevés sur {card}."


def challenge(*, customer_id: str, bill_id: str, amount: int, method_id: str) -> dict[str, Any]:
    bill, method = _payable(customer_id, bill_id, amount, method_id)
    bound = binding(bill_id=bill_id, amount=amount, currency=bill.currency, method_id=method_id)
    issued = challenges.issue(purpose=challenges.STEP_UP, customer_id=customer_id, binding=bound)
    return {
        "challenge_id": issued.challenge_id,
        "options": passkeys.step_up_options(customer_id=customer_id, challenge=issued.challenge),
        "transaction": {
            "bill_id": bill_id,
            "amount": {"amount": amount, "currency": bill.currency},
            "payment_method_id": method_id,
            "statement": statement(
                amount=amount, currency=bill.currency, method=method, language=customer_language(customer_id)
            ),
        },
    }


def payment_id_for(*, namespace: str, customer_id: str, key: str) -> str:
    """A payment's id from its idempotency key: domain-separated by namespace (`client`: the
    customer's Idempotency-Key; `autopay`: the bill id) and customer, so no client key can reach a
    system payment or another customer's. The provider never sees a key derived from this."""
    material = json.dumps([namespace, customer_id, key], separators=(",", ":"))
    return "pay_" + hashlib.sha256(material.encode()).hexdigest()[:24]


def _fingerprint(
    *, bill_id: str, amount: int, method_id: str, challenge_id: str, credential: dict[str, Any]
) -> str:
    return hashlib.sha256(
        json.dumps(
            {
                "bill": bill_id,
                "amount": amount,
                "method": method_id,
                "challenge": challenge_id,
                "credential": credential,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()


def replay_finished(
    *,
    customer_id: str,
    bill_id: str,
    idempotency_key: str,
    amount: int,
    method_id: str,
    challenge_id: str,
    credential: dict[str, Any],
) -> dict[str, Any] | None:
    """The answer of a finished payment request with this key and body (its error raised again),
    or None when the key is new or still running. For the route to call before the rate limit: a
    retry of a finished payment answers even when the customer's limit is spent."""
    fingerprint = _fingerprint(
        bill_id=bill_id, amount=amount, method_id=method_id, challenge_id=challenge_id, credential=credential
    )
    return idempotency.replay_finished(customer_id=customer_id, key=idempotency_key, fingerprint=fingerprint)


def pay(
    *,
    customer_id: str,
    bill_id: str,
    idempotency_key: str,
    amount: int,
    method_id: str,
    challenge_id: str,
    credential: dict[str, Any],
) -> dict[str, Any]:
    fingerprint = _fingerprint(
        bill_id=bill_id, amount=amount, method_id=method_id, challenge_id=challenge_id, credential=credential
    )
    return idempotency.run_once(
        customer_id=customer_id,
        key=idempotency_key,
        fingerprint=fingerprint,
        operation=lambda resumed: _pay(
            customer_id=customer_id,
            bill_id=bill_id,
            key=idempotency_key,
            amount=amount,
            method_id=method_id,
            challenge_id=challenge_id,
            credential=credential,
            resumed=resumed,
        ),
    )


def _pay(
    *,
    customer_id: str,
    bill_id: str,
    key: str,
    amount: int,
    method_id: str,
    challenge_id: str,
    credential: dict[str, Any],
    resumed: bool,
) -> dict[str, Any]:
    payment_id = payment_id_for(namespace=CLIENT, customer_id=customer_id, key=key)
    if resumed:  # an earlier run of this key died: it may have created the payment already
        existing = _find(customer_id, bill_id, payment_id)
        if existing is not None:  # the step-up was checked when it was created
            return _finish(existing, resumed=True)
    bill, method = _payable(customer_id, bill_id, amount, method_id)
    spent = challenges.consume(challenge_id=challenge_id, purpose=challenges.STEP_UP)
    expected = binding(bill_id=bill_id, amount=amount, currency=bill.currency, method_id=method_id)
    if spent.customer_id != customer_id or spent.binding != expected:
        log_event("payment_refused", customer_id=customer_id, reason="challenge_for_another_transaction")
        raise Unauthenticated(
            "This confirmation was for another payment: confirm this one again.", code="step_up_mismatch"
        )
    passkeys.confirm(customer_id=customer_id, challenge=spent.challenge, credential=credential)
    payment = _create(
        customer_id=customer_id,
        bill=bill,
        payment_id=payment_id,
        amount=amount,
        method_id=method_id,
        initiated_by="customer",
    )
    return _finish(payment, method=method, bill=bill)


def _find(customer_id: str, bill_id: str, payment_id: str) -> Payment | None:
    try:
        return Payment.get(customer_pk(customer_id), f"BILL#{bill_id}#PAY#{payment_id}", consistent_read=True)
    except Payment.DoesNotExist:
        return None


def _create(
    *, customer_id: str, bill: Bill, payment_id: str, amount: int, method_id: str, initiated_by: str
) -> Payment:
    moment = iso(now())
    payment = Payment(
        customer_pk(customer_id),
        f"BILL#{bill.bill_id}#PAY#{payment_id}",
        GSI1PK=settlement.PENDING,
        GSI1SK=f"{moment}#{customer_id}#{bill.bill_id}#{payment_id}",
        payment_id=payment_id,
        bill_id=bill.bill_id,
        customer_id=customer_id,
        amount=amount,
        currency=bill.currency,
        method_id=method_id,
        status="pending",
        initiated_by=initiated_by,
        created_at=moment,
        updated_at=moment,
        attempt_id=new_id("att", 16),  # the provider's idempotency key: random, ours, stored with the payment
    )
    try:
        with transaction() as tx:
            tx.save(payment, condition=Payment.PK.does_not_exist(), label="new")
            # Reserve the amount: two payments in flight can never take more than the balance.
            tx.update(
                bill,
                actions=[Bill.available.add(-amount)],
                condition=Bill.available >= amount,
                label="available",
            )
    except ConditionsFailed as failed:
        if "new" in failed.labels:
            found = _find(customer_id, bill.bill_id, payment_id)
            if found is not None:
                return found
        left = bills.format_money(max(int(bill.available), 0), bill.currency)
        raise ValidationFailed(
            f"The amount is more than what is left to pay ({left} at most).", code="amount_exceeds_balance"
        ) from None
    log_event("payment_created", customer_id=customer_id, payment=payment_id, amount=amount)
    return payment


def _finish(
    payment: Payment,
    *,
    method: PaymentMethod | None = None,
    bill: Bill | None = None,
    resumed: bool = False,
) -> dict[str, Any]:
    """Charge a pending payment (or, once its attempt is older than CALL_WINDOW, only ask the
    provider) and settle it. `method` and `bill` as already read by this request (the bill as it
    was before the reservation; its balance is re-read only if it moved)."""
    if payment.status == "pending":
        try:
            payment = _charge_and_settle(payment, method=method, bill=bill, resumed=resumed)
        except ChargeMismatch:
            raise Conflict(
                "We could not confirm this payment with the payment provider: it is being checked and you will be told the "
                "outcome. Do not pay again meanwhile.",
                code="payment_under_review",
            ) from None
    if payment.status == "pending":
        raise TemporarilyUnavailable(
            "The payment is still being processed: retry with the same Idempotency-Key in a moment; you will not "
            "be charged twice.",
            code="payment_processing",
        )
    if payment.status == "failed":
        raise PaymentFailed(
            payment.failure_message or "The payment failed.", code=payment.failure_code or "payment_failed"
        )
    return bills.payment_to_wire(payment)


def _charge_and_settle(
    payment: Payment, *, method: PaymentMethod | None, bill: Bill | None, resumed: bool = False
) -> Payment:
    if resumed:
        # An earlier run may have charged, then failed to record it: ask by the attempt's key
        # before charging, so the provider is asked to charge once per payment.
        try:
            found = get_gateway().get_charge(
                reference=payment.payment_id, idempotency_key=settlement.attempt_key(payment)
            )
        except GatewayTimeout:
            raise TemporarilyUnavailable(
                "The payment provider is slow to answer: retry with the same Idempotency-Key; you will not be "
                "charged twice."
            ) from None
        if found is not None:
            return settlement.settle(payment, found, via="request", bill=bill)
    if method is None and settlement.age(payment) < settlement.CALL_WINDOW:
        try:
            method = methods.get_owned(payment.customer_id, payment.method_id)
        except NotFound:
            method = None  # removed since: never charge it again, only ask
    if method is None or settlement.age(payment) >= settlement.CALL_WINDOW:
        try:
            return settlement.reconcile(payment, via="request")
        except GatewayTimeout:
            raise TemporarilyUnavailable(
                "The payment provider is slow to answer: retry with the same Idempotency-Key; you will not be "
                "charged twice."
            ) from None
    try:
        charge = get_gateway().charge(
            provider_ref=method.provider_ref,
            customer_ref=method.provider_customer_ref,
            amount=int(payment.amount),
            currency=payment.currency,
            reference=payment.payment_id,
            idempotency_key=settlement.attempt_key(payment),
            metadata=settlement.metadata(payment),
        )
    except GatewayTimeout:
        log_event("payment_provider_timeout", customer_id=payment.customer_id, payment=payment.payment_id)
        raise TemporarilyUnavailable(
            "The payment provider is slow to answer: retry with the same Idempotency-Key; you will not be "
            "charged twice."
        ) from None
    except GatewayRejected as rejected:
        # The provider refused the request itself (never a charge by it): the payment fails,
        # watched for a day like every failure without the provider's final word.
        log_event(
            "payment_provider_refused",
            level=logging.ERROR,
            customer_id=payment.customer_id,
            payment=payment.payment_id,
            code=rejected.code,
        )
        return settlement.settle(payment, None, via="request", bill=bill, reason="provider_refused")
    except GatewayMisconfigured:
        raise ServiceMisconfigured(
            "Payments are unavailable right now: nothing was charged; try again later."
        ) from None
    return settlement.settle(payment, charge, via="request", bill=bill)


def autopay(*, today: datetime | None = None) -> dict[str, str]:
    """Pay, with the default method, the bills due today of customers who chose autopay; once each
    (the payment's id derives from the bill in the autopay namespace, whatever the number of runs).
    Each bill on its own: one that fails is logged and the others are paid."""
    day = (today or now()).date().isoformat()
    outcomes: dict[str, str] = {}

    def one(raw: jobs.Raw) -> str | None:
        notice = Notice.from_raw_data(raw)
        try:
            settings = BillingSettings.get(customer_pk(notice.customer_id), "SETTINGS#BILLING")
        except BillingSettings.DoesNotExist:
            return None
        if not settings.autopay or not settings.default_method_id:
            return None
        payment_id = payment_id_for(namespace=AUTOPAY, customer_id=notice.customer_id, key=notice.bill_id)
        try:
            existing = _find(notice.customer_id, notice.bill_id, payment_id)
            if existing is not None:
                return str(_finish(existing)["status"])
            bill, _ = bills.get_bill(customer_id=notice.customer_id, bill_id=notice.bill_id)
            bill, method = _payable(
                notice.customer_id, notice.bill_id, int(bill.available), settings.default_method_id, bill=bill
            )
            created = _create(
                customer_id=notice.customer_id,
                bill=bill,
                payment_id=payment_id,
                amount=int(bill.available),
                method_id=settings.default_method_id,
                initiated_by="autopay",
            )
            return str(_finish(created, method=method, bill=bill)["status"])
        except DomainError as error:
            return error.code

    return jobs.each(
        "autopay",
        jobs.index_items(f"DUE#{day}"),
        one,
        key=lambda raw: jobs.text(raw, "bill_id"),
        into=outcomes,
    )
