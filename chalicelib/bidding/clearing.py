"""The clearing rule of an offer, pure and resumable.

Published to customers as: "Highest bids win, one unit each, up to the number of units. Equal bids
go to the earlier bid (the time of its last change). Winners pay what they bid. If a winner's card
is declined (and not paid within the grace period), that bid loses and the next bid in order gets
the unit. If the upgrade cannot be delivered to the chosen line, the charge is refunded and the next
bid in order gets the unit."

The rule is written as steps over decisions already taken, so that a clearing interrupted halfway
resumes exactly where it stopped: `next_to_charge` names the next bid to charge given the outcomes
recorded so far (never one already charged), and `result` turns the recorded outcomes into the
final, ordered, auditable list. The same bids in any order give the same result.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

WON = "won"  # charged, pays its bid
DECLINED = "declined"  # charge refused: loses, the unit goes on
LOST = "lost"  # outbid: never charged
REFUNDED = "refunded"  # charged, but the grant could not be made: refunded, the unit goes on


@dataclass(frozen=True)
class Bid:
    bid_id: str  # stable and unique: the last tie-break
    bidder_id: str
    amount: int  # minor units
    placed_at: str  # UTC ISO 8601 of the bid's last change: earlier wins a tie

    @property
    def rank_key(self) -> tuple[int, str, str]:
        return (-self.amount, self.placed_at, self.bid_id)


@dataclass(frozen=True)
class Entry:
    rank: int
    bid: Bid
    outcome: str
    reason: str | None  # declined: the provider's reason; lost: "outbid"


def order(bids: Iterable[Bid]) -> list[Bid]:
    """The bids in the order units are offered: amount, then time, then id."""
    ordered = sorted(bids, key=lambda b: b.rank_key)
    ids = [b.bid_id for b in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("bid ids must be unique")
    return ordered


def next_to_charge(
    ordered: list[Bid], decided: Mapping[str, str], inventory: int, waiting: Collection[str] = ()
) -> Bid | None:
    """The next bid to charge, or None when there is none to charge now. `decided` maps the bid ids
    already charged to WON, DECLINED or REFUNDED (as recorded before any crash). A `waiting` bid
    (declined, within its grace period) holds its unit until it is decided: the bids after it are
    charged only for the units left beside it."""
    held = 0
    for bid in ordered:
        if held >= inventory:
            return None
        outcome = decided.get(bid.bid_id)
        if outcome is None:
            if bid.bid_id in waiting:
                held += 1
                continue
            return bid
        if outcome == WON:
            held += 1
    return None


def result(
    ordered: list[Bid], decided: Mapping[str, str], reasons: Mapping[str, str], inventory: int
) -> list[Entry]:
    """The final list: every bid with its rank and outcome. Call once `next_to_charge` is None."""
    if next_to_charge(ordered, decided, inventory) is not None:
        raise ValueError("the clearing is not complete")
    return [
        Entry(
            rank=rank,
            bid=bid,
            outcome=decided.get(bid.bid_id, LOST),
            reason=reasons.get(bid.bid_id)
            if decided.get(bid.bid_id) in (DECLINED, REFUNDED)
            else (None if decided.get(bid.bid_id) == WON else "outbid"),
        )
        for rank, bid in enumerate(ordered, start=1)
    ]
