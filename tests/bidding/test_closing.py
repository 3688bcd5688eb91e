"""Clearing against DynamoDB Local and the sandbox gateway: the published rule, charged exactly once,
whatever the overlaps, crashes and races."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.bidding import closing
from chalicelib.billing.gateway import get_gateway
from devtools.workers import scheduled_event
from tests.bidding.conftest import (
    charges_asked,
    close_at,
    close_now,
    confirmed_bid,
    during_passkey_check,
    place,
    raw_table,
)
from tests.support.stepup import remove_card


def _asked(offer_id: str, who) -> list[tuple[int, str]]:
    """Every charge the clearing asked the provider for this bidder's bid: (amount, key)."""
    return charges_asked(offer_id, who.customer_id)


def _once(offer_id: str, who, amount: int) -> list[tuple[int, str]]:
    """What `_asked` is for a bid charged once: one call, with the bid's own key."""
    return [(amount, closing.charge_key(offer_id, who.customer_id))]


def _outcome(api, who, offer_id):
    return api.get(f"/offers/{offer_id}", token=who.token).body["outcome"]


ENGAGEMENT_KINDS = ("bidding.invitation", "bidding.closing_soon", "bidding.outbid")


def _kinds(api, who):
    return [
        i["kind"]
        for i in api.get("/me/inbox", token=who.token).body["items"]
        # The outcome alerts: the engagement alerts (bidding/engagement.py) have their own tests.
        if i["kind"].startswith("bidding.") and i["kind"] not in ENGAGEMENT_KINDS
    ]


def test_highest_bids_win_pay_as_bid_and_ties_go_to_the_earlier_bid(api, app_module, offer, bidder):
    offer_id = offer(inventory=2)
    top, early, late, low = bidder(), bidder(), bidder(), bidder()
    assert place(api, top, offer_id, 4000).status == 201
    assert place(api, early, offer_id, 2500).status == 201
    assert place(api, late, offer_id, 2500).status == 201  # same amount, placed later
    assert place(api, low, offer_id, 1000).status == 201
    close_now(offer_id)
    assert app_module.clear_offers(scheduled_event(), None)["offers"][offer_id] == "cleared:done"

    assert _outcome(api, top, offer_id)["charged"] == {"amount": 4000, "currency": "EUR"}
    assert _outcome(api, early, offer_id)["status"] == "won"
    assert _outcome(api, late, offer_id) == {"status": "lost", "reason": "outbid", "charged": None}
    assert _outcome(api, low, offer_id)["status"] == "lost"
    # Each winner's bid charged once, at its amount; the others never asked for.
    assert _asked(offer_id, top) == _once(offer_id, top, 4000)
    assert _asked(offer_id, early) == _once(offer_id, early, 2500)
    assert _asked(offer_id, late) == [] and _asked(offer_id, low) == []
    assert _kinds(api, top) == ["bidding.won"] and _kinds(api, late) == ["bidding.lost"]

    result = app_module.admin_offer_result({"offer_id": offer_id}, None)
    assert [(e["amount"], e["outcome"]) for e in result["entries"]] == [
        (4000, "won"),
        (2500, "won"),
        (2500, "lost"),
        (1000, "lost"),
    ]
    assert result["entries"][1]["placed_at"] < result["entries"][2]["placed_at"]
    assert result["summary"]["revenue"] == {"amount": 6500, "currency": "EUR"} and result["summary"][
        "digest"
    ].startswith("sha256:")
    # Done: off the to-do list, and a later run changes nothing.
    assert offer_id not in app_module.clear_offers(scheduled_event(), None)["offers"]


def test_a_declined_winner_cascades_to_the_next_bid(api, offer, bidder):
    offer_id = offer(inventory=1)
    declined, next_best = bidder("tok_card_declined"), bidder()
    assert place(api, declined, offer_id, 5000).status == 201
    assert place(api, next_best, offer_id, 1200).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "cleared:done"
    assert _outcome(api, declined, offer_id) == {
        "status": "declined",
        "reason": "card_declined",
        "charged": None,
    }
    assert _outcome(api, next_best, offer_id)["charged"] == {"amount": 1200, "currency": "EUR"}
    assert _asked(offer_id, declined) == _once(offer_id, declined, 5000)  # asked once, declined
    assert _asked(offer_id, next_best) == _once(offer_id, next_best, 1200)
    alert = [
        i for i in api.get("/me/inbox", token=declined.token).body["items"] if i["kind"] == "bidding.declined"
    ][0]
    assert alert["data"]["reason"] == "card_declined"


def test_inventory_is_never_exceeded_and_units_can_stay_unsold(api, app_module, offer, bidder):
    offer_id = offer(inventory=3)
    bidders = [bidder("tok_insufficient_funds"), bidder()]
    for n, who in enumerate(bidders):
        assert place(api, who, offer_id, 2000 + 100 * n).status == 201
    close_now(offer_id)
    closing.clear_offer(offer_id)
    summary = app_module.admin_offer_result({"offer_id": offer_id}, None)["summary"]
    assert summary["won"] == 1 and summary["declined"] == 1 and summary["units_left"] == 2


def test_overlapping_runs_produce_one_result(api, app_module, offer, bidder):
    offer_id = offer(inventory=2)
    bidders = [bidder() for _ in range(5)]
    for n, who in enumerate(bidders):
        assert place(api, who, offer_id, 1000 + 300 * n).status == 201
    close_now(offer_id)
    start = threading.Barrier(6)

    def run() -> str:
        start.wait()
        return closing.clear_offer(offer_id)

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda _: run(), range(6)))
    assert outcomes.count("cleared:done") == 1, outcomes
    # Six runs, one clearing: the two highest bids each asked for once, nobody else.
    assert [_asked(offer_id, who) for who in bidders] == [
        [],
        [],
        [],
        _once(offer_id, bidders[3], 1900),
        _once(offer_id, bidders[4], 2200),
    ]
    assert all(len(_kinds(api, who)) == 1 for who in bidders)
    result = app_module.admin_offer_result({"offer_id": offer_id}, None)
    assert [e["outcome"] for e in result["entries"]] == ["won", "won", "lost", "lost", "lost"]


class Crash(Exception):
    pass


@pytest.mark.parametrize("when", ["after_charge_before_record", "after_record"])
def test_a_clearing_interrupted_halfway_resumes_without_double_charges(api, app_module, offer, bidder, when):
    offer_id = offer(inventory=3)
    bidders = [bidder(), bidder("tok_card_declined"), bidder(), bidder(), bidder()]
    for n, who in enumerate(bidders):
        assert place(api, who, offer_id, 4000 - 500 * n).status == 201
    close_now(offer_id)
    charged = []

    def crash_on_second(**kw):
        charged.append(kw["bid"].customer_id)
        if len(charged) == 2 and when == "after_charge_before_record":
            raise Crash("the Lambda died right after the provider charged")

    hooks = {"charged": crash_on_second}
    if when == "after_record":
        from chalicelib.bidding import closing as module

        original = module._tell_bidders

        def crash_before_telling(*a, **k):
            raise Crash("the Lambda died after the charges")

        module._tell_bidders = crash_before_telling
    try:
        with pytest.raises(Crash):
            closing.clear_offer(offer_id, hooks=hooks)
    finally:
        if when == "after_record":
            module._tell_bidders = original
    # The dead run's lease expires; the next run resumes from what was recorded.
    from chalicelib.store.models import Offer

    Offer(f"OFFER#{offer_id}", "OFFER").update(actions=[Offer.lease_until.set(0)])
    assert closing.clear_offer(offer_id) == "cleared:done"
    # The resumed run asked the provider by reference about the unrecorded charge instead of
    # charging again: one call per charged bid over both runs, each with its bid's own key.
    assert [_asked(offer_id, who) for who in bidders] == [
        _once(offer_id, who, 4000 - 500 * n) if n < 4 else [] for n, who in enumerate(bidders)
    ]
    entries = app_module.admin_offer_result({"offer_id": offer_id}, None)["entries"]
    assert [e["outcome"] for e in entries] == ["won", "declined", "won", "won", "lost"]
    assert all(len(_kinds(api, who)) == 1 for who in bidders)


def test_a_provider_timeout_pauses_and_the_next_run_charges_once(api, offer, bidder):
    offer_id = offer(inventory=1)
    slow = bidder("tok_timeout")
    assert place(api, slow, offer_id, 2000).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "paused"
    assert _outcome(api, slow, offer_id) is None  # still clearing
    assert api.get(f"/offers/{offer_id}", token=slow.token).body["status"] == "closed"
    assert closing.clear_offer(offer_id) == "cleared:done"
    assert _outcome(api, slow, offer_id)["status"] == "won"
    # The paused run's call charged; the next one found that charge by its reference.
    assert _asked(offer_id, slow) == _once(offer_id, slow, 2000)


def test_a_card_removed_after_a_lost_answer_keeps_the_charge_it_paid(api, offer, bidder):
    """The first run charged the winner and lost the answer (paused); the winner then removes the
    card. The next run asks the provider by the bid's reference and records the win: never a
    winner charged and recorded declined with no refund, nor a second unit sold. Mutation: decline
    on a missing card without asking the provider first."""
    offer_id = offer(inventory=1)
    slow, rival = bidder("tok_timeout"), bidder()
    assert place(api, slow, offer_id, 3000).status == 201
    assert place(api, rival, offer_id, 2000).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "paused"
    assert remove_card(api, slow.enrolled, slow.method_id).status == 204
    assert closing.clear_offer(offer_id) == "cleared:done"
    assert _outcome(api, slow, offer_id)["status"] == "won" and _asked(offer_id, slow) == _once(
        offer_id, slow, 3000
    )
    assert _outcome(api, rival, offer_id)["status"] == "lost" and _asked(offer_id, rival) == []


def test_a_removed_payment_method_loses_the_unit(api, offer, bidder):
    offer_id = offer(inventory=1)
    gone, next_best = bidder(), bidder()
    assert place(api, gone, offer_id, 3000).status == 201
    assert place(api, next_best, offer_id, 2000).status == 201
    assert remove_card(api, gone.enrolled, gone.method_id).status == 204
    close_now(offer_id)
    closing.clear_offer(offer_id)
    assert _outcome(api, gone, offer_id)["reason"] == "payment_method_removed"
    assert _outcome(api, next_best, offer_id)["status"] == "won"


def test_concurrent_bids_around_the_close_while_clearing_runs(api, app_module, offer, bidder, server_clock):
    """Ten bidders raise at once just before closes_at (every raise accepted, the clearing runs
    meanwhile and finds nothing due), then raise again at once at closes_at while clearing runs
    over and over (every raise refused): the result holds exactly each bidder's last accepted bid.
    The server's clock is the test's, so which side of the close each bid is on does not depend on
    the machine's speed. Mutation: `>` for `>=` against closes_at in `bids._refuse_unless_open`
    and in the gate condition → the raises at closes_at get in."""
    offer_id = offer(inventory=3)
    bidders = [bidder() for _ in range(10)]
    for n, who in enumerate(bidders):
        assert place(api, who, offer_id, 1000 + 100 * n).status == 201
    bodies = [
        [confirmed_bid(api, who, offer_id, 1000 + 100 * (n + 10 * k)) for k in (1, 2)]
        for n, who in enumerate(bidders)
    ]
    closes = datetime.now(UTC) + timedelta(hours=1)
    closes_iso = close_at(offer_id, closes)
    clock = server_clock()

    def raise_all(k: int, clearing: Callable[[], Any]) -> list[Any]:
        start = threading.Barrier(11)

        def send(n: int) -> Any:
            start.wait()
            return api.put(f"/offers/{offer_id}/bid", bodies[n][k], token=bidders[n].token)

        def clear() -> Any:
            start.wait()
            return clearing()

        with ThreadPoolExecutor(11) as pool:
            jobs = [pool.submit(send, n) for n in range(10)] + [pool.submit(clear)]
            answers = [job.result() for job in jobs]
        return answers

    clock.at = closes - timedelta(milliseconds=1)
    *before, not_due = raise_all(0, lambda: closing.clear_offer(offer_id))
    assert not_due == "busy_or_not_due"
    assert [a.status for a in before] == [200] * 10, [a.body for a in before]

    clock.at = closes

    def clear_until_done() -> list[str]:
        runs = [closing.clear_offer(offer_id)]
        while runs[-1] != "cleared:done" and len(runs) < 200:
            time.sleep(0.01)
            runs.append(closing.clear_offer(offer_id))
        return runs

    *after, runs = raise_all(1, clear_until_done)
    assert [(a.status, a.error_code) for a in after] == [(409, "offer_closed")] * 10, [a.body for a in after]
    assert runs.count("cleared:done") == 1
    entries = app_module.admin_offer_result({"offer_id": offer_id}, None)["entries"]
    assert {e["customer_id"]: e["amount"] for e in entries} == {
        who.customer_id: 2000 + 100 * n for n, who in enumerate(bidders)
    }
    assert all(e["placed_at"] < closes_iso for e in entries)
    assert [e["amount"] for e in entries if e["outcome"] == "won"] == [2900, 2800, 2700]


def test_a_bid_in_flight_when_clearing_closes_the_gate_stays_out(
    api, app_module, offer, bidder, server_clock, monkeypatch
):
    """A bid passes its checks before closes_at by its server's clock, and while its passkey is
    verified another machine, whose clock has reached closes_at, clears the offer (closing the
    gate, then reading the bids). The bid's write must not get in after the bids were read, though
    its own time is before closes_at. Mutation: drop `OfferGate.status == "open"` from the gate
    condition in `bids.place` → the bid is accepted but missing from the result."""
    offer_id = offer(inventory=1)
    early, late = bidder(), bidder()
    assert place(api, early, offer_id, 2000).status == 201
    body = confirmed_bid(api, late, offer_id, 3000)
    closes = datetime.now(UTC) + timedelta(hours=1)
    close_at(offer_id, closes)
    bids_clock, clearing_clock = server_clock("bids", "offers"), server_clock("closing")
    bids_clock.at, clearing_clock.at = closes - timedelta(milliseconds=1), closes
    cleared: list[str] = []
    ran = during_passkey_check(monkeypatch, lambda: cleared.append(closing.clear_offer(offer_id)))
    answer = api.put(f"/offers/{offer_id}/bid", body, token=late.token)
    assert ran == [late.customer_id] and cleared == ["cleared:done"]
    assert answer.status == 409 and answer.error_code == "offer_closed", answer.body
    entries = app_module.admin_offer_result({"offer_id": offer_id}, None)["entries"]
    assert [(e["customer_id"], e["amount"], e["outcome"]) for e in entries] == [
        (early.customer_id, 2000, "won")
    ]
    assert _asked(offer_id, late) == [] and _asked(offer_id, early) == _once(offer_id, early, 2000)


# --- one bad offer never stops the run ----------------------------------------------------------------------


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the metrics emitted, through the real `emit` (which refuses undeclared names)."""
    import dataclasses
    import json

    from chalicelib.config import get_settings
    from chalicelib.observability import metrics

    names: list[str] = []
    monkeypatch.setattr(metrics, "get_settings", lambda: dataclasses.replace(get_settings(), stage="dev"))
    monkeypatch.setattr(
        metrics,
        "write_line",
        lambda line: names.append(next(k for k in json.loads(line) if k not in ("_aws", "Stage"))),
    )
    return names


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    real = closing.log_event

    def record(event: str, **fields: Any) -> None:
        events.append({"event": event, **fields})
        real(event, **fields)

    monkeypatch.setattr(closing, "log_event", record)
    return events


class _Unexpected(Exception):
    pass


class _AnswersThenRaises:
    """The provider charges, then the answer breaks in a way nobody foresaw, for one bidder."""

    def __init__(self, real: Any, key: str) -> None:
        self.real, self.key, self.raised = real, key, 0

    def charge(self, **kwargs: Any) -> Any:
        charge = self.real.charge(**kwargs)
        if kwargs["idempotency_key"] == self.key:
            self.raised += 1
            raise _Unexpected("a field of the provider's answer has a new format")
        return charge

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_one_poisoned_offer_never_stops_the_run_and_is_retried_without_double_charges(
    api, app_module, offer, bidder, monkeypatch, emitted, logged
):
    """Four due offers: one whose charge raises an unexpected error after the provider charged, one
    whose item is corrupt (inventory stored as text), two fine. The run finishes the two, logs and
    counts the two failures, and hands them back at once: the next run charges the first's winner
    exactly once (the same key finds the same charge) and, once the item is repaired, clears the
    other. Mutation: no per-offer isolation in `run` (the run raises), or no lease release on
    failure (the next run finds them busy)."""
    good, poisoned, corrupt, also_good = (offer(inventory=1) for _ in range(4))
    winners = {}
    for offer_id in (good, poisoned, corrupt, also_good):
        winners[offer_id] = bidder()
        assert place(api, winners[offer_id], offer_id, 3000).status == 201
        close_now(offer_id)
    raw_table().update_item(
        Key={"PK": f"OFFER#{corrupt}", "SK": "OFFER"},
        UpdateExpression="SET inventory = :text",
        ExpressionAttributeValues={":text": "one"},
    )
    provider = _AnswersThenRaises(get_gateway(), closing.charge_key(poisoned, winners[poisoned].customer_id))
    monkeypatch.setattr(closing, "get_gateway", lambda: provider)

    done = app_module.clear_offers(scheduled_event(), None)["offers"]
    assert done[good] == done[also_good] == "cleared:done"
    assert done[poisoned] == done[corrupt] == "failed"
    assert provider.raised == 1 and _asked(poisoned, winners[poisoned]) == _once(
        poisoned, winners[poisoned], 3000
    )  # charged, the outcome not recorded
    failures = {e["offer"]: e for e in logged if e["event"] == "batch_item_failed"}
    assert {poisoned, corrupt} <= set(failures) and failures[poisoned]["error"] == "_Unexpected"
    assert emitted.count("BatchItemFailed") == sum(1 for v in done.values() if v == "failed")

    monkeypatch.setattr(closing, "get_gateway", get_gateway)  # the provider's answers are fine again
    again = app_module.clear_offers(scheduled_event(), None)["offers"]
    assert (
        again[poisoned] == "cleared:done" and again[corrupt] == "failed"
    )  # no lease left behind: retried at once
    assert _outcome(api, winners[poisoned], poisoned)["status"] == "won" and _asked(
        poisoned, winners[poisoned]
    ) == _once(poisoned, winners[poisoned], 3000)  # found by its reference, not charged again
    raw_table().update_item(
        Key={"PK": f"OFFER#{corrupt}", "SK": "OFFER"},
        UpdateExpression="SET inventory = :n",
        ExpressionAttributeValues={":n": 1},
    )
    assert app_module.clear_offers(scheduled_event(), None)["offers"][corrupt] == "cleared:done"
    assert _outcome(api, winners[corrupt], corrupt)["status"] == "won" and _asked(
        corrupt, winners[corrupt]
    ) == _once(corrupt, winners[corrupt], 3000)
    assert all(len(_kinds(api, who)) == 1 for who in winners.values())  # each told once
