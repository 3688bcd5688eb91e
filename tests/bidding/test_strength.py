"""The strength indicator plays against an attacker: it rates only the caller's own placed bid, by
band, within a bounded read, at a limited rate; and a bid moves at most 5 times."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.config import get_settings
from tests.bidding.conftest import confirmed_bid, place, plant_bid

AMOUNTS = range(1000, 5001, 100)  # the test offers' range: every amount a bid can have


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_limit(name: str, count: int, seconds: int = 3600) -> None:
        monkeypatch.setitem(get_settings().rate_limits, name, (count, seconds))

    return set_limit


def _seen(detail: dict[str, Any]) -> dict[str, Any]:
    """What an answer tells its reader, less what differs between two offers for no reason (their
    ids and clocks)."""
    shown = {k: v for k, v in detail.items() if k not in ("offer_id", "opens_at", "closes_at")}
    if shown["my_bid"]:
        shown["my_bid"] = {k: v for k, v in shown["my_bid"].items() if k != "placed_at"}
    return shown


def _old_binary_search(api: Any, token: str, offer_id: str) -> int | None:
    """The attack that worked on main: rate candidates (`?amount=`) until the rival's exact amount
    is found, in log2 of the number of amounts (6 requests for 1000..5000 by 100, 12 for a range of
    4,000 increments), against a rival holding the one unit."""
    low, high = 0, len(AMOUNTS) - 1
    while low < high:
        middle = (low + high) // 2
        answer = api.get(f"/offers/{offer_id}?amount={AMOUNTS[middle]}", token=token)
        if answer.status != 200:
            return None
        if answer.body["candidate"]["strength"] == "strong":
            high = middle
        else:
            low = middle + 1
    return AMOUNTS[low] - 100  # the lowest amount that beats the rival, less an increment


def test_no_sequence_of_requests_locates_a_rival_more_finely_than_its_band(api, offer, bidder, enrol, limit):
    """A rival bids 2200 on one offer and 3000 on another: both in the band [2100, 3100]. An
    attacker who could put their own bid on every amount of the range (more than the 5 changes
    allowed, and each one free here) reads the same answers from both offers: no sequence of
    requests, adaptive or not, from this account or any number of them, tells 2200 from 3000.
    A rival at 3200 (the next band) is told apart: the probe is sharp enough to see what it may.
    Mutation: rating the exact amount (the old rank count: 2500 is strong against 2200 and fair
    against 3000), or rating `?amount=` candidates, fails this test."""
    from chalicelib.bidding import bids

    limit("offer_view_customer", 1000)
    rival, attacker = bidder(), enrol()
    offers = {amount: offer(inventory=1) for amount in (2200, 3000, 3200)}
    for amount, offer_id in offers.items():
        assert place(api, rival, offer_id, amount).status == 201
    # What main allowed: the 12-request binary search on candidates. It gets nowhere now.
    assert _old_binary_search(api, attacker.token, offers[2200]) is None

    def probe(rival_amount: int, mine: int) -> dict[str, Any]:
        """The body GET /offers/{id} answers (the route only adds the rate limit, tested below;
        calling the service spares 82 contract validations)."""
        offer_id = offers[rival_amount]
        plant_bid(offer_id, attacker.customer["customer_id"], mine)
        return _seen(bids.offer_view(customer_id=attacker.customer["customer_id"], offer_id=offer_id))

    answers = {rival_amount: [probe(rival_amount, mine) for mine in AMOUNTS] for rival_amount in (2200, 3000)}
    assert answers[2200] == answers[3000]
    strengths = [a["my_bid"]["strength"] for a in answers[3000]]
    assert set(strengths) == {"weak", "fair", "strong"}  # the indicator still says something useful
    assert probe(3200, 2500) != answers[3000][AMOUNTS.index(2500)]  # a rival in another band is told apart
    over_http = api.get(f"/offers/{offers[3000]}", token=attacker.token)  # the same answer through the route
    assert (
        over_http.status == 200 and _seen(over_http.body) == answers[3000][-1]
    )  # the last probe left the bid at 5000


def test_a_strength_reads_at_most_inventory_plus_one_index_entries(api, offer, enrol, monkeypatch, limit):
    """30 bids rank above mine on a one-unit offer: the answer (weak) reads 2 index entries per rank
    index shard (one shard unless the offer was created for offers.RANK_SHARD_FROM bidders), not the 30 (mutation: pynamodb's
    `count(limit=)`, which only sizes pages and reads every match). An offer with more units than
    STRENGTH_MAX_READ (set to 5 here) gets no strength rather than a longer read."""
    from pynamodb.connection import Connection

    from chalicelib.bidding import bids, offers

    limit("offer_view_customer", 1000)
    me = enrol()
    small, large = offer(inventory=1), offer(inventory=10)
    shards = len(offers.rank_pks(offers.get_offer(small)))
    for n in range(30):
        plant_bid(small, f"C-rival{n}", 4300 + 100 * (n % 8))
    for n in range(7):
        plant_bid(large, f"C-rival{n}", 1000 + 100 * n)
    for offer_id in (small, large):
        plant_bid(offer_id, me.customer["customer_id"], 1000)
    reads: list[int] = []  # index entries read, per Query page of the rank index
    real_query = Connection.query

    def counted(self: Connection, *args: Any, **kwargs: Any) -> Any:
        page = real_query(self, *args, **kwargs)
        if kwargs.get("index_name"):
            reads.append(page["ScannedCount"])
        return page

    monkeypatch.setattr(Connection, "query", counted)
    assert api.get(f"/offers/{small}", token=me.token).body["my_bid"]["strength"] == "weak"
    assert 1 <= sum(reads) <= 2 * shards, reads
    reads.clear()
    monkeypatch.setattr(bids, "STRENGTH_MAX_READ", 5)
    assert api.get(f"/offers/{large}", token=me.token).body["my_bid"]["strength"] is None
    assert 1 <= sum(reads) <= 5 * shards, reads


def test_a_bid_changes_at_most_five_times(api, offer, bidder):
    """The first bid, 4 changes, a withdrawal and a new bid (the 5th change); then the 6th change is
    refused at the challenge (before any Face ID) and, with a confirmation obtained before, at the
    write itself (mutation: no condition on the count in the transaction). A retried request is
    not a change; a refused one costs none."""
    offer_id, who = offer(), bidder()

    def left() -> int:
        return api.get(f"/offers/{offer_id}", token=who.token).body["bid_changes_left"]

    assert left() == 5
    first = confirmed_bid(api, who, offer_id, 1500)
    assert api.put(f"/offers/{offer_id}/bid", first, token=who.token).status == 201
    assert api.put(f"/offers/{offer_id}/bid", first, token=who.token).status == 200  # a retry, not a change
    assert left() == 5
    assert (
        api.post(
            f"/offers/{offer_id}/bid/challenge",
            {"amount": 1050, "payment_method_id": who.method_id, "line_id": who.line_id},
            token=who.token,
        ).status
        == 400
    )
    for n, amount in enumerate((1600, 1700, 1800, 1900), start=1):
        assert place(api, who, offer_id, amount).status == 200
        assert left() == 5 - n
    assert api.delete(f"/offers/{offer_id}/bid", token=who.token).status == 204
    early = confirmed_bid(api, who, offer_id, 3000)  # confirmed while a change is left
    assert place(api, who, offer_id, 2000).status == 201  # the 5th change: a new bid after withdrawing
    assert left() == 0
    refused = api.post(
        f"/offers/{offer_id}/bid/challenge",
        {"amount": 2500, "payment_method_id": who.method_id, "line_id": who.line_id},
        token=who.token,
    )
    assert (
        refused.status == 409
        and refused.error_code == "bid_changes_exhausted"
        and "5 times" in refused.body["error"]["message"]
    )
    late = api.put(f"/offers/{offer_id}/bid", early, token=who.token)
    assert late.status == 409 and late.error_code == "bid_changes_exhausted"
    assert api.get(f"/offers/{offer_id}", token=who.token).body["my_bid"]["amount"]["amount"] == 2000


def test_two_concurrent_changes_cannot_both_take_the_last_one(api, offer, bidder):
    from chalicelib.bidding import bids

    offer_id, who = offer(), bidder()
    statuses = [place(api, who, offer_id, amount).status for amount in (1000, 1100, 1200, 1300, 1400)]
    assert statuses == [201, 200, 200, 200, 200]  # placed, then changed four times
    assert bids.placements(offer_id, who.customer_id, consistent=True) == 5  # one change left
    bodies = [confirmed_bid(api, who, offer_id, amount) for amount in (3000, 4000)]
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda body: api.put(f"/offers/{offer_id}/bid", body, token=who.token), bodies)
        )
    assert sorted((a.status, a.error_code) for a in answers) == [
        (200, None),
        (409, "bid_changes_exhausted"),
    ], [a.body for a in answers]
    assert bids.placements(offer_id, who.customer_id, consistent=True) == 6
    winner = next(a for a in answers if a.status == 200).body["amount"]["amount"]
    assert api.get(f"/offers/{offer_id}", token=who.token).body["my_bid"]["amount"]["amount"] == winner


def test_reading_an_offer_is_rate_limited_per_customer(api, offer, bidder, limit):
    offer_id, who, other = offer(), bidder(), bidder()
    limit("offer_view_customer", 3)
    answers = [api.get(f"/offers/{offer_id}", token=who.token) for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert answers[3].error_code == "rate_limited" and int(answers[3].headers["Retry-After"]) >= 1
    assert (
        api.get(f"/offers/{offer_id}", token=other.token).status == 200
    )  # another customer has their own budget
