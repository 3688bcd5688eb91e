"""A customer's one bid on an offer: confirmed with a passkey bound to (offer, amount, currency,
method), placed, changed or withdrawn only while the offer's gate is open and before `closes_at` by
the server's clock, both checked by DynamoDB inside the write's transaction (never read-then-write).

Bids are sealed: the strength indicator rates only the caller's own placed bid, by band (see
`strength`), and a bid can be changed at most MAX_BID_CHANGES times per offer, so that nobody can
locate a rival's amount more finely than its band.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib.auth import challenges, passkeys
from chalicelib.bidding import grants
from chalicelib.bidding.offers import (
    Viewer,
    bid_key,
    bid_to_wire,
    catalog_entries,
    gate_key,
    money,
    offer_to_wire,
    outcome_of,
    phase,
    rank_pk,
    rank_pks,
    validate_amount,
    visible_offer,
)
from chalicelib.billing import methods
from chalicelib.billing.money import format_money
from chalicelib.common.clock import epoch, iso_ms, now
from chalicelib.common.languages import phone_number
from chalicelib.errors import Conflict, NotFound, TemporarilyUnavailable, Unauthenticated, ValidationFailed
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import Line, Offer, OfferBid, OfferGate, PaymentMethod, RateWindow, plain

RANK_CEILING = 10**12  # amounts are below it: the rank key sorts the highest amount first

# The strength indicator rates only the caller's own placed bid, never a candidate amount: rated
# for free at any amount, a candidate was an oracle that gave a rival's exact bid by binary search
# (12 requests). A placed bid costs a passkey step-up, one of the few changes allowed, and the
# risk of being charged if it wins. And it is rated by band: the offer's range cut into
# STRENGTH_BANDS consecutive runs of increments (published in the offer view). The answer depends
# only on the bands of the bids, never on their exact amounts or times, so no sequence of requests,
# from any number of accounts, locates a rival's bid more finely than its band.
STRENGTH_BANDS = 4
# Reads of one strength answer are bounded: at most inventory + 1 index entries, and never more
# than this (past it, with that many units, the answer is null rather than an unbounded read).
STRENGTH_MAX_READ = 1000
# Moving one's own bid is the only other probe (each move a passkey step-up, counted against the
# bid rate limit, and a real commitment): at most this many changes after the first bid, a
# withdrawal followed by a new bid counting as one.
MAX_BID_CHANGES = 5
MAX_PLACEMENTS = 1 + MAX_BID_CHANGES

RULE = {
    "fr": (
        "Les offres les plus hautes gagnent, une unité chacune, dans la limite des unités disponibles. À montant égal, "
        "l'offre la plus ancienne (heure de sa dernière modification) passe devant. Chaque gagnant paie le montant de son offre, "
        "prélevé une seule fois à la clôture sur le moyen de paiement choisi ; rien n'est prélevé si l'offre ne gagne pas. "
        "Si le paiement d'un gagnant est refusé, son offre perd et l'unité passe à l'offre suivante. "
        f"Les offres sont secrètes : la force de votre offre est donnée par tranche de montants, et vous pouvez la modifier "
        f"{MAX_BID_CHANGES} fois au plus (la retirer puis en placer une nouvelle compte comme une modification)."
    ),
    "en": (
        "The highest bids win, one unit each, up to the number of units. Equal bids go to the earlier bid (the time of "
        "its last change). Each winner pays what they bid, charged once at closing to the payment method they chose; "
        "nothing is charged if a bid does not win. If a winner's payment is declined, that bid loses and the unit goes "
        "to the next bid. Bids are sealed: your bid's strength is given by band of amounts, and you may change your bid "
        f"{MAX_BID_CHANGES} times at most (withdrawing it and bidding again counts as a change)."
    ),
}


def bid_id_for(offer_id: str, customer_id: str) -> str:
    return "bid_" + hashlib.sha256(f"{offer_id}|{customer_id}".encode()).hexdigest()[:20]


def rank_key(amount: int, placed_at: str, bid_id: str) -> str:
    """Sorts like clearing.Bid.rank_key: highest amount, then earliest change, then id."""
    return f"{RANK_CEILING - amount:013d}#{placed_at}#{bid_id}"


def binding(*, offer_id: str, amount: int, currency: str, method_id: str, line_id: str | None) -> str:
    """What a bid's passkey confirmation commits to: the line the upgrade goes to is part of it."""
    return json.dumps(
        {"offer": offer_id, "bid": amount, "currency": currency, "method": method_id, "line": line_id},
        sort_keys=True,
        separators=(",", ":"),
    )


# --- strength ------------------------------------------------------------------------------------------


def strength_bands(offer: Offer) -> list[tuple[int, int]]:
    """The offer's range, min_bid to max_bid, cut into at most STRENGTH_BANDS runs of whole
    increments (the last may be shorter): [(lowest, highest amount of the band)]."""
    low, high, step = int(offer.min_bid), int(offer.max_bid), int(offer.increment)
    amounts = (high - low) // step + 1
    width = -(-amounts // STRENGTH_BANDS)  # increments per band, rounded up
    return [
        (low + first * step, min(high, low + (first + width - 1) * step))
        for first in range(0, amounts, width)
    ]


def band_of(bands: list[tuple[int, int]], amount: int) -> tuple[int, int]:
    return next(band for band in bands if band[0] <= amount <= band[1])


def _amounts_from(offer: Offer, lowest: int, most: int) -> list[int]:
    """The amounts of the offer's bids of `lowest` or more, highest first, `most` of them at most,
    from their rank keys alone: a Query per rank index shard that stops after `most` entries
    (unlike pynamodb's `count(limit=)`, which only sizes its pages and reads every match). The
    first `most` of all are among the first `most` of each shard, so the merge is exact."""
    bound = f"{RANK_CEILING - lowest + 1:013d}"  # rank keys below it are of amounts >= lowest
    keys = [
        bid.GSI1SK
        for pk in rank_pks(offer)
        for bid in OfferBid.gsi1.query(pk, bound > OfferBid.GSI1SK, limit=most, attributes_to_get=["GSI1SK"])
    ]
    return [RANK_CEILING - int(key[:13]) for key in sorted(keys)[:most]]


def strength(offer: Offer, *, amount: int) -> str | None:
    """weak / fair / strong for a placed bid of `amount`, from the bands of the bids alone:
    strong: as the bids stand, there is a unit for every bid of its band and above;
    fair:   the bands above leave units for its band, but not enough for every bid in it;
    weak:   the bands above already take every unit.
    The caller's own bid is one of the bids counted (it is in its band). None when deciding would
    read more than STRENGTH_MAX_READ index entries."""
    inventory = int(offer.inventory)
    low, high = band_of(strength_bands(offer), amount)
    most = min(inventory + 1, STRENGTH_MAX_READ)
    amounts = _amounts_from(offer, low, most)  # highest first: every bid above the band comes first
    from_band = len(amounts)
    above = sum(1 for a in amounts if a > high)
    if above >= inventory:
        return "weak"
    if from_band < most:  # every bid of the band and above was read
        return "strong" if from_band <= inventory else "fair"
    return (
        "fair" if most == inventory + 1 else None
    )  # more than `inventory` bids from the band: not all can win


def _placements_key(offer_id: str, customer_id: str) -> tuple[str, str]:
    """The count of a customer's placements on an offer: a RateWindow whose window is the offer's
    bidding time (hashed like every rate-limit key: no id in clear)."""
    return (
        f"RATE#bid_placements#{hashlib.sha256(f'{offer_id}|{customer_id}'.encode()).hexdigest()[:32]}",
        "OFFER",
    )


def placements(offer_id: str, customer_id: str, *, consistent: bool = False) -> int:
    try:
        window = RateWindow.get(*_placements_key(offer_id, customer_id), consistent_read=consistent)
        return int(window.hits or 0)
    except RateWindow.DoesNotExist:
        return 0


def changes_left(count: int) -> int:
    """Changes still allowed after `count` placements (the first bid is not a change)."""
    return max(0, MAX_PLACEMENTS - max(count, 1))


def _no_changes_left() -> Conflict:
    return Conflict(
        f"You have already changed your bid {MAX_BID_CHANGES} times, the most allowed on an offer: it stays as it is.",
        code="bid_changes_exhausted",
    )


def offer_view(*, customer_id: str, offer_id: str) -> dict[str, Any]:
    offer, _, bid = visible_offer(customer_id, offer_id)
    moment = iso_ms(now())
    state = phase(offer, moment)
    bands = strength_bands(offer)
    viewer = Viewer(customer_id)
    answer = {
        **offer_to_wire(offer, moment, viewer.language),
        "eligible_lines": viewer.eligible_lines(offer) if state in ("upcoming", "open") else [],
        "rule": RULE,
        "strength_bands": [
            {"from": money(low, offer.currency), "to": money(high, offer.currency)} for low, high in bands
        ],
        "max_bid_changes": MAX_BID_CHANGES,
        "bid_changes_left": changes_left(placements(offer.offer_id, customer_id)),
        "my_bid": None,
        "outcome": outcome_of(offer, bid),
    }
    if bid is not None:
        answer["my_bid"] = {
            **bid_to_wire(bid),
            "strength": strength(offer, amount=int(bid.amount)) if state == "open" else None,
        }
    return answer


# --- placing, changing, withdrawing ---------------------------------------------------------------------


def _check_biddable(
    offer: Offer, viewer: Viewer, customer_id: str, amount: int, method_id: str, line_id: str | None
) -> tuple[PaymentMethod, Line | None]:
    """The caller may bid this amount with this method for this line now; returns the method and
    the line (None for an offer created before grants, which grants nothing)."""
    if not viewer.eligible(offer):
        raise NotFound("No such offer.", code="offer_not_found")
    _refuse_unless_open(offer)
    validate_amount(offer, amount)
    method = methods.get_owned(customer_id, method_id)
    if offer.grant is None:
        return method, None
    if line_id is None:
        raise ValidationFailed("Choose the line the upgrade goes to (line_id).", code="line_required")
    line = grants.owned_line(customer_id, line_id)
    code = grants.problem(
        plain(offer.grant),
        line,
        entries=catalog_entries(),
        plan_ids=(plain(offer.eligibility) or {}).get("plan_ids") or (),
    )
    if code is not None:
        raise grants.not_eligible(code)
    return method, line


def _refuse_unless_open(offer: Offer, gate: OfferGate | None = None) -> None:
    moment = iso_ms(now())
    status = gate.status if gate is not None else offer.status
    if status == "cancelled":
        raise Conflict("This offer was cancelled.", code="offer_cancelled")
    if moment < offer.opens_at:
        raise Conflict(f"Bidding opens at {offer.opens_at}.", code="offer_not_open_yet")
    if status != "open" or moment >= offer.closes_at:
        raise Conflict(f"Bidding closed at {offer.closes_at}.", code="offer_closed")


def challenge(
    *, customer_id: str, offer_id: str, amount: int, method_id: str, line_id: str | None = None
) -> dict[str, Any]:
    """Request options whose challenge commits to the bid (and its line), and the exact total
    charged if it wins."""

    offer, viewer, _ = visible_offer(customer_id, offer_id)
    method, line = _check_biddable(offer, viewer, customer_id, amount, method_id, line_id)
    if (
        placements(offer.offer_id, customer_id) >= MAX_PLACEMENTS
    ):  # say so before asking for Face ID for nothing
        raise _no_changes_left()
    bound = binding(
        offer_id=offer.offer_id, amount=amount, currency=offer.currency, method_id=method_id, line_id=line_id
    )
    issued = challenges.issue(purpose=challenges.STEP_UP, customer_id=customer_id, binding=bound)
    total = {lang: format_money(amount, offer.currency, language=lang) for lang in ("fr", "en")}
    card = f"{method.brand} •••• {method.last4}"
    on_line = {"fr": "", "en": ""}
    if line is not None and offer.grant is not None:
        grant, number = plain(offer.grant), phone_number(line.msisdn)
        on_line = {lang: " " + grants.promise(grant, number, lang) for lang in ("fr", "en")}
    return {
        "challenge_id": issued.challenge_id,
        "options": passkeys.step_up_options(customer_id=customer_id, challenge=issued.challenge),
        "transaction": {
            "offer_id": offer.offer_id,
            "amount": money(amount, offer.currency),
            "payment_method_id": method_id,
            "line_id": line_id if line is not None else None,
            "charged_if_won": money(amount, offer.currency),
            "charged_at": offer.closes_at,
            "statement": {
                "fr": f"Si votre offre gagne, {total['fr']} au total seront prélevés une seule fois sur {card} à la clôture ({offer.closes_at}). "
                f"Rien n'est prélevé si elle ne gagne pas.{on_line['fr']}",
                "en": f"If your bid wins, {total['en']} in total will be charged once to {card} when bidding closes ({offer.closes_at}). "
                f"Nothing is charged if it does not win.{on_line['en']}",
            },
        },
    }


def new_bid(
    offer: Offer, *, customer_id: str, amount: int, method_id: str, challenge_id: str, line_id: str | None
) -> OfferBid:
    """The bid item a placement writes now: in its shard, ranked in its rank index shard."""
    moment = iso_ms(now())
    bid_id = bid_id_for(offer.offer_id, customer_id)
    pk, sk = bid_key(offer, customer_id)
    return OfferBid(
        pk,
        sk,
        GSI1PK=rank_pk(offer, customer_id),
        GSI1SK=rank_key(amount, moment, bid_id),
        bid_id=bid_id,
        offer_id=offer.offer_id,
        customer_id=customer_id,
        amount=amount,
        currency=offer.currency,
        method_id=method_id,
        placed_at=moment,
        challenge_id=challenge_id,
        line_id=line_id,
    )


def write_placement(offer: Offer, customer_id: str, bid: OfferBid) -> None:
    """The placement's one transaction (ConditionsFailed names the labels that failed): the shard's
    gate checked, the bid saved, the customer's placements counted. bench/scale.py sends it as is."""
    moment = bid.placed_at
    challenge_id = bid.challenge_id
    counter = RateWindow(*_placements_key(offer.offer_id, customer_id))
    # The ADD below must count this placement once, however often the transaction is sent:
    # botocore resends a call whose answer was lost (its ClientRequestToken makes that a
    # no-op), and `transaction()` sends it again after a conflict, which may answer the
    # resend of an attempt that did commit. So the placement is keyed by its confirmation
    # (single use): the bid is saved only if it does not carry this challenge already.
    with transaction() as tx:
        # The server's clock, compared by DynamoDB at commit: a bid can only enter while the
        # gate is open and before closes_at; clearing closes the gate before reading the bids.
        tx.check(
            OfferGate,
            *gate_key(offer, customer_id),
            condition=(OfferGate.status == "open")
            & (OfferGate.closes_at > moment)
            & (OfferGate.opens_at <= moment),
            label="gate",
        )
        tx.save(
            bid,
            condition=OfferBid.challenge_id.does_not_exist() | (OfferBid.challenge_id != challenge_id),
            label="placed",
        )
        # Counted in the same transaction: a refused bid costs no change, and concurrent
        # changes cannot both take the last one.
        tx.update(
            counter,
            actions=[
                RateWindow.type.set(RateWindow),
                RateWindow.hits.add(1),
                RateWindow.expires_at.set(_epoch_of(offer.closes_at) + 7 * 24 * 3600),
            ],
            condition=RateWindow.hits.does_not_exist() | (RateWindow.hits < MAX_PLACEMENTS),
            label="changes",
        )


def place(
    *,
    customer_id: str,
    offer_id: str,
    amount: int,
    method_id: str,
    challenge_id: str,
    credential: dict[str, Any],
    line_id: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Place or change the caller's bid; returns (bid, created). A retried request whose
    confirmation was already spent on this very bid answers that bid."""
    offer, viewer, previous = visible_offer(customer_id, offer_id, consistent=True)
    try:
        spent = challenges.consume(challenge_id=challenge_id, purpose=challenges.STEP_UP)
    except NotFound:
        if (
            previous is not None
            and previous.challenge_id == challenge_id
            and int(previous.amount) == amount
            and previous.method_id == method_id
            and previous.line_id == line_id
        ):
            return bid_to_wire(previous), False
        raise
    expected = binding(
        offer_id=offer.offer_id, amount=amount, currency=offer.currency, method_id=method_id, line_id=line_id
    )
    if spent.customer_id != customer_id or spent.binding != expected:
        log_event(
            "bid_refused", customer_id=customer_id, offer=offer.offer_id, reason="challenge_for_another_bid"
        )
        raise Unauthenticated(
            "This confirmation was for another bid: confirm this one again.", code="step_up_mismatch"
        )
    _, line = _check_biddable(offer, viewer, customer_id, amount, method_id, line_id)
    passkeys.confirm(customer_id=customer_id, challenge=spent.challenge, credential=credential)

    bid = new_bid(
        offer,
        customer_id=customer_id,
        amount=amount,
        method_id=method_id,
        challenge_id=challenge_id,
        line_id=line.line_id if line is not None else None,
    )

    try:
        _gated(offer, customer_id, lambda: write_placement(offer, customer_id, bid))
    except ConditionsFailed as failed:  # _gated explains a closed gate; these are the others
        if "placed" in failed.labels:  # this very placement committed, its answer lost: it stands
            return bid_to_wire(bid), previous is None
        if "changes" in failed.labels:
            raise _no_changes_left() from None
        raise
    log_event(
        "bid_placed",
        customer_id=customer_id,
        offer=offer.offer_id,
        amount=amount,
        changed=previous is not None,
    )
    emit("BidPlaced")
    # After the transaction, never inside it, and never failing the bid (it logs what goes wrong).
    # Imported here: engagement builds on this module.
    from chalicelib.bidding import engagement

    engagement.after_placement(
        offer,
        customer_id=customer_id,
        rank_key=bid.GSI1SK,
        previous_rank_key=previous.GSI1SK if previous is not None else None,
    )
    return bid_to_wire(bid), previous is None


def withdraw(*, customer_id: str, offer_id: str) -> None:
    offer, _, bid = visible_offer(customer_id, offer_id)
    if bid is None:
        raise NotFound("You have no bid on this offer.", code="bid_not_found")
    moment = iso_ms(now())

    def write() -> None:
        with transaction() as tx:
            tx.check(
                OfferGate,
                *gate_key(offer, customer_id),
                condition=(OfferGate.status == "open") & (OfferGate.closes_at > moment),
                label="gate",
            )
            tx.delete(bid, condition=OfferBid.PK.exists(), label="bid")

    try:
        _gated(offer, customer_id, write)
    except ConditionsFailed:  # the bid went meanwhile (a concurrent withdraw)
        raise NotFound("You have no bid on this offer.", code="bid_not_found") from None
    log_event("bid_withdrawn", customer_id=customer_id, offer=offer.offer_id)


def _epoch_of(moment: str) -> int:
    return epoch(datetime.fromisoformat(moment.replace("Z", "+00:00")))


def _gated(offer: Offer, customer_id: str, write: Callable[[], None]) -> None:
    """`write` (a transaction checking the shard's gate); a closed gate explained. A popular
    offer's last minute makes transactions on one shard's gate collide: `transaction()` retries
    those conflicts (store/db.py); past its retries, or DynamoDB failing past the SDK's, a 503."""
    try:
        write()
    except ConditionsFailed as failed:
        if "gate" not in failed.labels or "placed" in failed.labels:
            raise
        gate = OfferGate.get(*gate_key(offer, customer_id), consistent_read=True)
        _refuse_unless_open(offer, gate)
        raise Conflict(f"Bidding closed at {offer.closes_at}.", code="offer_closed") from None
    except (TemporarilyUnavailable, TransactWriteError):
        raise TemporarilyUnavailable("Too many bids at once on this offer: try again in a moment.") from None
