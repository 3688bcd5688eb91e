"""A customer's one bid on an offer: confirmed with a passkey bound to (offer, amount, currency,
method), placed, changed or withdrawn only while the offer's gate is open and before `closes_at` by
the server's clock, both checked by DynamoDB inside the write's transaction (never read-then-write).
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from typing import Any, Callable, TypeVar

from pynamodb.exceptions import TransactWriteError

from chalicelib.auth import challenges, passkeys
from chalicelib.bidding.offers import (
    Viewer, bid_key, bid_to_wire, gate_key, money, offer_to_wire, outcome_of, phase, validate_amount, visible_offer,
)
from chalicelib.billing import bills, methods
from chalicelib.common.clock import iso_ms, now
from chalicelib.errors import Conflict, NotFound, TemporarilyUnavailable, Unauthenticated
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import Offer, OfferBid, OfferGate, Passkey, PaymentMethod, customer_pk

RANK_CEILING = 10**12  # amounts are below it: the rank key sorts the highest amount first
T = TypeVar("T")

RULE = {
    "fr": ("Les offres les plus hautes gagnent, une unité chacune, dans la limite des unités disponibles. À montant égal, "
           "l'offre la plus ancienne (heure de sa dernière modification) passe devant. Chaque gagnant paie le montant de son offre, "
           "prélevé une seule fois à la clôture sur le moyen de paiement choisi ; rien n'est prélevé si l'offre ne gagne pas. "
           "Si le paiement d'un gagnant est refusé, son offre perd et l'unité passe à l'offre suivante."),
    "en": ("The highest bids win, one unit each, up to the number of units. Equal bids go to the earlier bid (the time of "
           "its last change). Each winner pays what they bid, charged once at closing to the payment method they chose; "
           "nothing is charged if a bid does not win. If a winner's payment is declined, that bid loses and the unit goes "
           "to the next bid."),
}


def bid_id_for(offer_id: str, customer_id: str) -> str:
    return "bid_" + hashlib.sha256(f"{offer_id}|{customer_id}".encode()).hexdigest()[:20]


def rank_key(amount: int, placed_at: str, bid_id: str) -> str:
    """Sorts like clearing.Bid.rank_key: highest amount, then earliest change, then id."""
    return f"{RANK_CEILING - amount:013d}#{placed_at}#{bid_id}"


def binding(*, offer_id: str, amount: int, currency: str, method_id: str) -> str:
    return json.dumps({"offer": offer_id, "bid": amount, "currency": currency, "method": method_id}, sort_keys=True, separators=(",", ":"))


def _retry_conflicts(write: Callable[[], T]) -> T:
    """A popular offer's last minute: transactions on one shard's gate can collide
    (TransactionConflict); they hold no lock, so try again shortly."""
    for attempt in range(6):
        try:
            return write()
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            if not any(r is not None and r.code == "TransactionConflict" for r in reasons) or attempt == 5:
                raise
            time.sleep(random.uniform(0.01, 0.05) * (2 ** attempt))
    raise AssertionError("unreachable")


# --- strength ------------------------------------------------------------------------------------------


def strength(offer: Offer, *, amount: int, placed_at: str, bid_id: str, exclude: OfferBid | None) -> str:
    """weak / fair / strong from how many bids rank ahead, without revealing any: strong would win
    a unit now, fair would win if as many bids ahead withdrew or were declined, weak otherwise.
    A bounded count: reads at most 2 × inventory index keys."""
    inventory = int(offer.inventory)
    key = rank_key(amount, placed_at, bid_id)
    ahead = OfferBid.gsi1.count(f"BIDS#{offer.offer_id}", OfferBid.GSI1SK < key, limit=2 * inventory + 1)
    if exclude is not None and rank_key(int(exclude.amount), exclude.placed_at, exclude.bid_id) < key:
        ahead -= 1  # the caller's own current bid is not a competitor
    if ahead < inventory:
        return "strong"
    return "fair" if ahead < 2 * inventory else "weak"


def offer_view(*, customer_id: str, offer_id: str, candidate: int | None) -> dict[str, Any]:
    offer, _, bid = visible_offer(customer_id, offer_id)
    moment = iso_ms(now())
    state = phase(offer, moment)
    answer = {**offer_to_wire(offer, moment), "rule": RULE, "my_bid": None, "candidate": None, "outcome": outcome_of(offer, bid)}
    bid_id = bid_id_for(offer.offer_id, customer_id)
    if bid is not None:
        answer["my_bid"] = {**bid_to_wire(bid),
                            "strength": strength(offer, amount=int(bid.amount), placed_at=bid.placed_at, bid_id=bid.bid_id, exclude=None)
                            if state == "open" else None}
    if candidate is not None:
        validate_amount(offer, candidate)
        answer["candidate"] = {"amount": money(candidate, offer.currency),
                               "strength": strength(offer, amount=candidate, placed_at=moment, bid_id=bid_id, exclude=bid)}
    return answer


# --- placing, changing, withdrawing ---------------------------------------------------------------------


def _check_biddable(offer: Offer, viewer: Viewer, customer_id: str, amount: int, method_id: str) -> PaymentMethod:
    """The caller may bid this amount with this method now; returns the method."""
    if not viewer.eligible(offer):
        raise NotFound("No such offer.", code="offer_not_found")
    _refuse_unless_open(offer)
    validate_amount(offer, amount)
    return methods.get_owned(customer_id, method_id)


def _refuse_unless_open(offer: Offer, gate: OfferGate | None = None) -> None:
    moment = iso_ms(now())
    status = gate.status if gate is not None else offer.status
    if status == "cancelled":
        raise Conflict("This offer was cancelled.", code="offer_cancelled")
    if moment < offer.opens_at:
        raise Conflict(f"Bidding opens at {offer.opens_at}.", code="offer_not_open_yet")
    if status != "open" or moment >= offer.closes_at:
        raise Conflict(f"Bidding closed at {offer.closes_at}.", code="offer_closed")


def challenge(*, customer_id: str, offer_id: str, amount: int, method_id: str) -> dict[str, Any]:
    """Request options whose challenge commits to the bid, and the exact total charged if it wins."""
    from chalicelib.auth import ceremonies

    offer, viewer, _ = visible_offer(customer_id, offer_id)
    method = _check_biddable(offer, viewer, customer_id, amount, method_id)
    bound = binding(offer_id=offer.offer_id, amount=amount, currency=offer.currency, method_id=method_id)
    issued = challenges.issue(purpose=challenges.STEP_UP, customer_id=customer_id, binding=bound)
    allowed = [(p.credential_id, list(p.transports or [])) for p in Passkey.gsi1.query(customer_pk(customer_id), Passkey.GSI1SK.startswith("PASSKEY#"))]
    total = bills.format_money(amount, offer.currency)
    card = f"{method.brand} •••• {method.last4}"
    return {
        "challenge_id": issued.challenge_id,
        "options": ceremonies.step_up_options(challenge=issued.challenge, allow=allowed),
        "transaction": {
            "offer_id": offer.offer_id,
            "amount": money(amount, offer.currency),
            "payment_method_id": method_id,
            "charged_if_won": money(amount, offer.currency),
            "charged_at": offer.closes_at,
            "statement": {
                "fr": f"Si votre offre gagne, {total} au total seront prélevés une seule fois sur {card} à la clôture ({offer.closes_at}). "
                      f"Rien n'est prélevé si elle ne gagne pas.",
                "en": f"If your bid wins, {total} in total will be charged once to {card} when bidding closes ({offer.closes_at}). "
                      f"Nothing is charged if it does not win.",
            },
        },
    }


def place(*, customer_id: str, offer_id: str, amount: int, method_id: str, challenge_id: str, credential: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Place or change the caller's bid; returns (bid, created). A retried request whose
    confirmation was already spent on this very bid answers that bid."""
    offer, viewer, previous = visible_offer(customer_id, offer_id, consistent=True)
    try:
        spent = challenges.consume(challenge_id=challenge_id, purpose=challenges.STEP_UP)
    except NotFound:
        if previous is not None and previous.challenge_id == challenge_id and int(previous.amount) == amount and previous.method_id == method_id:
            return bid_to_wire(previous), False
        raise
    expected = binding(offer_id=offer.offer_id, amount=amount, currency=offer.currency, method_id=method_id)
    if spent.customer_id != customer_id or spent.binding != expected:
        log_event("bid_refused", customer_id=customer_id, offer=offer.offer_id, reason="challenge_for_another_bid")
        raise Unauthenticated("This confirmation was for another bid: confirm this one again.", code="step_up_mismatch")
    _check_biddable(offer, viewer, customer_id, amount, method_id)
    passkeys.confirm(customer_id=customer_id, challenge=spent.challenge, credential=credential)

    moment = iso_ms(now())
    bid_id = bid_id_for(offer.offer_id, customer_id)
    pk, sk = bid_key(offer, customer_id)
    bid = OfferBid(pk, sk, GSI1PK=f"BIDS#{offer.offer_id}", GSI1SK=rank_key(amount, moment, bid_id), bid_id=bid_id, offer_id=offer.offer_id,
                   customer_id=customer_id, amount=amount, currency=offer.currency, method_id=method_id, placed_at=moment, challenge_id=challenge_id)

    def write() -> None:
        with transaction() as tx:
            # The server's clock, compared by DynamoDB at commit: a bid can only enter while the
            # gate is open and before closes_at; clearing closes the gate before reading the bids.
            tx.check(OfferGate, *gate_key(offer, customer_id), condition=(OfferGate.status == "open") & (OfferGate.closes_at > moment)
                     & (OfferGate.opens_at <= moment), label="gate")
            tx.save(bid)

    _gated(offer, customer_id, write)
    log_event("bid_placed", customer_id=customer_id, offer=offer.offer_id, amount=amount, changed=previous is not None)
    emit("BidPlaced")
    return bid_to_wire(bid), previous is None


def withdraw(*, customer_id: str, offer_id: str) -> None:
    offer, _, bid = visible_offer(customer_id, offer_id)
    if bid is None:
        raise NotFound("You have no bid on this offer.", code="bid_not_found")
    moment = iso_ms(now())

    def write() -> None:
        with transaction() as tx:
            tx.check(OfferGate, *gate_key(offer, customer_id), condition=(OfferGate.status == "open") & (OfferGate.closes_at > moment), label="gate")
            tx.delete(bid, condition=OfferBid.PK.exists(), label="bid")

    try:
        _gated(offer, customer_id, write)
    except ConditionsFailed:  # the bid went meanwhile (a concurrent withdraw)
        raise NotFound("You have no bid on this offer.", code="bid_not_found") from None
    log_event("bid_withdrawn", customer_id=customer_id, offer=offer.offer_id)


def _gated(offer: Offer, customer_id: str, write: Callable[[], None]) -> None:
    try:
        _retry_conflicts(write)
    except ConditionsFailed as failed:
        if "gate" not in failed.labels:
            raise
        gate = OfferGate.get(*gate_key(offer, customer_id), consistent_read=True)
        _refuse_unless_open(offer, gate)
        raise Conflict(f"Bidding closed at {offer.closes_at}.", code="offer_closed") from None
    except TransactWriteError:
        raise TemporarilyUnavailable("Too many bids at once on this offer: try again in a moment.") from None
