"""The clearing rule against a plain reference implementation, with Hypothesis. `run` drives the
rule as the clearing job does and lists every bid it was told to charge: the charges counted are
the rule's own requests, never a deduplicated result. Mutations: `next_to_charge` offering a
DECLINED bid again (skip `decided` for it) → a bid charged twice; ignoring ties' `placed_at` →
the reference differs."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.bidding.clearing import DECLINED, LOST, WON, Bid, next_to_charge, order, result


def reference(bids: list[Bid], inventory: int, declines: set[str]) -> dict[str, str]:
    """The rule as a customer reads it, written as plainly as possible."""
    ranked = sorted(bids, key=lambda b: (-b.amount, b.placed_at, b.bid_id))
    outcomes, units = {}, inventory
    for bid in ranked:
        if units == 0:
            outcomes[bid.bid_id] = LOST
        elif bid.bidder_id in declines:
            outcomes[bid.bid_id] = DECLINED
        else:
            outcomes[bid.bid_id] = WON
            units -= 1
    return outcomes


def run(
    bids: list[Bid], inventory: int, declines: set[str], *, crash_after: int | None = None
) -> tuple[dict[str, str], list[str]]:
    """Drive the steps as the clearing job does; optionally 'crash' and resume from the records."""
    ordered = order(bids)
    decided: dict[str, str] = {}
    charged: list[str] = []
    steps = 0
    while (bid := next_to_charge(ordered, decided, inventory)) is not None:
        # Each bid is charged at most once: more steps than bids means one was offered again (a
        # rule that ignored `decided` would loop here forever instead of failing).
        assert len(charged) <= len(bids), charged
        if crash_after is not None and steps == crash_after:
            ordered = order(list(reversed(bids)))  # a new process, reading the bids in another order
            crash_after = None
            continue
        charged.append(bid.bid_id)
        decided[bid.bid_id] = DECLINED if bid.bidder_id in declines else WON
        steps += 1
    return {e.bid.bid_id: e.outcome for e in result(ordered, decided, {}, inventory)}, charged


def _declines(data: st.DataObject, bids: list[Bid], most: int) -> set[str]:
    """Bidders whose cards the provider declines."""
    if not bids:
        return set()
    return set(data.draw(st.lists(st.sampled_from([b.bidder_id for b in bids]), max_size=most)))


bid_lists = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=50), st.integers(min_value=0, max_value=20)
    ),  # amount, minute
    min_size=0,
    max_size=40,
).map(
    lambda rows: [
        Bid(bid_id=f"b{i:03d}", bidder_id=f"c{i:03d}", amount=a * 100, placed_at=f"2026-11-22T10:{m:02d}:00Z")
        for i, (a, m) in enumerate(rows)
    ]
)


@settings(max_examples=300, deadline=None)
@given(bids=bid_lists, inventory=st.integers(min_value=0, max_value=10), data=st.data())
def test_the_rule_matches_the_reference(bids, inventory, data):
    declines = _declines(data, bids, 10)
    outcomes, charged = run(bids, inventory, declines)
    assert outcomes == reference(bids, inventory, declines)
    assert sum(o == WON for o in outcomes.values()) <= inventory
    assert len(charged) == len(set(charged))  # nobody charged twice
    # Exactly the bids that won or were declined were charged: never one that lost.
    assert sorted(charged) == sorted(b for b, o in outcomes.items() if o != LOST)


@settings(max_examples=200, deadline=None)
@given(bids=bid_lists, inventory=st.integers(min_value=0, max_value=10), seed=st.integers())
def test_the_same_bids_in_any_order_give_the_same_winners(bids, inventory, seed):
    shuffled = list(bids)
    random.Random(seed).shuffle(shuffled)
    assert run(bids, inventory, set())[0] == run(shuffled, inventory, set())[0]


@settings(max_examples=200, deadline=None)
@given(bids=bid_lists, inventory=st.integers(min_value=1, max_value=10), data=st.data())
def test_an_interrupted_clearing_resumes_without_charging_anyone_twice(bids, inventory, data):
    declines = _declines(data, bids, 5)
    crash_after = data.draw(st.integers(min_value=0, max_value=max(0, len(bids))))
    straight, _ = run(bids, inventory, declines)
    resumed, charged = run(bids, inventory, declines, crash_after=crash_after)
    assert resumed == straight
    assert len(charged) == len(set(charged))  # the resumed run charged nobody again
    assert sorted(charged) == sorted(b for b, o in resumed.items() if o != LOST)


def test_ties_go_to_the_earlier_bid_then_the_id():
    bids = [
        Bid("b2", "c2", 500, "2026-11-22T10:00:05Z"),
        Bid("b1", "c1", 500, "2026-11-22T10:00:09Z"),
        Bid("b3", "c3", 500, "2026-11-22T10:00:05Z"),
    ]
    outcomes, _ = run(bids, 2, set())
    assert outcomes == {"b2": WON, "b3": WON, "b1": LOST}


def test_a_declined_winner_cascades_to_the_next_bid():
    bids = [Bid("b1", "c1", 900, "t1"), Bid("b2", "c2", 800, "t2"), Bid("b3", "c3", 700, "t3")]
    entries = result(order(bids), {"b1": DECLINED, "b2": WON}, {"b1": "card_declined"}, 1)
    assert [(e.rank, e.bid.bid_id, e.outcome, e.reason) for e in entries] == [
        (1, "b1", DECLINED, "card_declined"),
        (2, "b2", WON, None),
        (3, "b3", LOST, "outbid"),
    ]
