"""An offer's bids spread over shards (base partitions and rank index partitions), and every reader
merges them: the clearing, and the strength indicator (see infra/README.md "Scale")."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from devtools.workers import scheduled_event
from tests.bidding.conftest import Bidder, close_now, place, plant_bid


@pytest.fixture
def rank_sharded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offers created with their rank index sharded as well, as one for RANK_SHARD_FROM bidders is."""
    from chalicelib.bidding import offers

    monkeypatch.setattr(offers, "RANK_SHARD_FROM", 0)


def _on_shard(shard: int, shards: int, prefix: str) -> str:
    """A customer id whose bid falls on `shard` (the hash is fixed: the search is too)."""
    return next(
        f"{prefix}{n}"
        for n in range(10_000)
        if int(hashlib.sha256(f"{prefix}{n}".encode()).hexdigest()[:8], 16) % shards == shard
    )


def test_many_bidders_land_on_every_shard_and_their_rank_entries_follow(offer, rank_sharded):
    """200 customers bid through the placement's own transaction: the bids reach every one of the
    offer's 16 partitions, none with more than twice its share, and each bid's rank index entry is
    in the index shard of the same number (so a shard's writes, base and index, stay spread).
    Mutation: shard_number returning 0 (or rank_pk ignoring the shard) → fails."""
    from chalicelib.bidding import bids, offers
    from chalicelib.store.models import OfferBid

    offer_id = offer()
    item = offers.get_offer(offer_id, consistent=True)
    shards = int(item.shards)
    assert shards == offers.SHARDS == 16
    customers = [f"C-shard{n:04d}" for n in range(200)]
    for n, customer in enumerate(customers):
        bid = bids.new_bid(
            item,
            customer_id=customer,
            amount=1000 + 100 * (n % 41),
            method_id="pm_0000000000000000",
            challenge_id=f"chl_{n:032d}",
            line_id=None,
        )
        bids.write_placement(item, customer, bid)

    per_shard = Counter[int]()
    for number, pk in enumerate(offers.shard_pks(offer_id, shards)):
        for stored in OfferBid.query(pk, OfferBid.SK.startswith("BID#"), consistent_read=True):
            per_shard[number] += 1
            index_pk = stored.GSI1PK
            assert index_pk == f"BIDS#{offer_id}#{number}", stored.SK
    assert sum(per_shard.values()) == len(customers)
    assert sorted(per_shard) == list(range(shards)), per_shard  # every shard has bids
    assert max(per_shard.values()) <= 2 * len(customers) / shards, per_shard
    ranked = Counter[str]()
    for pk in offers.rank_pks(item):
        ranked[pk] = sum(1 for _ in OfferBid.gsi1.query(pk))
    assert sum(ranked.values()) == len(customers) and len(ranked) == shards and min(ranked.values()) > 0


def test_strength_merges_every_rank_shard(offer, rank_sharded):
    """Two units; two rivals above my band, each on another rank shard (the last and a middle one):
    my bid is weak only if both are read. Alone on its shard, my bid reads as strong.
    Mutation: _amounts_from reading rank_pks(offer)[:1] (or [:-1]) → "strong" or "fair" → fails."""
    from chalicelib.bidding import bids, offers

    offer_id = offer(inventory=2)
    shards = offers.SHARDS
    me, last, middle = (
        _on_shard(0, shards, "C-me"),
        _on_shard(shards - 1, shards, "C-last"),
        _on_shard(shards // 2, shards, "C-mid"),
    )
    plant_bid(offer_id, me, 1000)
    item = offers.get_offer(offer_id, consistent=True)
    assert bids.strength(item, amount=1000) == "strong"
    plant_bid(offer_id, last, 4900)
    plant_bid(offer_id, middle, 4800)
    assert bids._amounts_from(item, 1000, 10) == [4900, 4800, 1000]  # highest first, merged
    assert bids.strength(item, amount=1000) == "weak"


def test_the_clearing_reads_every_shard_a_winner_on_the_last_one_wins(
    api: Any, app_module: Any, offer: Callable[..., str], bidder: Callable[..., Bidder], monkeypatch
):
    """An offer over 2 shards, one unit: the highest bid is on the last shard, a lower one on
    shard 0. The clearing charges the highest and the lower one loses.
    Mutation: _frozen_bids reading shard 0 only (or all but the last) → the lower bid wins → fails."""
    from chalicelib.bidding import offers

    monkeypatch.setattr(offers, "SHARDS", 2)
    offer_id = offer(inventory=1)
    assert int(offers.get_offer(offer_id).shards) == 2
    by_shard: dict[int, Bidder] = {}
    for _ in range(12):  # each new customer is on either shard with even odds
        who = bidder()
        by_shard.setdefault(offers.shard_number(who.customer_id, 2), who)
        if len(by_shard) == 2:
            break
    first, last = by_shard[0], by_shard[1]
    assert place(api, first, offer_id, 2000).status == 201
    assert place(api, last, offer_id, 4000).status == 201
    close_now(offer_id)
    assert app_module.clear_offers(scheduled_event(), None)["offers"][offer_id] == "cleared:done"

    outcome = api.get(f"/offers/{offer_id}", token=last.token).body["outcome"]
    assert outcome["status"] == "won" and outcome["charged"] == {"amount": 4000, "currency": "EUR"}
    assert api.get(f"/offers/{offer_id}", token=first.token).body["outcome"]["status"] == "lost"
    result = app_module.admin_offer_result({"offer_id": offer_id}, None)
    assert [(e["customer_id"], e["outcome"]) for e in result["entries"]] == [
        (last.customer_id, "won"),
        (first.customer_id, "lost"),
    ]


def test_only_an_offer_for_many_bidders_spreads_its_ranking(offer):
    """The rank index is spread only for an offer created for RANK_SHARD_FROM bidders or more (its
    placements then read every rank shard); an ordinary offer keeps one rank key and its cost.
    Mutation: rank_shards set to SHARDS for every offer → the ordinary offer has 16 → fails."""
    from chalicelib.bidding import offers

    ordinary = offers.get_offer(offer(), consistent=True)
    assert offers.rank_pks(ordinary) == [f"BIDS#{ordinary.offer_id}"]
    crowd = offers.get_offer(offer(expected_bidders=offers.RANK_SHARD_FROM), consistent=True)
    assert len(offers.rank_pks(crowd)) == offers.SHARDS == int(crowd.shards)


def test_the_bidder_pushed_out_is_found_across_rank_shards(offer, rank_sharded):
    """One unit; the rival inside sits on the last rank shard, the placer on shard 0: the placer's
    higher bid pushes the rival out, and the warning finds them.
    Mutation: pushed_out querying rank_pks(offer)[0] only → None → fails."""
    from chalicelib.bidding import bids, engagement, offers

    offer_id = offer(inventory=1)
    shards = offers.SHARDS
    me, rival = _on_shard(0, shards, "C-push-me"), _on_shard(shards - 1, shards, "C-push-rival")
    plant_bid(offer_id, rival, 2000)
    item = offers.get_offer(offer_id, consistent=True)
    mine = bids.rank_key(3000, "2026-11-27T12:00:00.000Z", bids.bid_id_for(offer_id, me))
    assert engagement.pushed_out(item, customer_id=me, rank_key=mine, previous_rank_key=None) == (rival, 2000)
