"""Engagement alerts of upgrade offers: an invitation when an offer opens, a reminder before it
closes, a warning when a bid is pushed out of the winning range.

Invitations and reminders come from a scheduled pass (`engage_bidders`, every 5 minutes), apart
from the clearing job: that job's lease claims an offer once it is due to close, while these walk
offers that are still open, so sharing its lease would block clearing while a segment is walked.
Each alert is exactly-once through notify()'s dedup key (per offer and customer); the offer's
`OfferEngagement` item (bidding/models.py) only records how far the walk got (when a run is out of
time, and when a walk ends), so a run that dies walks again from the last record and nobody is told
twice.

Who is invited: the members of each of the offer's segments (one Query page after another of
`SEGMENT#<name>`; an offer without segments asks `SEGMENT#all`, every customer) who consent to
marketing (an invitation is a commercial message: `Invitee`), each then checked
as offers.Viewer decides eligibility (one Query of the customer's partition: lines and profile),
which is where plan ids are checked. Cost per offer: the segment pages, plus per member one Query,
one GetItem and one transaction (notify). There is no index of customers by plan: an offer
restricted by plan only walks `SEGMENT#all` and keeps those with an active line on the plan.

The outbid warning is given at placing time (`after_placement`), after the bid's transaction and
outside it, best effort: it never fails the bid. It reads the first inventory + 1 entries of the
offer's rank index (keys only, as the strength indicator does), never more than
bids.STRENGTH_MAX_READ. Limits: the rank index is eventually consistent, so two placements at the
same moment may not see each other's bid, and the second bid pushed out may go unwarned; a bid that
re-enters the winning range because another bid was withdrawn, then is pushed out again, is warned
again only if it was placed again meanwhile (the dedup key counts placements). The warning tells
its reader whether their bid was inside the winning range, which is finer than the strength
bands (bids.py): accounts that bid against each other can learn more of a rival's amount than its
band, at the cost of placements (passkey step-ups, limited changes, a real commitment).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from chalicelib.bidding import bids, grants, offers
from chalicelib.bidding.models import ENGAGEMENT_SK, OfferEngagement
from chalicelib.bidding.offers import ACTIVE, Viewer
from chalicelib.common.clock import iso_ms, now
from chalicelib.common.languages import long_date
from chalicelib.config import get_settings
from chalicelib.errors import NotFound
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.privacy import consent
from chalicelib.store.models import Customer, Offer, OfferBid, SegmentMember, plain

BUDGET_S = 240.0  # of the function's 300 s timeout (.chalice/config.json)
PAGE = 100  # entries per Query page; a run out of time records the page to resume after

STRENGTH_TEXTS = {
    "weak": {"fr": "Elle est actuellement faible.", "en": "It is currently weak."},
    "fair": {"fr": "Elle est actuellement moyenne.", "en": "It is currently fair."},
    "strong": {"fr": "Elle est actuellement forte.", "en": "It is currently strong."},
}


def reminder_hours() -> int:
    """BID_CLOSING_REMINDER_HOURS (a seam the tests may set)."""
    return get_settings().bid_closing_reminder_hours


def _instant(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _closes(offer: Offer) -> dict[str, str]:
    """The closing time: the instant, and in a sentence per language (as closing.py writes times)."""
    at = _instant(offer.closes_at)
    return {
        "closes_at": offer.closes_at,
        "closes_at_fr": f"{long_date(at.date(), 'fr')} à {at:%H:%M} UTC",
        "closes_at_en": f"{long_date(at.date(), 'en')} at {at:%H:%M} UTC",
    }


def _about(offer: Offer) -> dict[str, str]:
    title = plain(offer.title)
    return {"offer_id": offer.offer_id, "title_fr": title.get("fr", ""), "title_en": title.get("en", "")}


class Invitee(Viewer):
    """A segment member as an invitation sees them: eligibility (offers.Viewer), and whether they
    consent to marketing (chalicelib/privacy/consent.py; default: no). An invitation is a commercial
    message; reminders and outbid warnings are not (they are about a bid the customer placed).
    Consent is read from the profile in the Viewer's one Query (lines and profile), which
    eligibility then reuses: no read of its own, and no notify() for those who did not consent."""

    @cached_property
    def consents(self) -> bool:
        return consent.consents_of(next((i for i in self._items if isinstance(i, Customer)), None))


def _tell(customer_id: str, kind: str, data: dict[str, Any], dedup_key: str) -> bool:
    """notify(), a customer gone meanwhile skipped; whether this call made the alert."""
    try:
        return inbox.notify(customer_id=customer_id, kind=kind, data=data, dedup_key=dedup_key).created
    except NotFound:
        log_event("bidder_gone", customer_id=customer_id, kind=kind)
        return False


# --- the scheduled pass -----------------------------------------------------------------------------


def run(*, budget_s: float = BUDGET_S) -> dict[str, dict[str, Any]]:
    """One pass over the open offers (engage each). Returns offer id → alerts made and whether each
    walk finished (`failed` for an offer that raised: the others go on, the next run resumes it)."""
    deadline = time.monotonic() + budget_s
    moment = iso_ms(now())
    done: dict[str, dict[str, Any]] = {}
    for offer in Offer.gsi1.query(
        ACTIVE,
        filter_condition=(Offer.status == "open") & (Offer.opens_at <= moment) & (Offer.closes_at > moment),
    ):
        if time.monotonic() >= deadline:
            break
        try:
            done[offer.offer_id] = engage(offer, deadline=deadline)
        except Exception as error:  # noqa: BLE001 - one offer must not stop the others
            log_event(
                "batch_item_failed",
                level=logging.ERROR,
                job="engage_bidders",
                offer=offer.offer_id,
                error=type(error).__name__,
            )
            emit("BatchItemFailed")
            done[offer.offer_id] = {"failed": True}
    return done


def engage(offer: Offer, *, deadline: float | None = None) -> dict[str, Any]:
    """Invitations once the offer is open, reminders once it closes within
    BID_CLOSING_REMINDER_HOURS; nothing before it opens or once bidding has closed."""
    deadline = deadline if deadline is not None else time.monotonic() + BUDGET_S
    clock = now()
    moment = iso_ms(clock)
    answer: dict[str, Any] = {}
    if offer.status != "open" or not offer.opens_at <= moment < offer.closes_at:
        return answer
    marker = _marker(offer.offer_id)
    if marker.invited_at is None:
        answer["invited"], answer["invitations_done"] = _invite(offer, marker, moment, deadline)
    if marker.reminded_at is None and offer.closes_at <= iso_ms(clock + timedelta(hours=reminder_hours())):
        answer["reminded"], answer["reminders_done"] = _remind(offer, marker, moment, deadline)
    return answer


def _marker(offer_id: str) -> OfferEngagement:
    try:
        return OfferEngagement.get(f"OFFER#{offer_id}", ENGAGEMENT_SK, consistent_read=True)
    except OfferEngagement.DoesNotExist:
        return OfferEngagement(f"OFFER#{offer_id}", ENGAGEMENT_SK)


def _record(marker: OfferEngagement, actions: list[Any]) -> None:
    marker.update(actions=[OfferEngagement.type.set(OfferEngagement), *actions])


def _pages(
    query: Callable[[dict[str, Any] | None], Any], last: dict[str, Any] | None
) -> Iterator[tuple[list[Any], dict[str, Any] | None]]:
    """(items of a page, the key to resume after it) until the Query ends."""
    while True:
        result = query(last)
        items = list(result)
        last = result.last_evaluated_key
        yield items, last
        if not last:
            return


def _invite(offer: Offer, marker: OfferEngagement, moment: str, deadline: float) -> tuple[int, bool]:
    rules = plain(offer.eligibility) or {}
    segments = sorted(set(rules.get("segments") or ())) or ["all"]
    cursor: dict[str, Any] = json.loads(marker.invite_cursor) if marker.invite_cursor else {}
    first = segments.index(cursor["segment"]) if cursor.get("segment") in segments else 0
    data = {
        **_about(offer),
        **_closes(offer),
        "min_bid_minor": int(offer.min_bid),
        "max_bid_minor": int(offer.max_bid),
        "currency": offer.currency,
    }
    if offer.grant is not None:
        grant = plain(offer.grant)
        data |= {"grant_fr": grants.describe(grant, "fr"), "grant_en": grants.describe(grant, "en")}
    told = 0
    for segment in segments[first:]:
        start = cursor.get("last") if cursor.get("segment") == segment else None

        def query(last: dict[str, Any] | None, segment: str = segment) -> Any:
            return SegmentMember.query(f"SEGMENT#{segment}", limit=PAGE, last_evaluated_key=last)

        for members, last in _pages(query, start):
            for member in members:
                invitee = Invitee(member.customer_id)
                if invitee.consents and invitee.eligible(offer):
                    told += _tell(
                        member.customer_id, "bidding.invitation", data, f"offer:{offer.offer_id}:invitation"
                    )
            if time.monotonic() < deadline:
                continue
            # Out of time: the next run resumes after this page (or at the next segment).
            following = segments.index(segment) + 1
            if last:
                resume: dict[str, Any] = {"segment": segment, "last": last}
            elif following < len(segments):
                resume = {"segment": segments[following]}
            else:
                break  # that was the last page of the last segment: done
            _record(marker, [OfferEngagement.invite_cursor.set(json.dumps(resume))])
            return told, False
    _record(marker, [OfferEngagement.invited_at.set(moment), OfferEngagement.invite_cursor.remove()])
    log_event("offer_invitations_sent", offer=offer.offer_id, told=told)
    return told, True


def _remind(offer: Offer, marker: OfferEngagement, moment: str, deadline: float) -> tuple[int, bool]:
    """Every bidder of the offer, from its rank index shard after shard (offers.rank_pks), with
    their bid's amount and strength. The cursor names the shard and the key to resume after in it
    (a cursor without a shard is of shard 0: the unsharded index's)."""
    cursor: dict[str, Any] = json.loads(marker.remind_cursor) if marker.remind_cursor else {}
    base = {**_about(offer), **_closes(offer), "currency": offer.currency}
    pks = offers.rank_pks(offer)
    first = int(cursor.get("shard", 0))

    # A bid's strength depends on its band only: read the ranking once per band, not per bidder.
    bands, by_band = bids.strength_bands(offer), dict[tuple[int, int], str | None]()
    told = 0
    for shard in range(first, len(pks)):

        def query(last: dict[str, Any] | None, pk: str = pks[shard]) -> Any:
            return OfferBid.gsi1.query(pk, limit=PAGE, last_evaluated_key=last)

        for placed, last in _pages(query, cursor.get("last") if shard == first else None):
            for bid in placed:
                amount = int(bid.amount)
                key = bids.band_of(bands, amount)
                if key not in by_band:
                    by_band[key] = bids.strength(offer, amount=amount)
                band = by_band[key]
                texts = STRENGTH_TEXTS.get(band or "", {"fr": "", "en": ""})
                data = {
                    **base,
                    "amount_minor": amount,
                    "strength": band or "",
                    "strength_fr": texts["fr"],
                    "strength_en": texts["en"],
                }
                told += _tell(
                    bid.customer_id, "bidding.closing_soon", data, f"offer:{offer.offer_id}:closing_soon"
                )
            if time.monotonic() >= deadline and (last or shard + 1 < len(pks)):
                # The next run resumes after this page, or at the next shard.
                resume = {"shard": shard, "last": last} if last else {"shard": shard + 1}
                _record(marker, [OfferEngagement.remind_cursor.set(json.dumps(resume))])
                return told, False
    _record(marker, [OfferEngagement.reminded_at.set(moment), OfferEngagement.remind_cursor.remove()])
    log_event("offer_reminders_sent", offer=offer.offer_id, told=told)
    return told, True


# --- at placing time ----------------------------------------------------------------------------------


def after_placement(offer: Offer, *, customer_id: str, rank_key: str, previous_rank_key: str | None) -> None:
    """Warn the bidder this placement pushed out of the winning range; never raises (the bid is
    placed whatever happens here)."""
    try:
        pushed = pushed_out(
            offer, customer_id=customer_id, rank_key=rank_key, previous_rank_key=previous_rank_key
        )
        if pushed is not None:
            warn_outbid(offer, *pushed)
    except Exception as error:  # noqa: BLE001 - best effort: the bid stands, the warning is lost
        log_event(
            "outbid_warning_failed", level=logging.WARNING, offer=offer.offer_id, error=type(error).__name__
        )


def pushed_out(
    offer: Offer, *, customer_id: str, rank_key: str, previous_rank_key: str | None
) -> tuple[str, int] | None:
    """(customer, amount) of the bid this placement pushed from rank `inventory` to `inventory + 1`,
    or None. The placer's own entry is taken from `rank_key` (the index may not show it yet)."""
    inventory = int(offer.inventory)
    if inventory + 1 > bids.STRENGTH_MAX_READ:
        return None
    # The first inventory + 1 of every rank shard, merged: the first inventory + 1 of all are
    # among them.
    entries = sorted(
        (b.GSI1SK, b.SK.removeprefix("BID#"))
        for pk in offers.rank_pks(offer)
        for b in OfferBid.gsi1.query(pk, limit=inventory + 1, attributes_to_get=["SK", "GSI1SK"])
    )[: inventory + 1]
    others = [(key, bidder) for key, bidder in entries if bidder != customer_id]
    if len(others) < inventory:
        return None  # fewer rival bids than units: everyone wins
    edge_key, edge_customer = others[inventory - 1]  # the last rival inside, were the placer out
    if rank_key > edge_key:
        return None  # the placer is not in the winning range: nobody was pushed out
    if previous_rank_key is not None and previous_rank_key < edge_key:
        return None  # the placer was already inside: the edge bid was already out
    return edge_customer, bids.RANK_CEILING - int(edge_key[:13])


def warn_outbid(offer: Offer, customer_id: str, amount: int) -> bool:
    count = bids.placements(offer.offer_id, customer_id)
    data = {**_about(offer), **_closes(offer), "amount_minor": amount, "currency": offer.currency}
    return _tell(customer_id, "bidding.outbid", data, f"offer:{offer.offer_id}:outbid:{count}")
