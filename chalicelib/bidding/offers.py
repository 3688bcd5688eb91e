"""Offers: created and cancelled by admins from the console, listed and read by eligible customers.

An offer's bids are spread over `shards` partitions (`OFFER#<id>#S#<n>`), each with a gate item
that bids check in their transaction; cancelling closes every gate in the same transaction as the
status change, so nobody bids on a cancelled offer. Their rank index (GSI1) can be spread the same
way (`BIDS#<id>#<n>`, the same n): see RANK_SHARD_FROM, and infra/README.md "Scale" for the figures.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from pydantic import Field, model_validator

from chalicelib.bidding import clearing, grants
from chalicelib.bidding.schemas import OFFER_ID, MinorUnits
from chalicelib.common.clock import from_epoch, iso_ms, now
from chalicelib.common.languages import spoken
from chalicelib.common.secrets import new_id
from chalicelib.common.strict import JsonInt, Strict
from chalicelib.customers.formats import SegmentName
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.observability.log import log_event
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import (
    Customer,
    Item,
    Line,
    Offer,
    OfferBid,
    OfferGate,
    OfferResultPage,
    customer_pk,
    plain,
)

# 100,000 bidders on one offer peak at ~1,800 placements/s in its last seconds (infra/README.md
# "Scale"): over 16 shards, each partition (its gate's check and its bids, 2 WCU each) takes
# ~450 WCU/s of its 1,000; 8 took ~900, too close. An offer keeps the count it was created with.
SHARDS = 16
# The rank index partition is one key per offer (`BIDS#<id>`), written on every placement (1 WCU,
# 2 for a change: the index deletes the old rank key and puts the new one): at 100,000 bidders,
# ~2,400 WCU/s at the peak, 2.4x what a GSI partition takes, and a throttled GSI throttles the bids
# themselves. An offer created for that many (`expected_bidders` >= RANK_SHARD_FROM) spreads it as
# `BIDS#<id>#<n>` (n its base shard) and its readers merge the shards (`rank_pks`). Not every offer:
# placing a bid reads the ranking once to warn a bidder pushed out (engagement.pushed_out), one
# Query per rank shard, 12 calls becoming 27, a cost only an offer of that size must pay. Per offer,
# stored at creation: an offer's bids are never split between two layouts.
RANK_SHARD_FROM = 20_000
ACTIVE = "OFFERS#ACTIVE"
MAX_LISTED = 100
RESULT_PAGE_SIZE = 1000


def shard_pks(offer_id: str, shards: int = SHARDS) -> list[str]:
    """The partitions of an offer's bids, each with its gate."""
    return [f"OFFER#{offer_id}#S#{n}" for n in range(shards)]


def shard_of(offer: Offer | str, customer_id: str, shards: int = SHARDS) -> str:
    """The partition of a customer's bid (a hash of the customer spreads an offer's writes)."""
    offer_id = offer if isinstance(offer, str) else offer.offer_id
    count = shards if isinstance(offer, str) else int(offer.shards)
    return shard_pks(offer_id, count)[shard_number(customer_id, count)]


def shard_number(customer_id: str, shards: int) -> int:
    return int(hashlib.sha256(customer_id.encode()).hexdigest()[:8], 16) % shards


def rank_shards(offer: Offer) -> int:
    """1 (one rank key) unless the offer was created sharded (RANK_SHARD_FROM)."""
    return int(offer.rank_shards or 1)


def rank_pks(offer: Offer) -> list[str]:
    """The rank index partitions of an offer's bids: every reader of the ranking merges them."""
    if rank_shards(offer) == 1:
        return [f"BIDS#{offer.offer_id}"]
    return [f"BIDS#{offer.offer_id}#{n}" for n in range(rank_shards(offer))]


def rank_pk(offer: Offer, customer_id: str) -> str:
    """The rank index partition of a customer's bid: the shard of its base partition."""
    return rank_pks(offer)[shard_number(customer_id, rank_shards(offer))]


def bid_key(offer: Offer, customer_id: str) -> tuple[str, str]:
    return shard_of(offer, customer_id), f"BID#{customer_id}"


def gate_key(offer: Offer, customer_id: str) -> tuple[str, str]:
    return shard_of(offer, customer_id), "GATE"


# --- admins ------------------------------------------------------------------------------------------


class Texts(Strict):
    fr: str = Field(min_length=1, max_length=400)
    en: str = Field(min_length=1, max_length=400)


class Eligibility(Strict):
    plan_ids: list[str] = Field(
        default_factory=list, max_length=50, description="Customers with an active line on one of these plans"
    )
    segments: list[SegmentName] = Field(
        default_factory=list, max_length=50, description="Customers in one of these segments"
    )


class CreateOfferEvent(Strict):
    offer_id: str | None = Field(
        default=None, pattern=f"^{OFFER_ID}$", description="Optional: makes the creation safe to repeat"
    )
    title: Texts
    description: Texts
    inventory: JsonInt = Field(ge=1, le=100_000, description="Units to award")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    min_bid: MinorUnits = Field(ge=1, le=10**11, description="Minor units")
    max_bid: MinorUnits = Field(ge=1, le=10**11, description="Minor units: the list price")
    increment: MinorUnits = Field(ge=1, le=10**11, description="Minor units")
    opens_at: datetime
    closes_at: datetime
    eligibility: Eligibility = Field(default_factory=Eligibility)
    grant: grants.GrantSpec = Field(description="What each winner gets, on the line they chose")
    expected_bidders: JsonInt | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="How many customers may bid: from 20,000 the ranking index is spread over the "
        "offer's shards (infra/README.md, Scale), and placing a bid reads each of them",
    )

    @model_validator(mode="after")
    def _coherent(self) -> CreateOfferEvent:
        if self.opens_at.tzinfo is None or self.closes_at.tzinfo is None:
            raise ValueError("opens_at and closes_at need a time zone (e.g. 2026-12-01T09:00:00Z)")
        if self.max_bid < self.min_bid:
            raise ValueError("max_bid (the list price) is below min_bid")
        if (self.max_bid - self.min_bid) % self.increment:
            raise ValueError("max_bid must be min_bid plus a whole number of increments")
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        if self.closes_at <= now():
            raise ValueError("closes_at is in the past")
        if self.closes_at - self.opens_at > timedelta(days=90):
            raise ValueError("bidding may stay open 90 days at most")
        return self


class OfferRefEvent(Strict):
    offer_id: str = Field(pattern=f"^{OFFER_ID}$")


class CancelOfferEvent(OfferRefEvent):
    reason: Texts | None = None


class OfferResultEvent(OfferRefEvent):
    page: JsonInt = Field(default=0, ge=0, le=10**6, description="Result page (1,000 bids each)")


def create_offer(event: CreateOfferEvent) -> dict[str, Any]:
    """The offer and its gates in one transaction; the same offer_id again is refused, never overwritten."""
    from chalicelib.account import catalog

    for plan_id in event.eligibility.plan_ids:
        catalog.get("plan", plan_id)  # NotFound names the unknown plan
    grant = grants.stored(event.grant)  # NotFound names the unknown entry
    offer_id = event.offer_id or new_id("off")
    opens, closes, moment = iso_ms(event.opens_at), iso_ms(event.closes_at), iso_ms(now())
    offer = Offer(
        f"OFFER#{offer_id}",
        "OFFER",
        GSI1PK=ACTIVE,
        GSI1SK=f"{closes}#{offer_id}",
        offer_id=offer_id,
        title=event.title.model_dump(),
        description=event.description.model_dump(),
        inventory=event.inventory,
        currency=event.currency,
        min_bid=event.min_bid,
        max_bid=event.max_bid,
        increment=event.increment,
        opens_at=opens,
        closes_at=closes,
        eligibility=event.eligibility.model_dump(),
        shards=SHARDS,
        rank_shards=SHARDS if (event.expected_bidders or 0) >= RANK_SHARD_FROM else 1,
        status="open",
        notified_pages=0,
        grant=grant,
        created_at=moment,
        updated_at=moment,
    )
    try:
        with transaction() as tx:
            tx.save(offer, condition=Offer.PK.does_not_exist(), label="new")
            for pk in shard_pks(offer_id, SHARDS):
                tx.save(
                    OfferGate(pk, "GATE", offer_id=offer_id, status="open", opens_at=opens, closes_at=closes)
                )
    except ConditionsFailed:
        raise Conflict(f"Offer {offer_id} already exists.", code="offer_exists") from None
    log_event("offer_created", offer=offer_id, inventory=event.inventory)
    return {
        "offer_id": offer_id,
        "status": "open",
        "opens_at": opens,
        "closes_at": closes,
        "grant": grants.to_wire(grant, "en"),
    }


def get_offer(offer_id: str, *, consistent: bool = False) -> Offer:
    try:
        return Offer.get(f"OFFER#{offer_id}", "OFFER", consistent_read=consistent)
    except Offer.DoesNotExist:
        raise NotFound("No such offer.", code="offer_not_found") from None


def cancel_offer(event: CancelOfferEvent) -> dict[str, Any]:
    """open → cancelled with every gate closed, in one transaction, only before closes_at. The
    clearing job then records the result (nobody charged) and tells the bidders."""
    offer = get_offer(event.offer_id, consistent=True)
    moment = iso_ms(now())
    reason = (
        event.reason.model_dump()
        if event.reason
        else {"fr": "L'offre a été annulée.", "en": "The offer was cancelled."}
    )
    try:
        with transaction() as tx:
            tx.update(
                offer,
                actions=[
                    Offer.status.set("cancelled"),
                    Offer.cancel_reason.set(json.dumps(reason)),
                    Offer.updated_at.set(moment),
                ],
                condition=(Offer.status == "open") & (Offer.closes_at > moment),
                label="open",
            )
            for pk in shard_pks(offer.offer_id, int(offer.shards)):
                tx.update(OfferGate(pk, "GATE"), actions=[OfferGate.status.set("cancelled")])
    except ConditionsFailed:
        raise Conflict(
            f"Offer {offer.offer_id} is {offer.status if offer.status != 'open' else 'closed'}: it can no longer be cancelled.",
            code="offer_not_cancellable",
        ) from None
    log_event("offer_cancelled", offer=offer.offer_id)
    return {
        "offer_id": offer.offer_id,
        "status": "cancelled",
        "message": "Cancelled: nobody will be charged; bidders are told within a minute.",
    }


def offer_result(event: OfferResultEvent) -> dict[str, Any]:
    offer = get_offer(event.offer_id, consistent=True)
    answer: dict[str, Any] = {
        "offer_id": offer.offer_id,
        "status": offer.status,
        "closes_at": offer.closes_at,
        "inventory": int(offer.inventory),
        "currency": offer.currency,
    }
    if offer.result is None:
        answer["message"] = "No result yet: bidding is open or the clearing is running."
        return answer
    answer["summary"] = plain(offer.result)
    answer["notified_pages"] = int(offer.notified_pages or 0)
    try:
        page = OfferResultPage.get(offer.PK, f"RESULT#{event.page:05d}", consistent_read=True)
    except OfferResultPage.DoesNotExist:
        answer["page"], answer["entries"] = event.page, []
        return answer
    answer["page"], answer["entries"] = event.page, json.loads(page.entries)
    return answer


# --- customers ---------------------------------------------------------------------------------------


class Viewer:
    """What eligibility needs of the caller: their lines, active lines' plans, segments and language,
    from one Query of their partition (lines and profile), made on the first question only
    (withdrawing an offer one has bid on needs none)."""

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id

    @cached_property
    def _items(self) -> list[Item]:
        return list(Item.query(customer_pk(self.customer_id), Item.SK.between("LINE#", "PROFILE")))

    @cached_property
    def lines(self) -> list[Line]:
        return [i for i in self._items if isinstance(i, Line)]

    @cached_property
    def language(self) -> str:
        profile = next((i for i in self._items if isinstance(i, Customer)), None)
        return spoken(profile.language if profile else None)

    @cached_property
    def _plans_and_segments(self) -> tuple[set[str | None], set[str]]:
        profile = next((i for i in self._items if isinstance(i, Customer)), None)
        plans = {plain(i.plan).get("id") for i in self.lines if i.status == "active"}
        return plans, set(profile.segments or ()) if profile else set()

    def eligible_lines(self, offer: Offer) -> list[dict[str, str]]:
        """The caller's lines that can take the offer's grant now: what the app lets them choose."""
        if offer.grant is None:
            return []
        grant, entries = plain(offer.grant), catalog_entries()
        plan_ids = (plain(offer.eligibility) or {}).get("plan_ids") or ()
        return [
            {"line_id": line.line_id, "msisdn": line.msisdn}
            for line in sorted(self.lines, key=lambda x: x.line_id)
            if grants.problem(grant, line, entries=entries, plan_ids=plan_ids) is None
        ]

    def eligible(self, offer: Offer) -> bool:
        rules = plain(offer.eligibility) or {}
        wanted_plans, wanted_segments = set(rules.get("plan_ids") or ()), set(rules.get("segments") or ())
        if not wanted_plans and not wanted_segments:
            return True
        plans, segments = self._plans_and_segments
        return (not wanted_plans or bool(wanted_plans & plans)) and (
            not wanted_segments or bool(wanted_segments & segments)
        )


def phase(offer: Offer, moment: str) -> str:
    """What the customer sees: upcoming, open, closed (clearing), cleared, cancelled."""
    if offer.status == "open":
        if moment < offer.opens_at:
            return "upcoming"
        return "open" if moment < offer.closes_at else "closed"
    return {"clearing": "closed"}.get(offer.status, offer.status)


def money(amount: float, currency: str) -> dict[str, Any]:
    """An amount in minor units as the API shows it; `amount` as stored (a DynamoDB number, integral)."""
    return {"amount": int(amount), "currency": currency}


def catalog_entries() -> list[Any]:
    from chalicelib.account import catalog

    return catalog.load_all()


def offer_to_wire(offer: Offer, moment: str, language: str = "fr") -> dict[str, Any]:
    return {
        "offer_id": offer.offer_id,
        "title": plain(offer.title),
        "description": plain(offer.description),
        "status": phase(offer, moment),
        "inventory": int(offer.inventory),
        "min_bid": money(offer.min_bid, offer.currency),
        "max_bid": money(offer.max_bid, offer.currency),
        "increment": money(offer.increment, offer.currency),
        "opens_at": offer.opens_at,
        "closes_at": offer.closes_at,
        "grant": grants.to_wire(plain(offer.grant), language) if offer.grant is not None else None,
    }


def list_offers(*, customer_id: str) -> dict[str, Any]:
    """Open and upcoming offers the caller may bid on, each with the caller's bid: one Query of the
    active offers, one of the caller's partition, one BatchGetItem of their bids."""
    moment = iso_ms(now())
    viewer = Viewer(customer_id)
    offers = [
        o
        for o in Offer.gsi1.query(ACTIVE, moment < Offer.GSI1SK, limit=MAX_LISTED)
        if o.status == "open" and viewer.eligible(o)
    ]
    keys = [bid_key(o, customer_id) for o in offers]
    mine = {b.offer_id: b for b in OfferBid.batch_get(keys)} if keys else {}
    return {
        "offers": [
            {
                **offer_to_wire(o, moment, viewer.language),
                "my_bid": bid_to_wire(mine[o.offer_id]) if o.offer_id in mine else None,
            }
            for o in offers
        ]
    }


def bid_to_wire(bid: OfferBid) -> dict[str, Any]:
    return {
        "amount": money(bid.amount, bid.currency),
        "payment_method_id": bid.method_id,
        "line_id": bid.line_id,
        "placed_at": bid.placed_at,
    }


def visible_offer(
    customer_id: str, offer_id: str, *, consistent: bool = False
) -> tuple[Offer, Viewer, OfferBid | None]:
    """The offer if the caller may see it (eligible, or bid on it); otherwise 404, like an unknown
    id. With the caller's bid, read consistently when the caller is about to change it."""
    offer = get_offer(offer_id)
    viewer = Viewer(customer_id)
    try:
        bid: OfferBid | None = OfferBid.get(*bid_key(offer, customer_id), consistent_read=consistent)
    except OfferBid.DoesNotExist:
        bid = None
    if bid is None and not viewer.eligible(offer):
        raise NotFound("No such offer.", code="offer_not_found")
    return offer, viewer, bid


def outcome_of(offer: Offer, bid: OfferBid | None) -> dict[str, Any] | None:
    """The caller's outcome once the offer is cleared or cancelled (from their bid item alone: bids
    never charged lost)."""
    if bid is not None and offer.status == "clearing" and bid.outcome is None and bid.grace_until:
        # Declined at clearing: the unit waits for a new card until the grace ends.
        return {
            "status": "payment_failed",
            "reason": bid.decline_code or "card_declined",
            "charged": None,
            "retry_until": iso_ms(from_epoch(float(bid.grace_until))),
        }
    if bid is not None and bid.outcome == clearing.WON and offer.status in ("clearing", "cleared"):
        return {
            "status": "won",
            "reason": None,
            "charged": money(bid.amount, bid.currency),
            "charge_id": bid.charge_id,
            "line_id": bid.line_id,
        }
    if bid is None or offer.status not in ("cleared", "cancelled"):
        return None
    if offer.status == "cancelled":
        return {"status": "cancelled", "reason": "offer_cancelled", "charged": None}
    if bid.outcome == clearing.REFUNDED:
        return {"status": "refunded", "reason": bid.refund_reason or "line_not_eligible", "charged": None}
    if bid.outcome == clearing.DECLINED:
        return {"status": "declined", "reason": bid.decline_code or "card_declined", "charged": None}
    return {"status": "lost", "reason": "outbid", "charged": None}


def validate_amount(offer: Offer, amount: int) -> None:
    low, high, step = int(offer.min_bid), int(offer.max_bid), int(offer.increment)
    if amount < low or amount > high:
        raise ValidationFailed(
            f"Bids go from {low} to {high} ({offer.currency} minor units).", code="bid_out_of_range"
        )
    if (amount - low) % step:
        raise ValidationFailed(
            f"Bids go up in steps of {step} from {low}: {amount} is not on a step.", code="bid_off_increment"
        )
