"""Settling payments with what the provider says: the one place where a payment leaves `pending`,
used alike by the request that charged, the provider's webhook and the sweeper.

- The provider's charge must be this payment's: same amount, currency and reference. Otherwise
  nothing is written (the payment stays pending, the bill untouched), `payment_charge_mismatch` is
  logged and PaymentChargeMismatch counted, for a person to look at.
- pending → succeeded (the bill's balance in the same transaction) | failed (the reservation
  released), by conditional writes: whoever settles first wins, the others read the outcome. The
  customer's alert and the bill's due notice are written by that same transaction: a payment is
  never settled untold, and its alert costs no call of its own.
- A succeeded charge for a payment that is no longer pending and was not settled with it (failed
  by the sweeper while the provider held the charge, which then went through) is refunded, once:
  the refund's idempotency key derives from the attempt. A charge always ends as a paid bill or a
  refund.
- "No charge found" means "not charged" only once the attempt is old enough that no call of ours
  can still be in flight and the provider's search has caught up (GIVE_UP_AFTER): requests stop
  calling `charge` for a payment after CALL_WINDOW and only ask. A payment failed that way stays
  watched for a day (GSI1 PAYMENTS#WATCH), so that a charge showing up late is refunded by the
  next sweep if the webhook did not do it first.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from chalicelib.billing import jobs
from chalicelib.billing.gateway import Charge, GatewayRejected, GatewayTimeout, get_gateway
from chalicelib.common.clock import iso, now
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, Transaction, transaction
from chalicelib.store.models import Bill, Customer, Notice, Payment, customer_pk

SWEEP_AFTER = timedelta(minutes=2)  # younger pending payments are their request's business
CALL_WINDOW = timedelta(minutes=2)  # after this, a resumed request asks the provider, never charges
GIVE_UP_AFTER = timedelta(
    minutes=10
)  # no charge found by then: not charged (calls ended long ago, search caught up)
STUCK_AFTER = timedelta(minutes=15)  # still pending: PaymentsStuckPending (an alarm)
WATCH_FOR = timedelta(hours=24)  # a payment failed without the provider's word is watched this long

PENDING, WATCH = "PAYMENTS#PENDING", "PAYMENTS#WATCH"
BILL_PAYMENT = "bill_payment"  # the `kind` in the provider's metadata of our bill payments

DECLINES = {
    "card_declined": (
        "Votre banque a refusé le paiement. Essayez une autre carte ou contactez votre banque.",
        "Your bank declined the payment. Try another card or contact your bank.",
    ),
    "insufficient_funds": (
        "Provision insuffisante sur cette carte. Essayez une autre carte ou un montant plus petit.",
        "Insufficient funds on this card. Try another card or a smaller amount.",
    ),
    "expired_card": (
        "Cette carte a expiré. Ajoutez votre nouvelle carte et réessayez.",
        "This card has expired. Add your new card and try again.",
    ),
    "authentication_required": (
        "Votre banque demande de confirmer ce paiement (3-D Secure) : payez depuis l'application pour le confirmer "
        "auprès de votre banque. Rien n'a été prélevé.",
        "Your bank wants you to confirm this payment (3-D Secure): pay from the app to confirm it with your bank. "
        "Nothing was charged.",
    ),
    "payment_method_unusable": (
        "Cette carte ne peut plus être utilisée. Ajoutez-la à nouveau ou choisissez-en une autre.",
        "This card can no longer be used. Add it again or choose another one.",
    ),
    "not_charged": (
        "Le paiement n'a pas pu aboutir et rien n'a été prélevé. Vous pouvez réessayer.",
        "The payment could not go through and nothing was charged. You can try again.",
    ),
    "charge_refunded": (
        "Le paiement n'a pas pu être confirmé à temps ; le montant prélevé a été remboursé. Vous pouvez réessayer.",
        "The payment could not be confirmed in time; the amount charged has been refunded. You can try again.",
    ),
}
# Failures decided without the provider's word on the charge (none found, or the request itself
# refused): a charge may still show up. A decline or a 3-D Secure request is the provider's word:
# that intent cannot succeed unless the customer confirms it, and then its webhook says so.
_WATCHED = {"not_charged", "provider_refused"}
# The labels of the settlement's writes that are due only if still so (the bill's due notice after
# a part payment, the alert): failing one, the settlement commits again without it.
_OPTIONAL = frozenset({"notice", "dedup"})


class Alongside(Protocol):
    """What the settling request writes in the settlement's own transaction (its Idempotency-Key's
    outcome: one call instead of two). `add` gets the payment as the transaction settles it;
    `committed` is called once that transaction has committed (not if it failed or was not sent)."""

    def add(self, tx: Transaction, settled: Payment) -> None: ...

    def committed(self) -> None: ...


class ChargeMismatch(Exception):
    """The provider's charge is not this payment's (amount, currency or reference): nothing settled."""


def attempt_key(payment: Payment) -> str:
    """The provider's idempotency key of the payment's one attempt (drawn at random at creation)."""
    return payment.attempt_id or payment.payment_id


def metadata(payment: Payment) -> dict[str, str]:
    """What the provider keeps beside the reference: enough for its webhook to find the payment."""
    return {"kind": BILL_PAYMENT, "customer_id": payment.customer_id, "bill_id": payment.bill_id}


def age(payment: Payment, moment: datetime | None = None) -> timedelta:
    return (moment or now()) - datetime.fromisoformat(payment.created_at.replace("Z", "+00:00"))


def _index_sk(payment: Payment) -> str:
    return f"{payment.created_at}#{payment.customer_id}#{payment.bill_id}#{payment.payment_id}"


def failure_code(charge: Charge | None) -> str:
    if charge is None:
        return "not_charged"
    if charge.status == "requires_action" or charge.decline_code == "authentication_required":
        return "authentication_required"
    return charge.decline_code if charge.decline_code in DECLINES else "card_declined"


def _mismatch(payment: Payment, charge: Charge) -> str | None:
    if charge.reference != payment.payment_id:
        return "reference"
    if charge.currency.upper() != payment.currency.upper():
        return "currency"
    if int(charge.amount) != int(payment.amount):
        return "amount"
    return None


def settle(
    payment: Payment,
    charge: Charge | None,
    *,
    via: str,
    bill: Bill | None = None,
    reason: str | None = None,
    alongside: Alongside | None = None,
    language: str | None = None,
    _without: frozenset[str] = frozenset(),
) -> Payment:
    """Record what the provider says of this payment's charge (None: no charge, decided by the
    caller). Idempotent; raises ChargeMismatch. `bill` as the caller read it (re-read if it moved);
    `alongside`: the caller's own writes, in the same transaction; `language`: the customer's, as
    the caller read it from the profile (read here when not given).

    One transaction settles the payment, moves the bill, updates the bill's due notice (a part
    paid: what is left) and writes the alert (inbox.notify_in). The notice's and the alert's
    conditions (label "notice": the notice is still there and shows more than what is left;
    "dedup": no such alert yet) only say whether those writes are still due: failing one, the
    settlement is committed again without it (`_without`)."""
    if charge is not None:
        problem = _mismatch(payment, charge)
        if problem is not None:
            log_event(
                "payment_charge_mismatch",
                level=logging.ERROR,
                customer_id=payment.customer_id,
                payment=payment.payment_id,
                charge=charge.charge_id,
                mismatch=problem,
                via=via,
                status=payment.status,
            )
            jobs.count("PaymentChargeMismatch")
            raise ChargeMismatch(problem)
        if charge.status == "processing":
            return payment  # the provider has not decided: its webhook or a later sweep will
    if payment.status != "pending":
        return _after_the_fact(payment, charge, via=via)
    pk = customer_pk(payment.customer_id)
    bill = bill or Bill.get(pk, f"BILL#{payment.bill_id}#0", consistent_read=True)
    if language is None and "dedup" not in _without:
        language = _language_of(payment.customer_id)
    moment = iso(now())
    amount = int(payment.amount)
    succeeded = charge is not None and charge.status == "succeeded"
    code = reason or failure_code(charge)
    settled = _settled(_copy(payment), charge, succeeded=succeeded, code=code, moment=moment)
    try:
        with transaction() as tx:
            if alongside is not None:
                alongside.add(tx, settled)
            if language is not None and "dedup" not in _without:
                # The customer hears of it with the settlement, never of a settlement left untold.
                inbox.notify_in(tx, customer_id=payment.customer_id, language=language, **_alert(settled))
            if succeeded:
                assert charge is not None  # noqa: S101 - narrows the type: succeeded implies a charge
                left = int(bill.balance) - amount
                tx.update(
                    payment,
                    actions=[
                        Payment.status.set("succeeded"),
                        # None is stored as NULL (read back as None): pynamodb types set() without it.
                        Payment.charge_id.set(charge.charge_id),  # type: ignore[arg-type]
                        Payment.updated_at.set(moment),
                        Payment.GSI1PK.remove(),
                        Payment.GSI1SK.remove(),
                    ],
                    condition=Payment.status == "pending",
                    label="pending",
                )
                tx.update(
                    bill,
                    actions=[
                        Bill.balance.set(left),
                        Bill.status.set("paid" if left == 0 else "open"),
                        *([Bill.paid_at.set(moment)] if left == 0 else []),
                    ],
                    condition=Bill.balance == int(bill.balance),
                    label="balance",
                )
                if left == 0:
                    tx.delete(Notice(pk, f"NOTICE#BILLDUE#{payment.bill_id}"))
                elif "notice" not in _without:
                    # A part paid: the due notice (what GET /me shows as due, and whether an
                    # arrangement is offered) says what is left; a notice already gone is not
                    # written back, nor one a later settlement lowered further.
                    tx.update(
                        Notice(pk, f"NOTICE#BILLDUE#{payment.bill_id}"),
                        actions=[Notice.amount.set(left)],
                        condition=Notice.PK.exists() & (Notice.amount > left),
                        label="notice",
                    )
                tx.delete(Notice(pk, f"NOTICE#PAYFAIL#{payment.bill_id}"))
            else:
                fr, en = DECLINES.get(code, DECLINES["not_charged"])
                # Failed without the provider's final word: watched for a day, for a late charge.
                index = (
                    [Payment.GSI1PK.set(WATCH), Payment.GSI1SK.set(_index_sk(payment))]
                    if code in _WATCHED
                    else [Payment.GSI1PK.remove(), Payment.GSI1SK.remove()]
                )
                declined = (
                    [Payment.charge_id.set(charge.charge_id)]
                    if charge is not None and charge.charge_id
                    else []
                )
                tx.update(
                    payment,
                    actions=[
                        Payment.status.set("failed"),
                        Payment.failure_code.set(code),
                        Payment.failure_message.set(en),
                        *declined,
                        Payment.updated_at.set(moment),
                        *index,
                    ],
                    condition=Payment.status == "pending",
                    label="pending",
                )
                tx.update(bill, actions=[Bill.available.add(amount)])  # the reservation goes back
                tx.save(
                    Notice(
                        pk,
                        f"NOTICE#PAYFAIL#{payment.bill_id}",
                        notice_kind="payment_failed",
                        customer_id=payment.customer_id,
                        bill_id=payment.bill_id,
                        amount=amount,
                        currency=payment.currency,
                        message=en,
                    )
                )
    except ConditionsFailed as failed:
        if "balance" in failed.labels and "pending" not in failed.labels:
            # The balance moved (another payment settled): re-read it.
            return settle(
                payment,
                charge,
                via=via,
                reason=reason,
                alongside=alongside,
                language=language,
                _without=_without,
            )
        if failed.labels <= _OPTIONAL:
            # Only the notice's or the alert's condition: those writes are not due (any more).
            return settle(
                payment,
                charge,
                via=via,
                bill=bill,
                reason=reason,
                alongside=alongside,
                language=language,
                _without=_without | failed.labels,
            )
        current = Payment.get(
            payment.PK, payment.SK, consistent_read=True
        )  # settled by someone else meanwhile
        return _after_the_fact(current, charge, via=via)
    if alongside is not None:
        alongside.committed()
    _settled(payment, charge, succeeded=succeeded, code=code, moment=moment)
    log_event(
        "payment_settled",
        customer_id=payment.customer_id,
        payment=payment.payment_id,
        status=payment.status,
        via=via,
        code=None if succeeded else code,
    )
    emit("PaymentSucceeded" if succeeded else "PaymentFailed")
    return payment


def _copy(payment: Payment) -> Payment:
    return Payment.from_raw_data(payment.serialize())


def _settled(payment: Payment, charge: Charge | None, *, succeeded: bool, code: str, moment: str) -> Payment:
    """`payment` (changed in place) as the settlement's transaction leaves it."""
    if succeeded:
        assert charge is not None  # noqa: S101 - narrows the type: succeeded implies a charge
        payment.status, payment.charge_id = "succeeded", charge.charge_id
    else:
        payment.status, payment.failure_code, payment.failure_message = (
            "failed",
            code,
            DECLINES.get(code, DECLINES["not_charged"])[1],
        )
        payment.charge_id = charge.charge_id if charge is not None and charge.charge_id else payment.charge_id
    payment.updated_at = moment
    return payment


def _after_the_fact(payment: Payment, charge: Charge | None, *, via: str) -> Payment:
    """The payment was settled already: nothing to do, unless a succeeded charge that is not the
    one it was settled with shows up (it failed meanwhile): that charge is refunded."""
    if charge is None or charge.status != "succeeded":
        return payment
    if payment.status == "succeeded" and payment.charge_id == charge.charge_id:
        return payment
    return refund_late_charge(payment, charge, via=via)


def refund_late_charge(payment: Payment, charge: Charge, *, via: str) -> Payment:
    if payment.refund_id or payment.status == "pending" or charge.charge_id is None:
        return payment
    try:
        refund = get_gateway().refund(
            charge_id=charge.charge_id,
            amount=int(charge.amount),
            idempotency_key=f"refund_{attempt_key(payment)}",
        )
    except (GatewayTimeout, GatewayRejected) as error:
        # Not refunded yet: keep watching it, the next sweep (or webhook) tries again with the same key.
        log_event(
            "payment_late_charge_refund_failed",
            level=logging.ERROR,
            customer_id=payment.customer_id,
            payment=payment.payment_id,
            charge=charge.charge_id,
            error=type(error).__name__,
            via=via,
        )
        _watch(payment)
        return payment
    fr, en = DECLINES["charge_refunded"]
    try:
        payment.update(
            actions=[
                Payment.refund_id.set(refund.refund_id),
                Payment.refunded_charge_id.set(charge.charge_id),
                Payment.refunded_amount.set(refund.amount),
                Payment.failure_code.set("charge_refunded"),
                Payment.failure_message.set(en),
                Payment.updated_at.set(iso(now())),
                Payment.GSI1PK.remove(),
                Payment.GSI1SK.remove(),
            ],
            condition=Payment.refund_id.does_not_exist(),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return Payment.get(
            payment.PK, payment.SK, consistent_read=True
        )  # recorded by another run (same refund: same key)
    log_event(
        "payment_late_charge_refunded",
        level=logging.WARNING,
        customer_id=payment.customer_id,
        payment=payment.payment_id,
        charge=charge.charge_id,
        refund=refund.refund_id,
        amount=refund.amount,
        via=via,
    )
    jobs.count("PaymentLateChargeRefunded")
    return payment


def _watch(payment: Payment) -> None:
    try:
        payment.update(
            actions=[Payment.GSI1PK.set(WATCH), Payment.GSI1SK.set(_index_sk(payment))],
            condition=(Payment.status != "pending") & Payment.refund_id.does_not_exist(),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def _language_of(customer_id: str) -> str | None:
    """The language of the customer's alerts, from the profile (one GetItem); None without a
    profile (erased): the payment is settled all the same, with no one to tell."""
    try:
        return str(Customer.get(customer_pk(customer_id), "PROFILE").language)
    except Customer.DoesNotExist:
        return None


def _alert(payment: Payment) -> dict[str, Any]:
    """The alert of a settled payment, as inbox.notify_in takes it (kind, data, dedup_key)."""
    # The amount as minor units and currency: notify_in writes it as the customer reads money
    # (« 42,00 € », "€42.00") in their language.
    amount = {"amount_minor": int(payment.amount), "currency": payment.currency}
    if payment.status == "succeeded":
        return {
            "kind": "billing.payment_succeeded",
            "data": {"bill_id": payment.bill_id, "payment_id": payment.payment_id, **amount},
            "dedup_key": f"payment:{payment.payment_id}:succeeded",
        }
    fr, en = DECLINES.get(payment.failure_code or "", DECLINES["not_charged"])
    return {
        "kind": "billing.payment_failed",
        "data": {
            "bill_id": payment.bill_id,
            "payment_id": payment.payment_id,
            **amount,
            "reason_fr": fr,
            "reason_en": en,
        },
        "dedup_key": f"payment:{payment.payment_id}:failed",
    }


def reconcile(payment: Payment, *, moment: datetime | None = None, via: str) -> Payment:
    """Ask the provider what became of the payment's attempt (never charging) and settle with
    it; with no charge found, fail it only once the attempt is old enough. Raises GatewayTimeout,
    ChargeMismatch."""
    charge = get_gateway().get_charge(reference=payment.payment_id, idempotency_key=attempt_key(payment))
    if charge is None and age(payment, moment) < GIVE_UP_AFTER:
        return payment  # a call may still be in flight, or the provider's search lag behind
    return settle(payment, charge, via=via)


def sweep(*, moment: datetime | None = None) -> dict[str, str]:
    """Every few minutes: settle the payments left pending (a timeout, a crash, a webhook that did
    not come) by asking the provider, never charging again; then look again at the payments failed
    without the provider's word, refunding any charge that showed up. Each payment on its own."""
    moment = moment or now()
    done: dict[str, str] = {}
    stuck = 0

    def pending(raw: jobs.Raw) -> str | None:
        nonlocal stuck
        payment = Payment.get(jobs.text(raw, "PK"), jobs.text(raw, "SK"), consistent_read=True)
        if payment.status != "pending":
            return None  # settled since the index was read
        stuck += age(payment, moment) > STUCK_AFTER
        try:
            return reconcile(payment, moment=moment, via="sweep").status
        except GatewayTimeout:
            return "pending"
        except ChargeMismatch:
            return "mismatch"

    def watched(raw: jobs.Raw) -> str | None:
        payment = Payment.get(jobs.text(raw, "PK"), jobs.text(raw, "SK"), consistent_read=True)
        if payment.status == "pending" or payment.refund_id:
            return None
        try:
            charge = get_gateway().get_charge(
                reference=payment.payment_id, idempotency_key=attempt_key(payment)
            )
        except GatewayTimeout:
            return "watching"
        if charge is not None and charge.status == "succeeded":
            try:
                payment = settle(payment, charge, via="sweep")
            except ChargeMismatch:
                return "mismatch"
            return "refunded" if payment.refund_id else payment.status
        if age(payment, moment) > WATCH_FOR:
            payment.update(actions=[Payment.GSI1PK.remove(), Payment.GSI1SK.remove()])
            return "unwatched"
        return "watching"

    key = _payment_key
    jobs.each(
        "sweep_pending_payments",
        jobs.index_items(PENDING, below=iso(moment - SWEEP_AFTER)),
        pending,
        key=key,
        into=done,
    )
    jobs.each("watch_failed_payments", jobs.index_items(WATCH), watched, key=key, into=done, skip=set(done))
    emit("PaymentsStuckPending", stuck)  # an alarm fires above 0: the provider keeps not answering
    return done


def _payment_key(raw: jobs.Raw) -> str | None:
    return jobs.text(raw, "payment_id")
