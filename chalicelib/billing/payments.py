"""Paying a bill: confirmed with a passkey bound to the transaction, charged exactly once.

1. `challenge` stores a step-up challenge whose bytes commit to (bill, amount, currency, method)
   and answers WebAuthn request options listing the customer's passkeys (5 minutes), with a
   statement, in the customer's language, of what will be charged to which card.
2. `pay` runs once per Idempotency-Key (see idempotency.py). The payment's id derives from the
   customer and the key in the `client` namespace, so a retried or resumed request finds the same
   payment, and no client key can name another customer's payment or a system one (autopay's
   live in their own namespace). It reads the session, the key's record, the bill, the method,
   the challenge and the passkey in one consistent BatchGetItem, checks that the challenge was for
   this exact transaction and verifies the assertion with one of the customer's passkeys, then, in
   one transaction whose conditions repeat every check against concurrent requests, claims the
   key, counts the rate limit, spends the challenge, moves the passkey's counter and creates the
   payment `pending` with a random attempt id, while reserving the amount on the bill
   (`available`, conditional: concurrent payments never exceed the balance); charges the provider
   with the payment id as reference and the attempt id as the provider's idempotency key (never
   anything the client chose); and settles it (settlement.py: the charge is checked against the
   payment first), recording the key's outcome and writing the customer's alert (in the language
   of the profile read with the rest) in the settlement's own transaction.
3. If the provider does not answer, the payment stays `pending`: a retry with the same key (which
   charges again with the same attempt key only within CALL_WINDOW, and after that only asks), the
   provider's webhook, or the sweeper settles it: never a second charge.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from chalicelib.auth import challenges, passkeys, sessions
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
from chalicelib.store.db import ConditionsFailed, Transaction, transaction
from chalicelib.store.models import (
    Bill,
    BillingSettings,
    Challenge,
    Customer,
    IdempotencyRecord,
    Item,
    Notice,
    Passkey,
    Payment,
    PaymentMethod,
    Session,
    customer_pk,
)

if TYPE_CHECKING:
    from chalicelib.api.ratelimit import Pending
    from chalicelib.auth.ceremonies import AssertionIds

CLIENT, AUTOPAY = "client", "autopay"  # namespaces of payment ids
ARRANGEMENT = "arrangement"  # an instalment's share of a bill (billing/arrangements.py)


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
    _check_amount(bill, amount)
    return bill, method


def _check_amount(bill: Bill, amount: int) -> None:
    if bill.status == "paid" or int(bill.balance) == 0:
        raise Conflict("This bill is already paid.", code="bill_already_paid")
    if amount < 1:
        raise ValidationFailed("The amount must be at least 1 (minor units).", code="invalid_amount")
    if amount > int(bill.available):
        left = bills.format_money(int(bill.available), bill.currency)
        raise ValidationFailed(
            f"The amount is more than what is left to pay ({left}).", code="amount_exceeds_balance"
        )


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
    or None when the key is new or still running; nothing counted, nothing taken. `pay` answers a
    finished key the same way from its own read (so the route needs no call of this)."""
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
    limit: Pending | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Pay once per Idempotency-Key. `limit`: the customer's payment rate limit, counted in the
    request's own transaction (a finished key answers without counting it). `session_id`: the
    access token's session, checked live here (as `sessions.require_live`, first of all) on the
    read that fetches the rest, instead of a GetItem of its own at the edge.

    On the common path: one consistent BatchGetItem (the session, the key's record, the bill, the
    method, the challenge, the passkey, the payment, the profile); one TransactWriteItems that
    claims the key, counts the rate limit, spends the challenge, moves the passkey's counter,
    creates the payment and reserves its amount (each check a condition of it); the provider's
    charge; the settlement's transaction, which records the key's outcome, the bill's due notice
    and the alert too. A finished key is answered
    from the read alone. A refusal writes nothing but the key's outcome, the spent challenge and
    the count, in one transaction. A key still running, or any race the transaction's conditions
    lose, takes the general path (`_slow`)."""
    fingerprint = _fingerprint(
        bill_id=bill_id, amount=amount, method_id=method_id, challenge_id=challenge_id, credential=credential
    )
    request = _Request(
        customer_id=customer_id,
        bill_id=bill_id,
        key=idempotency_key,
        amount=amount,
        method_id=method_id,
        challenge_id=challenge_id,
        credential=credential,
        fingerprint=fingerprint,
        limit=limit,
    )
    from chalicelib.auth import ceremonies  # py_webauthn: loaded by the first ceremony, not at cold start

    pk = customer_pk(customer_id)
    payment_id = payment_id_for(namespace=CLIENT, customer_id=customer_id, key=idempotency_key)
    try:
        claimed: AssertionIds | None = ceremonies.read_assertion(credential)
        unreadable: DomainError | None = None
    except DomainError as error:  # refused below, as a step-up that fails (the challenge is spent)
        claimed, unreadable = None, error
    keys = {
        "record": idempotency.record_key(customer_id, idempotency_key),
        "bill": (pk, f"BILL#{bill_id}#0"),
        "method": methods.key(customer_id, method_id),
        "challenge": challenges.key(challenge_id),
        "payment": (pk, f"BILL#{bill_id}#PAY#{payment_id}"),
        # The profile, for the language of the alert the settlement writes (no GetItem of its own).
        "profile": (pk, "PROFILE"),
    }
    if claimed is not None:
        keys["passkey"] = passkeys.passkey_key(claimed.credential_id)
    if session_id is not None:
        keys["session"] = sessions.session_key(customer_id, session_id)
    by_key = {(i.PK, i.SK): i for i in Item.batch_get(list(set(keys.values())), consistent_read=True)}
    found = {name: by_key.get(k) for name, k in keys.items()}
    if session_id is not None:  # an ended session is refused before anything, replays included
        session = found["session"]
        sessions.judge_live(session if isinstance(session, Session) else None, customer_id=customer_id)

    record = found["record"]
    if isinstance(record, IdempotencyRecord):
        answer = idempotency.answered(record, fingerprint)
        if answer is not None:
            return answer  # a finished key: its first outcome, nothing counted
        return _slow(request)  # still running (or its run died): wait for it, or resume it
    if isinstance(found["payment"], Payment):
        return _slow(request)  # the payment outlived its key's record: settle that one, never anew
    claim = idempotency.new_claim(customer_id=customer_id, key=idempotency_key, fingerprint=fingerprint)

    try:  # what `_payable` checks, on what was read
        bill = found["bill"]
        if not isinstance(bill, Bill):
            raise NotFound("No such bill.", code="bill_not_found")
        method = found["method"]
        if not isinstance(method, PaymentMethod):
            raise methods.not_found()
        _check_amount(bill, amount)
    except DomainError as refused:
        return _refuse(request, claim, refused, spend=False)
    stored_challenge = found["challenge"]
    try:  # what `challenges.consume` and `passkeys.confirm` check, on what was read
        spent = challenges.accept(
            stored_challenge if isinstance(stored_challenge, Challenge) else None, purpose=challenges.STEP_UP
        )
        _check_binding(spent, customer_id=customer_id, bill=bill, amount=amount, method_id=method_id)
        if unreadable is not None:
            raise unreadable
        assert claimed is not None  # noqa: S101 - narrows the type: readable, so claimed
        stored_passkey = found.get("passkey")
        passkey, verified = passkeys.judged(
            credential,
            claimed,
            stored_passkey if isinstance(stored_passkey, Passkey) else None,
            spent.challenge,
            customer_id=customer_id,
        )
    except DomainError as refused:
        return _refuse(request, claim, refused, spend=stored_challenge is not None)

    payment = _new_payment(
        customer_id=customer_id,
        bill=bill,
        payment_id=payment_id,
        amount=amount,
        method_id=method_id,
        initiated_by="customer",
    )
    counter, counter_holds = passkeys.counter_update(passkey, verified)
    try:
        with transaction() as tx:
            idempotency.claim_in(tx, claim)
            if limit is not None:
                limit.count_in(tx)
            # Single use: of two payments with this challenge, one transaction finds it.
            challenges.spend_in(tx, challenge_id, purpose=challenges.STEP_UP)
            # The counter moves only from the value judged: a concurrent use of the passkey loses.
            tx.update(passkey, actions=counter, condition=counter_holds, label="sign_count")
            _reserve_in(tx, payment, bill)
    except ConditionsFailed as failed:
        lost = _lost(request, claim, failed.labels, bill=bill)
        if lost is not None:
            return lost
    except Exception:
        # Not an answer (DynamoDB unavailable past the SDK's retries...): the transaction may have
        # committed all the same, its answer lost. Free the key if it did, so that the client's
        # retry resumes the payment now rather than after the lease (as run_once does).
        idempotency.release(claim)
        raise
    log_event("step_up_confirmed", customer_id=customer_id)
    log_event("payment_created", customer_id=customer_id, payment=payment_id, amount=amount)
    profile = found["profile"]
    language = profile.language if isinstance(profile, Customer) else None
    return idempotency.run_claimed(
        claim,
        lambda: _finish(payment, method=method, bill=bill, alongside=_Outcome(claim), language=language),
    )


class _Request(TypedDict):
    customer_id: str
    bill_id: str
    key: str
    amount: int
    method_id: str
    challenge_id: str
    credential: dict[str, Any]
    fingerprint: str
    limit: Pending | None


class _Outcome:
    """The key's outcome, written by the settlement's own transaction (settlement.Alongside)."""

    def __init__(self, claim: idempotency.Claim) -> None:
        self.claim = claim

    def add(self, tx: Transaction, settled: Payment) -> None:
        if settled.status == "succeeded":
            idempotency.finish_in(tx, self.claim, result=bills.payment_to_wire(settled), error=None)
        else:
            idempotency.finish_in(tx, self.claim, result=None, error=_failed(settled))

    def committed(self) -> None:
        self.claim.finished = True


def _lost(
    request: _Request, claim: idempotency.Claim, labels: set[str], *, bill: Bill
) -> dict[str, Any] | None:
    """The payment's transaction failed these conditions (it wrote nothing): the answer, or None
    when it had committed after all (a resend of it, whose answer was lost, failed instead)."""
    if "idempotency" in labels:
        if idempotency.is_ours(claim):
            return None
        return _slow(request)  # another request with this key took it first: its outcome
    if "rate_limit" in labels:
        assert request["limit"] is not None  # noqa: S101 - only a counted limit has this label
        raise request["limit"].refused()
    if "challenge" in labels:  # spent (or expired) since it was read: another request used it
        return _refuse(request, claim, challenges.not_found(), spend=False)
    if "sign_count" in labels:  # another use of this passkey moved its counter since it was read
        refused = passkeys.refused("concurrent_sign_count_update", customer_id=request["customer_id"])
        return _refuse(request, claim, refused, spend=True)
    if "available" in labels:  # a concurrent payment reserved part of the balance first
        bill.refresh(consistent_read=True)  # what is left now, for the message
        return _refuse(request, claim, _exceeds(bill), spend=True)
    return _slow(request)  # "new": this key's payment exists already: settle that one


def _refuse(
    request: _Request, claim: idempotency.Claim, refused: DomainError, *, spend: bool
) -> dict[str, Any]:
    """Record a refusal as the key's outcome, with the rate limit's count and (`spend`) the spent
    challenge, in one transaction; then raise it. A challenge is good for one attempt, never two."""
    limit = request["limit"]
    try:
        with transaction() as tx:
            idempotency.refuse_in(tx, claim, refused)
            if limit is not None:
                limit.count_in(tx)
            if spend:
                tx.delete(Challenge(*challenges.key(request["challenge_id"])))
    except ConditionsFailed as failed:
        if "idempotency" in failed.labels:
            return _slow(request)  # another request with this key got there first (or our resend)
        assert limit is not None  # noqa: S101 - the only other label is the rate limit's
        raise limit.refused() from None
    raise refused


def _slow(request: _Request) -> dict[str, Any]:
    """The general path, a call per step (run_once's claim, waits and take-overs; the step-up
    consumed and confirmed on their own): for a key still running, and for the races the common
    path's transaction loses. Counts the rate limit first, as the route did before."""
    limit = request["limit"]
    if limit is not None:
        try:
            with transaction() as tx:
                limit.count_in(tx)
        except ConditionsFailed:
            raise limit.refused() from None
    return idempotency.run_once(
        customer_id=request["customer_id"],
        key=request["key"],
        fingerprint=request["fingerprint"],
        operation=lambda resumed: _pay(
            customer_id=request["customer_id"],
            bill_id=request["bill_id"],
            key=request["key"],
            amount=request["amount"],
            method_id=request["method_id"],
            challenge_id=request["challenge_id"],
            credential=request["credential"],
            resumed=resumed,
        ),
    )


def _check_binding(
    spent: challenges.ConsumedChallenge, *, customer_id: str, bill: Bill, amount: int, method_id: str
) -> None:
    expected = binding(bill_id=bill.bill_id, amount=amount, currency=bill.currency, method_id=method_id)
    if spent.customer_id != customer_id or spent.binding != expected:
        log_event("payment_refused", customer_id=customer_id, reason="challenge_for_another_transaction")
        raise Unauthenticated(
            "This confirmation was for another payment: confirm this one again.", code="step_up_mismatch"
        )


def _failed(payment: Payment) -> PaymentFailed:
    return PaymentFailed(
        payment.failure_message or "The payment failed.", code=payment.failure_code or "payment_failed"
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
    # The common path may have created the payment in a transaction whose answer was lost; an
    # earlier run of this key may have died after creating it.
    existing = _find(customer_id, bill_id, payment_id)
    if existing is not None:  # the step-up was checked when it was created
        return _finish(existing, resumed=True)
    bill, method = _payable(customer_id, bill_id, amount, method_id)
    spent = challenges.consume(challenge_id=challenge_id, purpose=challenges.STEP_UP)
    _check_binding(spent, customer_id=customer_id, bill=bill, amount=amount, method_id=method_id)
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


def _new_payment(
    *, customer_id: str, bill: Bill, payment_id: str, amount: int, method_id: str, initiated_by: str
) -> Payment:
    moment = iso(now())
    return Payment(
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


def _reserve_in(tx: Transaction, payment: Payment, bill: Bill) -> None:
    """The payment, created pending (label "new"), and its amount reserved on the bill (label
    "available"): two payments in flight can never take more than the balance."""
    amount = int(payment.amount)
    tx.save(payment, condition=Payment.PK.does_not_exist(), label="new")
    tx.update(
        bill, actions=[Bill.available.add(-amount)], condition=Bill.available >= amount, label="available"
    )


def _exceeds(bill: Bill) -> ValidationFailed:
    left = bills.format_money(max(int(bill.available), 0), bill.currency)
    return ValidationFailed(
        f"The amount is more than what is left to pay ({left} at most).", code="amount_exceeds_balance"
    )


def _create(
    *, customer_id: str, bill: Bill, payment_id: str, amount: int, method_id: str, initiated_by: str
) -> Payment:
    payment = _new_payment(
        customer_id=customer_id,
        bill=bill,
        payment_id=payment_id,
        amount=amount,
        method_id=method_id,
        initiated_by=initiated_by,
    )
    try:
        with transaction() as tx:
            _reserve_in(tx, payment, bill)
    except ConditionsFailed as failed:
        if "new" in failed.labels:
            found = _find(customer_id, bill.bill_id, payment_id)
            if found is not None:
                return found
        raise _exceeds(bill) from None
    log_event("payment_created", customer_id=customer_id, payment=payment_id, amount=amount)
    return payment


def _finish(
    payment: Payment,
    *,
    method: PaymentMethod | None = None,
    bill: Bill | None = None,
    resumed: bool = False,
    alongside: settlement.Alongside | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """Charge a pending payment (or, once its attempt is older than CALL_WINDOW, only ask the
    provider) and settle it. `method`, `bill` and the customer's `language` as already read by
    this request (the bill as it was before the reservation; its balance is re-read only if it
    moved)."""
    if payment.status == "pending":
        try:
            payment = _charge_and_settle(
                payment, method=method, bill=bill, resumed=resumed, alongside=alongside, language=language
            )
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
        raise _failed(payment)
    return bills.payment_to_wire(payment)


def _charge_and_settle(
    payment: Payment,
    *,
    method: PaymentMethod | None,
    bill: Bill | None,
    resumed: bool = False,
    alongside: settlement.Alongside | None = None,
    language: str | None = None,
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
        return settlement.settle(
            payment,
            None,
            via="request",
            bill=bill,
            reason="provider_refused",
            alongside=alongside,
            language=language,
        )
    except GatewayMisconfigured:
        raise ServiceMisconfigured(
            "Payments are unavailable right now: nothing was charged; try again later."
        ) from None
    return settlement.settle(
        payment, charge, via="request", bill=bill, alongside=alongside, language=language
    )


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


def charge_default(*, customer_id: str, bill_id: str, key: str, amount: int) -> str:
    """Charge `amount` of a bill to the customer's default method, once per `key` (in the
    ARRANGEMENT namespace, so no client or autopay key can reach it): a payment already made for
    the key is settled through the usual path, never charged anew. The customer confirmed these
    charges with a passkey when making the arrangement. Answers the payment's status, or the code
    of why it was not made or failed (the instalment then stays unpaid)."""
    payment_id = payment_id_for(namespace=ARRANGEMENT, customer_id=customer_id, key=key)
    try:
        existing = _find(customer_id, bill_id, payment_id)
        if existing is not None:
            return str(_finish(existing)["status"])
        try:
            settings = BillingSettings.get(customer_pk(customer_id), "SETTINGS#BILLING")
        except BillingSettings.DoesNotExist:
            return "no_default_method"
        if not settings.default_method_id:
            return "no_default_method"
        bill, method = _payable(customer_id, bill_id, amount, settings.default_method_id)
        created = _create(
            customer_id=customer_id,
            bill=bill,
            payment_id=payment_id,
            amount=amount,
            method_id=settings.default_method_id,
            initiated_by="autopay",
        )
        return str(_finish(created, method=method, bill=bill)["status"])
    except DomainError as error:
        return error.code
