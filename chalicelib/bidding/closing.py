"""The clearing job (every minute): closes offers past `closes_at`, charges the winners, stores the
immutable result and tells every bidder, exactly once whatever the number of overlapping runs.

For each offer with work left (GSI1 OFFERS#ACTIVE):
1. Claim: one conditional update takes a lease (`open` past closes_at → `clearing`, or a
   clearing/cleared/cancelled offer whose lease expired). Another run finds the lease and skips.
2. Close every gate, then read the bids with consistent Queries: the set is frozen.
3. Charge in the published order (`clearing.next_to_charge`), one bid at a time, each charge with
   an idempotency key derived from (offer, bidder) and its outcome recorded on the bid (conditional)
   before the next charge. A run that dies resumes from the recorded outcomes; a charge whose
   outcome was not recorded is asked again with the same key and the provider answers the same
   charge: nobody is charged twice.
   A winner's charge that succeeded is recorded in ONE transaction with the grant (the line gains
   the option or the plan for its days, a receipt, the grant's own item), conditional on the bid
   having no outcome yet: a second run finds it done. If the line cannot take the grant any more,
   the charge is refunded (the intent recorded on the bid first, the refund keyed by the bid) and
   the bid is `refunded`: the unit goes on. A declined winner keeps its unit for
   BID_PAYMENT_GRACE_HOURS: the customer is asked to update the card, each run retries once a new
   card is there (each attempt its own idempotency key, recorded before the call), and when the
   grace ends the cascade moves on. While a bid waits, the offer stays `clearing`, looked at every
   WAIT_S.
4. Write the result pages (not-exists conditions: immutable) and move `clearing → cleared` with a
   summary and a digest of the pages.
5. Tell the bidders page by page (`notify` is deduplicated per offer and bidder), then leave the
   to-do list.
Each step is bounded by the time left in the invocation; the next run goes on from the table.
The offer, its gates and its bids are hot items (bids' transactions check the gates at the last
minute, cancellation writes offer and gates together): every write here goes through
`retry_conflicts` (store/db.py), so a write conflict is retried, never mistaken for an answer.
One offer that fails (a corrupt item, an unexpected error of the provider, DynamoDB failing past its
retries) never stops the run: it is logged, counted (`BatchItemFailed`), handed back at once, and
the next run resumes it from what was recorded.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.account import catalog
from chalicelib.bidding import clearing, grants
from chalicelib.bidding.models import ENDING, GRANT_PREFIX, RECEIPT_PREFIX, UpgradeGrant, UpgradeReceipt
from chalicelib.bidding.offers import ACTIVE, RESULT_PAGE_SIZE, shard_pks
from chalicelib.billing import methods
from chalicelib.billing.gateway import Charge, GatewayRejected, GatewayTimeout, get_gateway
from chalicelib.billing.settlement import DECLINES
from chalicelib.common.clock import epoch, from_epoch, iso, iso_ms, now
from chalicelib.common.languages import long_date, phone_number
from chalicelib.common.secrets import new_id
from chalicelib.config import get_settings
from chalicelib.errors import NotFound
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, query_raw, retry_conflicts, transaction
from chalicelib.store.models import Line, Offer, OfferBid, OfferGate, OfferResultPage, customer_pk, plain

LEASE_S = 60
WAIT_S = 300  # an offer whose declined winner is within its grace is looked at again this often
GRANT_TRIES = 3  # the line moved between its read and the grant's transaction: read it again
BUDGET_S = 240.0  # of the function's 300 s timeout (infra/resources.json)


@dataclass
class Budget:
    seconds: float = BUDGET_S
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.started)


class LeaseLost(Exception):
    """Another run holds the offer now (ours expired): stop, it goes on."""


class Stopped(Exception):
    """Out of time, or the provider did not answer: the next run resumes."""


class Waiting(Stopped):
    """A declined winner is within its grace period: the offer is looked at again in WAIT_S."""


def grace_hours() -> int:
    """BID_PAYMENT_GRACE_HOURS (a seam the tests set)."""
    return get_settings().bid_payment_grace_hours


def run(
    *, budget: Budget | None = None, hooks: dict[str, Callable[..., None]] | None = None
) -> dict[str, str]:
    """One scheduled run over every offer with work left; returns offer id → where it got to
    (`failed` for an offer that raised: the others go on, and the next run retries it)."""
    budget = budget or Budget()
    done: dict[str, str] = {}
    moment = iso_ms(now())
    for offer_id in _offers_with_work(moment):
        if budget.left() <= 0:
            break
        try:
            done[offer_id] = clear_offer(offer_id, budget=budget, hooks=hooks or {})
        except Exception as error:  # noqa: BLE001 - one offer must not stop the others
            log_event(
                "batch_item_failed",
                level=logging.ERROR,
                job="clear_offers",
                offer=offer_id,
                error=type(error).__name__,
            )
            emit("BatchItemFailed")
            done[offer_id] = "failed"
    return done


def _offers_with_work(moment: str) -> Iterator[str]:
    """The ids on the to-do list that are not simply still open (GSI1 is sorted by closes_at, but
    cancelled ones may come later). DynamoDB filters, and only the key is read back: building
    whole Offer models here would let one corrupt attribute of one offer stop the listing of all."""
    for item in Offer.gsi1.query(
        ACTIVE,
        filter_condition=(Offer.status != "open") | (Offer.closes_at <= moment),
        attributes_to_get=["PK"],
    ):
        yield item.PK.removeprefix("OFFER#")


def clear_offer(
    offer_id: str, *, budget: Budget | None = None, hooks: dict[str, Callable[..., None]] | None = None
) -> str:
    budget, hooks = budget or Budget(), hooks or {}
    lease = new_id("lease", 8)
    try:
        # Inside the try: the claim's write can succeed and reading the offer back still fail (a
        # corrupt attribute): the lease is handed back below, so the next run retries at once.
        claimed = _claim(offer_id, lease=lease)
        if claimed is None:
            return "busy_or_not_due"
        _, offer = claimed
        if offer.status == "clearing":
            entries = _charge_winners(offer, lease, budget, hooks)
            _store_result(offer, lease, entries, cleared=True)
        elif offer.status == "cancelled" and offer.result_pages is None:
            entries = [
                clearing.Entry(rank=i, bid=b, outcome="cancelled", reason="offer_cancelled")
                for i, b in enumerate(clearing.order(x.rule_bid() for x in _frozen_bids(offer)), start=1)
            ]
            _store_result(offer, lease, entries, cleared=False)
        _tell_bidders(offer, lease, budget)
        _finish(offer, lease)
        return offer.status + ":done"
    except Waiting as wait:
        log_event("clearing_waiting", offer=offer_id, reason=str(wait))
        _hold(offer_id, lease, WAIT_S)
        return "waiting"
    except (Stopped, LeaseLost) as stop:
        log_event("clearing_paused", offer=offer_id, reason=str(stop))
        _release(offer_id, lease)
        return "paused"
    except Exception as error:
        # DynamoDB failing past the SDK's retries, a corrupt item, a provider's unexpected error:
        # hand the offer back at once (best effort; else the lease expires) and let the next run
        # resume from what was recorded.
        log_event("clearing_failed", level=logging.ERROR, offer=offer_id, error=type(error).__name__)
        with contextlib.suppress(Exception):
            _release(offer_id, lease)
        raise


def _update_if(offer: Offer, actions: list[Any], condition: Any) -> bool:
    """One conditional UpdateItem on the offer (one item needs no transaction, which would cost
    twice the capacity); False when the condition does not hold. `offer` is refreshed with the
    item as written, so no read follows."""
    try:
        retry_conflicts(lambda: offer.update(actions=actions, condition=condition), what="offer")
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return True


def _claim(offer_id: str, *, lease: str | None = None) -> tuple[str, Offer] | None:
    """The lease on an offer that is due (or whose clearing a dead run left), with the offer. The
    caller may draw the lease id, to hand it back even when this raises after taking it."""
    lease = lease or new_id("lease", 8)
    moment, clock = iso_ms(now()), epoch(now())
    offer = Offer(f"OFFER#{offer_id}", "OFFER")
    free = Offer.lease_until.does_not_exist() | (Offer.lease_until < clock)
    due = (Offer.status == "open") & (Offer.closes_at <= moment)
    resumable = Offer.status.is_in("clearing", "cleared", "cancelled") & Offer.GSI1PK.exists()
    if not _update_if(
        offer,
        [Offer.lease_owner.set(lease), Offer.lease_until.set(clock + LEASE_S), Offer.updated_at.set(moment)],
        free & (due | resumable),
    ):
        return None
    if offer.status == "open" and _update_if(
        offer, [Offer.status.set("clearing")], (Offer.status == "open") & (Offer.lease_owner == lease)
    ):
        log_event("clearing_started", offer=offer_id)
    return lease, offer


def _renew(offer: Offer, lease: str) -> None:
    if not _update_if(offer, [Offer.lease_until.set(epoch(now()) + LEASE_S)], Offer.lease_owner == lease):
        raise LeaseLost("lease taken over")


def _release(offer_id: str, lease: str) -> None:
    _update_if(Offer(f"OFFER#{offer_id}", "OFFER"), [Offer.lease_until.set(0)], Offer.lease_owner == lease)


def _hold(offer_id: str, lease: str, seconds: int) -> None:
    """Keep the lease `seconds` more: nothing to do before (re-reading every bid each minute of a
    24-hour grace would cost more than a card update waits)."""
    _update_if(
        Offer(f"OFFER#{offer_id}", "OFFER"),
        [Offer.lease_until.set(epoch(now()) + seconds)],
        Offer.lease_owner == lease,
    )


@dataclass(frozen=True)
class FrozenBid:
    """What clearing needs of a bid, read raw: building 100,000 pynamodb models costs more than the
    Query itself."""

    PK: str
    SK: str
    bid_id: str
    customer_id: str
    amount: int
    currency: str
    method_id: str
    placed_at: str
    outcome: str | None
    decline_code: str | None
    charge_started_at: str | None = None
    line_id: str | None = None
    charge_id: str | None = None
    grace_until: int | None = None
    grace_method_id: str | None = None
    charge_attempts: int = 1
    refund_reason: str | None = None
    tried_method_ids: frozenset[str] = frozenset()
    grace_method_ids: frozenset[str] = frozenset()
    grace_default_id: str | None = None

    @classmethod
    def from_raw(cls, item: dict[str, Any]) -> FrozenBid:
        def text(name: str) -> str | None:
            value = item.get(name)
            return value["S"] if value and "S" in value else None

        def number(name: str) -> int | None:
            value = item.get(name)
            return int(value["N"]) if value and "N" in value else None

        def texts(name: str) -> frozenset[str]:
            value = item.get(name)
            return frozenset(value["SS"]) if value and "SS" in value else frozenset()

        return cls(
            PK=item["PK"]["S"],
            SK=item["SK"]["S"],
            bid_id=item["bid_id"]["S"],
            customer_id=item["customer_id"]["S"],
            amount=int(item["amount"]["N"]),
            currency=item["currency"]["S"],
            method_id=item["method_id"]["S"],
            placed_at=item["placed_at"]["S"],
            outcome=text("outcome"),
            decline_code=text("decline_code"),
            charge_started_at=text("charge_started_at"),
            line_id=text("line_id"),
            charge_id=text("charge_id"),
            grace_until=number("grace_until"),
            grace_method_id=text("grace_method_id"),
            charge_attempts=number("charge_attempts") or 1,
            refund_reason=text("refund_reason"),
            tried_method_ids=texts("tried_method_ids"),
            grace_method_ids=texts("grace_method_ids"),
            grace_default_id=text("grace_default_id"),
        )

    def rule_bid(self) -> clearing.Bid:
        return clearing.Bid(
            bid_id=self.bid_id, bidder_id=self.customer_id, amount=self.amount, placed_at=self.placed_at
        )


_WANTED = [
    "PK",
    "SK",
    "bid_id",
    "customer_id",
    "amount",
    "currency",
    "method_id",
    "placed_at",
    "outcome",
    "decline_code",
    "charge_started_at",
    "line_id",
    "charge_id",
    "grace_until",
    "grace_method_id",
    "charge_attempts",
    "refund_reason",
    "tried_method_ids",
    "grace_method_ids",
    "grace_default_id",
]


def _frozen_bids(offer: Offer) -> list[FrozenBid]:
    """Close the gates first (idempotent), then read with consistent Queries: no bid can enter or
    leave after. Only the attributes clearing uses, read raw (no pynamodb model per bid)."""
    shards = shard_pks(offer.offer_id, int(offer.shards))
    gate_state = "cancelled" if offer.status == "cancelled" else "closed"
    for pk in shards:
        # Every bid's transaction checks its gate: closing one at the last minute can conflict.
        close = OfferGate(pk, "GATE").update
        retry_conflicts(functools.partial(close, actions=[OfferGate.status.set(gate_state)]), what="gate")
    return [
        FrozenBid.from_raw(item)
        for pk in shards
        for item in query_raw(
            pk, OfferBid.SK.startswith("BID#"), attributes_to_get=_WANTED, consistent_read=True
        )
    ]


def charge_key(offer_id: str, customer_id: str, attempt: int = 1) -> str:
    """The provider's idempotency key of a bid's charge: ours, from the offer and the bidder (never
    from anything a client sent); the bid's id is the charge's reference. A retry after a new card
    (within the grace period) is attempt 2, 3...: a key of its own, since the provider refuses a
    key again with another card."""
    key = "bidchg_" + hashlib.sha256(f"{offer_id}|{customer_id}".encode()).hexdigest()[:32]
    return key if attempt == 1 else f"{key}_{attempt}"


def refund_key(offer_id: str, customer_id: str) -> str:
    """The refund of a bid's charge when its grant cannot be made: one per bid."""
    return "bidref_" + hashlib.sha256(f"{offer_id}|{customer_id}".encode()).hexdigest()[:32]


def _charge_winners(
    offer: Offer, lease: str, budget: Budget, hooks: dict[str, Callable[..., None]]
) -> list[clearing.Entry]:
    items = {b.bid_id: b for b in _frozen_bids(offer)}
    ordered = clearing.order(b.rule_bid() for b in items.values())
    decided = {i: b.outcome for i, b in items.items() if b.outcome}
    reasons = {
        i: (b.refund_reason if b.outcome == clearing.REFUNDED else b.decline_code) or "card_declined"
        for i, b in items.items()
        if b.outcome in (clearing.DECLINED, clearing.REFUNDED)
    }
    waiting = {i for i, b in items.items() if not b.outcome and b.grace_until is not None}
    inventory = int(offer.inventory)
    for bid_id in sorted(waiting):  # within their grace: paid since, a new card, or the grace over
        if budget.left() <= 0:
            raise Stopped("out of time")
        outcome, code = _settle_waiting(offer, items[bid_id], hooks)
        if outcome is not None:
            waiting.discard(bid_id)
            decided[bid_id] = outcome
            if code is not None:
                reasons[bid_id] = code
    renewed = time.monotonic()
    while (nxt := clearing.next_to_charge(ordered, decided, inventory, waiting)) is not None:
        if budget.left() <= 0:
            raise Stopped("out of time")
        if time.monotonic() - renewed > LEASE_S / 3:
            _renew(offer, lease)
            renewed = time.monotonic()
        bid = items[nxt.bid_id]
        if bid.refund_reason:  # a run died between deciding the refund and recording it
            outcome, code = _refund(offer, bid, bid.charge_id or "", bid.refund_reason)
            decided[nxt.bid_id], reasons[nxt.bid_id] = outcome, code or "line_gone"
            continue
        outcome, charge_id, code = _charge(offer, bid)
        charged = hooks.get("charged")
        if charged is not None:
            charged(bid=bid, outcome=outcome)
        if outcome == clearing.WON and offer.grant is not None:
            outcome, code = _deliver(offer, bid, charge_id or "")
            decided[nxt.bid_id] = outcome
            if code is not None:
                reasons[nxt.bid_id] = code
            log_event("bid_charged", offer=offer.offer_id, customer_id=bid.customer_id, outcome=outcome)
            emit("ClearingCharges")
            continue
        if outcome == clearing.DECLINED and grace_hours() > 0 and _start_grace(offer, bid, charge_id, code):
            waiting.add(nxt.bid_id)
            log_event("bid_charge_grace", offer=offer.offer_id, customer_id=bid.customer_id, code=code)
            continue
        decision: list[Action] = [
            OfferBid.outcome.set(outcome),
            OfferBid.charge_id.set(charge_id) if charge_id is not None else OfferBid.charge_id.remove(),
            OfferBid.decline_code.set(code) if code is not None else OfferBid.decline_code.remove(),
            OfferBid.decided_at.set(iso_ms(now())),
        ]
        # One conditional UpdateItem (a transaction would cost twice the capacity).
        record = OfferBid(bid.PK, bid.SK).update
        try:
            retry_conflicts(
                functools.partial(record, actions=decision, condition=OfferBid.outcome.does_not_exist()),
                what="bid",
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            recorded = OfferBid.get(bid.PK, bid.SK, consistent_read=True)  # by an earlier run: it decides
            outcome, code = recorded.outcome or outcome, recorded.decline_code
        decided[nxt.bid_id] = outcome
        if outcome == clearing.DECLINED:
            reasons[nxt.bid_id] = code or "card_declined"
        log_event("bid_charged", offer=offer.offer_id, customer_id=bid.customer_id, outcome=outcome)
        emit("ClearingCharges")
    if waiting:
        raise Waiting(f"{len(waiting)} declined winner(s) within their grace period")
    return clearing.result(ordered, decided, reasons, inventory)


def _charge(
    offer: Offer, bid: FrozenBid, *, attempt: int = 1, method_id: str | None = None
) -> tuple[str, str | None, str | None]:
    key = charge_key(offer.offer_id, bid.customer_id, attempt)
    try:
        method = methods.get_owned(bid.customer_id, method_id or bid.method_id)
    except NotFound:
        method = None
    try:
        charge = None
        if bid.charge_started_at or method is None:
            # An earlier run may have charged and lost the answer (and the card may be gone since,
            # or the provider's idempotency window over): ask by our reference before anything.
            charge = get_gateway().get_charge(reference=bid.bid_id, idempotency_key=key)
        if charge is None:
            if method is None:
                return clearing.DECLINED, None, "payment_method_removed"
            if not bid.charge_started_at:
                started = OfferBid(bid.PK, bid.SK)
                retry_conflicts(
                    lambda: started.update(actions=[OfferBid.charge_started_at.set(iso_ms(now()))]),
                    what="bid",
                )
            charge = get_gateway().charge(
                provider_ref=method.provider_ref,
                customer_ref=method.provider_customer_ref,
                amount=int(bid.amount),
                currency=bid.currency,
                reference=bid.bid_id,
                idempotency_key=key,
                metadata={"kind": "bid", "offer_id": offer.offer_id},
            )
    except GatewayTimeout:
        raise Stopped("payment provider timeout") from None
    except GatewayRejected as rejected:  # the provider refused the request itself: nothing charged
        log_event(
            "bid_charge_rejected", offer=offer.offer_id, customer_id=bid.customer_id, code=rejected.code
        )
        return clearing.DECLINED, None, "payment_method_unusable"
    return _checked(offer, bid, charge)


def _checked(offer: Offer, bid: FrozenBid, charge: Charge) -> tuple[str, str | None, str | None]:
    """A charge's answer as an outcome, once it is known to be this bid's."""
    if charge.status == "processing":
        raise Stopped("the provider has not decided yet")  # the next run asks again with the same key
    if (charge.amount, charge.currency.upper(), charge.reference) != (
        int(bid.amount),
        bid.currency.upper(),
        bid.bid_id,
    ):
        # Never record a win for a charge that is not this bid's: the offer waits for a person.
        log_event(
            "bid_charge_mismatch", level=logging.ERROR, offer=offer.offer_id, customer_id=bid.customer_id
        )
        emit("PaymentChargeMismatch")
        raise Stopped("the provider's charge does not match the bid")
    if charge.status == "succeeded":
        return clearing.WON, charge.charge_id, None
    return clearing.DECLINED, charge.charge_id, charge.decline_code or "card_declined"


# --- a won bid's grant, or its refund ----------------------------------------------------------------


def _line(customer_id: str, line_id: str | None) -> Line | None:
    if line_id is None:
        return None
    try:
        return Line.get(customer_pk(customer_id), f"LINE#{line_id}#META", consistent_read=True)
    except Line.DoesNotExist:
        return None


def receipt_id_for(bid_id: str) -> str:
    return "rcp_" + hashlib.sha256(bid_id.encode()).hexdigest()[:24]


def _deliver(offer: Offer, bid: FrozenBid, charge_id: str) -> tuple[str, str | None]:
    """The win and the grant in one transaction (the line, a receipt, the grant's item), once: the
    bid must have no outcome yet. A line that cannot take the grant any more: the charge refunded."""
    grant = plain(offer.grant)
    plan_ids = (plain(offer.eligibility) or {}).get("plan_ids") or ()
    entries = catalog.load_all()
    for _ in range(GRANT_TRIES):
        line = _line(bid.customer_id, bid.line_id)
        code = grants.problem(grant, line, entries=entries, plan_ids=plan_ids)
        if code is not None or line is None:
            return _refund(offer, bid, charge_id, code or "line_gone")
        moment = now()
        stamp = iso(moment)
        starts_at, ends_at = grants.period(grant, moment)
        line_actions, previous = grants.granted_line(grant, line, bid.bid_id, starts_at, ends_at)
        receipt_id = receipt_id_for(bid.bid_id)
        pk = customer_pk(bid.customer_id)
        names = dict((grant.get("entry") or {}).get("name") or {})
        receipt = UpgradeReceipt(
            pk,
            f"{RECEIPT_PREFIX}{iso_ms(moment)}#{bid.bid_id}",
            receipt_id=receipt_id,
            customer_id=bid.customer_id,
            offer_id=offer.offer_id,
            bid_id=bid.bid_id,
            line_id=line.line_id,
            msisdn=line.msisdn,
            title=plain(offer.title),
            grant={
                "kind": grant["kind"],
                "entry_id": grant["entry_id"],
                "days": grant["days"],
                "entry": {"name": names},
            },
            amount=bid.amount,
            currency=bid.currency,
            charge_id=charge_id,
            starts_at=starts_at,
            ends_at=ends_at,
            created_at=stamp,
        )
        upgrade = UpgradeGrant(
            pk,
            f"{GRANT_PREFIX}{bid.bid_id}",
            GSI1PK=ENDING,
            GSI1SK=f"{ends_at}#{bid.bid_id}",
            grant_id=bid.bid_id,
            customer_id=bid.customer_id,
            offer_id=offer.offer_id,
            receipt_id=receipt_id,
            line_id=line.line_id,
            grant_kind=grant["kind"],
            entry_id=grant["entry_id"],
            name=names,
            previous_plan=previous,
            status="active",
            starts_at=starts_at,
            ends_at=ends_at,
        )
        try:
            with transaction() as tx:
                tx.update(
                    OfferBid(bid.PK, bid.SK),
                    actions=[
                        OfferBid.outcome.set(clearing.WON),
                        OfferBid.charge_id.set(charge_id),
                        OfferBid.decline_code.remove(),
                        OfferBid.grace_until.remove(),
                        OfferBid.decided_at.set(iso_ms(moment)),
                    ],
                    condition=OfferBid.outcome.does_not_exist(),
                    label="bid",
                )
                # Nothing moved on the line since it was judged eligible above.
                tx.update(
                    line,
                    actions=[*line_actions, Line.updated_at.set(iso_ms(now()))],  # ms: the line lock
                    condition=(Line.updated_at == line.updated_at) & (Line.status == "active"),
                    label="line",
                )
                tx.save(receipt, condition=UpgradeReceipt.PK.does_not_exist())
                tx.save(upgrade, condition=UpgradeGrant.PK.does_not_exist(), label="grant")
        except ConditionsFailed as failed:
            if "bid" in failed.labels or "grant" in failed.labels:  # an earlier run recorded it
                recorded = OfferBid.get(bid.PK, bid.SK, consistent_read=True)
                return recorded.outcome or clearing.WON, recorded.refund_reason
            continue  # the line moved: judge it again
        log_event("upgrade_granted", offer=offer.offer_id, customer_id=bid.customer_id, line=line.line_id)
        # Told now rather than when the result is stored (which a grace may delay): same dedup key.
        _tell(
            offer,
            {
                "customer_id": bid.customer_id,
                "bid_id": bid.bid_id,
                "amount": bid.amount,
                "outcome": clearing.WON,
                "reason": None,
            },
        )
        return clearing.WON, None
    raise Stopped("the line kept changing while its grant was written")


def _refund(offer: Offer, bid: FrozenBid, charge_id: str, code: str) -> tuple[str, str | None]:
    """Refund the bid's charge (one refund per bid, whatever the runs) and record it `refunded`.
    The decision is recorded on the bid first: a run that resumes refunds, never grants."""
    record = OfferBid(bid.PK, bid.SK)
    if not bid.refund_reason:
        retry_conflicts(
            lambda: record.update(
                actions=[OfferBid.refund_reason.set(code), OfferBid.charge_id.set(charge_id)],
                condition=OfferBid.outcome.does_not_exist(),
            ),
            what="bid",
        )
    try:
        refund = get_gateway().refund(
            charge_id=charge_id,
            amount=int(bid.amount),
            idempotency_key=refund_key(offer.offer_id, bid.customer_id),
        )
    except GatewayTimeout:
        raise Stopped("payment provider timeout (refund)") from None
    except GatewayRejected as rejected:  # a person must look: the offer waits, nothing is granted
        log_event(
            "bid_refund_rejected",
            level=logging.ERROR,
            offer=offer.offer_id,
            customer_id=bid.customer_id,
            code=rejected.code,
        )
        raise Stopped("the provider refused the refund") from None
    try:
        retry_conflicts(
            functools.partial(
                record.update,
                actions=[
                    OfferBid.outcome.set(clearing.REFUNDED),
                    OfferBid.refund_id.set(refund.refund_id),
                    OfferBid.decided_at.set(iso_ms(now())),
                ],
                condition=OfferBid.outcome.does_not_exist(),
            ),
            what="bid",
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
    log_event("bid_refunded", offer=offer.offer_id, customer_id=bid.customer_id, reason=code)
    return clearing.REFUNDED, code


# --- a declined winner's grace ---------------------------------------------------------------------


def _start_grace(offer: Offer, bid: FrozenBid, charge_id: str | None, code: str | None) -> bool:
    """The declined bid keeps its unit until the grace ends; the customer is asked for a new card.
    False when an earlier run recorded an outcome meanwhile."""
    until = epoch(now()) + grace_hours() * 3600
    cards = methods.list_methods(customer_id=bid.customer_id)["payment_methods"]
    default = next((str(m["payment_method_id"]) for m in cards if m["default"]), None)
    actions: list[Action] = [
        OfferBid.grace_until.set(until),
        OfferBid.grace_method_id.set(bid.method_id),
        OfferBid.charge_attempts.set(1),
        OfferBid.decline_code.set(code or "card_declined"),
        OfferBid.tried_method_ids.set({bid.method_id}),
        # The cards of the decline's moment: the alert asks for another, so only one given since
        # is charged without the passkey's confirmation (see `_replacement`).
        OfferBid.grace_method_ids.set({bid.method_id, *(str(m["payment_method_id"]) for m in cards)}),
        OfferBid.grace_default_id.set(default) if default else OfferBid.grace_default_id.remove(),
    ]
    if charge_id:
        actions.append(OfferBid.charge_id.set(charge_id))
    try:
        retry_conflicts(
            functools.partial(
                OfferBid(bid.PK, bid.SK).update,
                actions=actions,
                condition=OfferBid.outcome.does_not_exist() & OfferBid.grace_until.does_not_exist(),
            ),
            what="bid",
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return OfferBid.get(bid.PK, bid.SK, consistent_read=True).outcome is None
    _ask_for_card(offer, bid, code or "card_declined", until, 1)
    return True


def _ask_for_card(offer: Offer, bid: FrozenBid, code: str, until: int, attempt: int) -> None:
    title = plain(offer.title)
    last = from_epoch(until)
    fr, en = (
        _METHOD_REMOVED if code == "payment_method_removed" else DECLINES.get(code, DECLINES["card_declined"])
    )
    try:
        inbox.notify(
            customer_id=bid.customer_id,
            kind="bidding.payment_retry",
            data={
                "offer_id": offer.offer_id,
                "title_fr": title["fr"],
                "title_en": title["en"],
                "amount_minor": int(bid.amount),
                "currency": bid.currency,
                "reason": code,
                "reason_fr": fr,
                "reason_en": en,
                "retry_until": iso(last),
                "retry_until_fr": f"{long_date(last.date(), 'fr')} à {last:%H:%M} UTC",
                "retry_until_en": f"{long_date(last.date(), 'en')} at {last:%H:%M} UTC",
            },
            dedup_key=f"offer:{offer.offer_id}:retry:{attempt}",
        )
    except NotFound:
        log_event("bidder_gone", offer=offer.offer_id, customer_id=bid.customer_id)


def _replacement(bid: FrozenBid) -> str | None:
    """A card the customer gave in answer to the decline, never charged for this bid: one added
    since the grace began, or made the default since (the default first, else the newest). Each
    card is tried once: two declining cards are not charged in turn every WAIT_S, and a card that
    was already there, which neither the bid's passkey nor the customer's answer chose, never is."""
    tried = bid.tried_method_ids | {bid.method_id} | ({bid.grace_method_id} if bid.grace_method_id else set())
    listed = [
        m
        for m in methods.list_methods(customer_id=bid.customer_id)["payment_methods"]
        if m["payment_method_id"] not in tried
        and (
            m["payment_method_id"] not in bid.grace_method_ids
            or (m["default"] and m["payment_method_id"] != bid.grace_default_id)
        )
    ]
    if not listed:
        return None
    chosen = next((m for m in listed if m["default"]), None) or max(
        listed, key=lambda m: str(m["created_at"])
    )
    return str(chosen["payment_method_id"])


def _settle_waiting(
    offer: Offer, bid: FrozenBid, hooks: dict[str, Callable[..., None]]
) -> tuple[str | None, str | None]:
    """A bid within its grace: (outcome, reason) once decided, (None, None) while it still waits.
    The current attempt is asked first (a run may have died after charging it); then a new card is
    tried, the attempt recorded before the call; past the grace, it is declined for good. A refund
    already decided (its call stopped before it was recorded) is finished, never turned into a grant."""
    if bid.refund_reason:
        return _refund(offer, bid, bid.charge_id or "", bid.refund_reason)
    attempt = bid.charge_attempts
    if attempt > 1:
        outcome, charge_id, code = _charge(offer, bid, attempt=attempt, method_id=bid.grace_method_id)
        if outcome == clearing.WON:
            return _won(offer, bid, charge_id, hooks)
        # Told once per declined card (same dedup key as right after the call, which a stopped run
        # may not have reached).
        _ask_for_card(offer, bid, code or "card_declined", int(bid.grace_until or 0), attempt)
    else:
        code = bid.decline_code
    if epoch(now()) >= int(bid.grace_until or 0):
        return _decline_for_good(bid, code or "card_declined")
    method_id = _replacement(bid)
    if method_id is None:
        return None, None
    attempt += 1
    retry_conflicts(
        functools.partial(
            OfferBid(bid.PK, bid.SK).update,
            actions=[
                OfferBid.charge_attempts.set(attempt),
                OfferBid.grace_method_id.set(method_id),
                OfferBid.tried_method_ids.add({method_id}),
            ],
            condition=OfferBid.outcome.does_not_exist(),
        ),
        what="bid",
    )
    outcome, charge_id, code = _charge(offer, bid, attempt=attempt, method_id=method_id)
    log_event("bid_charge_retried", offer=offer.offer_id, customer_id=bid.customer_id, outcome=outcome)
    if outcome == clearing.WON:
        return _won(offer, bid, charge_id, hooks)
    _ask_for_card(offer, bid, code or "card_declined", int(bid.grace_until or 0), attempt)
    return None, None


def _won(
    offer: Offer, bid: FrozenBid, charge_id: str | None, hooks: dict[str, Callable[..., None]]
) -> tuple[str | None, str | None]:
    charged = hooks.get("charged")
    if charged is not None:
        charged(bid=bid, outcome=clearing.WON)
    if offer.grant is not None:
        return _deliver(offer, bid, charge_id or "")
    _record(
        bid,
        [
            OfferBid.outcome.set(clearing.WON),
            OfferBid.charge_id.set(charge_id or ""),
            OfferBid.decided_at.set(iso_ms(now())),
        ],
    )
    return clearing.WON, None


def _decline_for_good(bid: FrozenBid, code: str) -> tuple[str | None, str | None]:
    _record(
        bid,
        [
            OfferBid.outcome.set(clearing.DECLINED),
            OfferBid.decline_code.set(code),
            OfferBid.decided_at.set(iso_ms(now())),
        ],
    )
    return clearing.DECLINED, code


def _record(bid: FrozenBid, actions: list[Action]) -> None:
    """An outcome on the bid, once (an earlier run's stands)."""
    try:
        retry_conflicts(
            functools.partial(
                OfferBid(bid.PK, bid.SK).update, actions=actions, condition=OfferBid.outcome.does_not_exist()
            ),
            what="bid",
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def _entry_to_wire(entry: clearing.Entry, currency: str) -> dict[str, Any]:
    return {
        "rank": entry.rank,
        "bid_id": entry.bid.bid_id,
        "customer_id": entry.bid.bidder_id,
        "amount": entry.bid.amount,
        "currency": currency,
        "placed_at": entry.bid.placed_at,
        "outcome": entry.outcome,
        "reason": entry.reason,
    }


def _store_result(offer: Offer, lease: str, entries: list[clearing.Entry], *, cleared: bool) -> None:
    wire = [_entry_to_wire(e, offer.currency) for e in entries]
    pages = [wire[i : i + RESULT_PAGE_SIZE] for i in range(0, len(wire), RESULT_PAGE_SIZE)] or [[]]
    digest = hashlib.sha256()
    for n, page in enumerate(pages):
        text = json.dumps(page, separators=(",", ":"), sort_keys=True)
        digest.update(text.encode())
        page_item = OfferResultPage(offer.PK, f"RESULT#{n:05d}", entries=text)
        try:
            retry_conflicts(
                functools.partial(page_item.save, condition=OfferResultPage.PK.does_not_exist()),
                what="result_page",
            )
        except PutError as error:  # written by a run that died after it: same bids, same decisions, same page
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
    counts = {
        k: sum(1 for e in entries if e.outcome == k)
        for k in (clearing.WON, clearing.DECLINED, clearing.REFUNDED, clearing.LOST, "cancelled")
    }
    summary = {
        "bids": len(entries),
        "won": counts[clearing.WON],
        "declined": counts[clearing.DECLINED],
        "refunded": counts[clearing.REFUNDED],
        "lost": counts[clearing.LOST],
        "cancelled": counts["cancelled"],
        "units_left": int(offer.inventory) - counts[clearing.WON],
        "revenue": {
            "amount": sum(e.bid.amount for e in entries if e.outcome == clearing.WON),
            "currency": offer.currency,
        },
        "digest": "sha256:" + digest.hexdigest(),
        "pages": len(pages),
        "cleared_at": iso_ms(now()),
    }
    actions = [
        Offer.result.set(summary),
        Offer.result_pages.set(len(pages)),
        Offer.updated_at.set(iso_ms(now())),
    ]
    if cleared:
        actions.append(Offer.status.set("cleared"))
    if not _update_if(offer, actions, (Offer.lease_owner == lease) & Offer.result_pages.does_not_exist()):
        raise LeaseLost("result already stored or lease taken over")
    if cleared:
        emit("OfferCleared")
    log_event(
        "clearing_done" if cleared else "cancellation_recorded",
        offer=offer.offer_id,
        won=counts[clearing.WON],
        declined=counts[clearing.DECLINED],
        bids=len(entries),
    )


_LOST_REASONS = {
    "outbid": (
        "D'autres offres plus hautes ont remporté les unités. Rien n'a été prélevé.",
        "Higher bids won the units. Nothing was charged.",
    ),
    "offer_cancelled": (
        "L'offre a été annulée. Rien n'a été prélevé.",
        "The offer was cancelled. Nothing was charged.",
    ),
}
_METHOD_REMOVED = (
    "Le moyen de paiement choisi a été supprimé avant la clôture.",
    "The payment method you chose was removed before closing.",
)


def _grant_data(offer: Offer, customer_id: str, bid_id: str) -> dict[str, Any]:
    """What the `bidding.won` alert says of the grant: the line, the upgrade, its end, the receipt."""
    try:
        upgrade = UpgradeGrant.get(customer_pk(customer_id), f"{GRANT_PREFIX}{bid_id}", consistent_read=True)
    except UpgradeGrant.DoesNotExist:
        return {}
    names = plain(upgrade.name)
    line = _line(customer_id, upgrade.line_id)
    ends = datetime.fromisoformat(upgrade.ends_at)
    number = phone_number(line.msisdn) if line is not None else ""
    words = {
        lang: grants.delivered(
            upgrade.grant_kind, names.get(lang) or names.get("fr") or upgrade.entry_id, number, ends, lang
        )
        for lang in ("fr", "en")
    }
    return {
        "grant_fr": words["fr"],
        "grant_en": words["en"],
        "receipt_id": upgrade.receipt_id,
        "line_id": upgrade.line_id,
        "msisdn": number,
        "grant_name_fr": names.get("fr") or upgrade.entry_id,
        "grant_name_en": names.get("en") or names.get("fr") or upgrade.entry_id,
        "ends_at": upgrade.ends_at,
        "ends_on_fr": long_date(ends.date(), "fr"),
        "ends_on_en": long_date(ends.date(), "en"),
    }


def _tell(offer: Offer, entry: dict[str, Any]) -> None:
    title = plain(offer.title)
    data: dict[str, Any] = {
        "offer_id": offer.offer_id,
        "title_fr": title["fr"],
        "title_en": title["en"],
        # notify() writes `amount` in the customer's language from these two.
        "amount_minor": int(entry["amount"]),
        "currency": offer.currency,
    }
    if entry["outcome"] == clearing.WON:
        granted = _grant_data(offer, entry["customer_id"], entry["bid_id"]) if offer.grant is not None else {}
        kind = "bidding.won"
        data.update(granted)
    elif entry["outcome"] == clearing.REFUNDED:
        kind = "bidding.refunded"
        reason = entry["reason"] or "line_gone"
        said = grants.PROBLEMS.get(reason, grants.PROBLEMS["line_gone"])
        data.update(reason=reason, reason_fr=said["fr"], reason_en=said["en"])
    elif entry["outcome"] == clearing.DECLINED:
        kind = "bidding.declined"
        fr, en = (
            _METHOD_REMOVED
            if entry["reason"] == "payment_method_removed"
            else DECLINES.get(entry["reason"] or "", DECLINES["card_declined"])
        )
        data.update(reason=entry["reason"], reason_fr=fr, reason_en=en)
    else:
        kind = "bidding.lost"
        reason = entry["reason"] or "outbid"
        if offer.status == "cancelled" and offer.cancel_reason:
            said_text = json.loads(offer.cancel_reason)
            fr, en = said_text["fr"] + " Rien n'a été prélevé.", said_text["en"] + " Nothing was charged."
        else:
            fr, en = _LOST_REASONS.get(reason, _LOST_REASONS["outbid"])
        data.update(reason=reason, reason_fr=fr, reason_en=en)
    try:
        inbox.notify(
            customer_id=entry["customer_id"],
            kind=kind,
            data=data,
            dedup_key=f"offer:{offer.offer_id}:outcome",
        )
    except NotFound:  # the customer was removed since: nobody to tell
        log_event("bidder_gone", offer=offer.offer_id, customer_id=entry["customer_id"])


def _tell_bidders(offer: Offer, lease: str, budget: Budget) -> None:
    pages = int(offer.result_pages or 0)
    for n in range(int(offer.notified_pages or 0), pages):
        if budget.left() <= 0:
            raise Stopped("out of time")
        _renew(offer, lease)
        page = OfferResultPage.get(offer.PK, f"RESULT#{n:05d}", consistent_read=True)
        for entry in json.loads(page.entries):
            _tell(offer, entry)
        if not _update_if(offer, [Offer.notified_pages.set(n + 1)], Offer.lease_owner == lease):
            raise LeaseLost("lease taken over")


def _finish(offer: Offer, lease: str) -> None:
    """Off the to-do list once every bidder was told."""
    if not _update_if(
        offer,
        [
            Offer.GSI1PK.remove(),
            Offer.GSI1SK.remove(),
            Offer.lease_owner.remove(),
            Offer.lease_until.remove(),
        ],
        (Offer.lease_owner == lease) & (Offer.notified_pages == Offer.result_pages),
    ):
        raise LeaseLost("lease taken over")
