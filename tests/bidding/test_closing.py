"""Clearing against DynamoDB Local and the sandbox gateway: the published rule, charged exactly once,
whatever the overlaps, crashes and races."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.bidding import closing
from chalicelib.billing.gateway import get_gateway
from chalicelib.store.models import SandboxCharge
from devtools.workers import scheduled_event
from tests.bidding.conftest import (
    close_at,
    close_now,
    confirmed_bid,
    place,
    raw_table,
    wait_until,
)
from tests.support.stepup import remove_card


def _charges(offer_id: str, who) -> int:
    return sum(
        1 for _ in SandboxCharge.query(f"SANDBOX#CHARGE#{closing.charge_key(offer_id, who.customer_id)}")
    )


def _outcome(api, who, offer_id):
    return api.get(f"/offers/{offer_id}", token=who.token).body["outcome"]


def _kinds(api, who):
    return [
        i["kind"]
        for i in api.get("/me/inbox", token=who.token).body["items"]
        if i["kind"].startswith("bidding.")
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
    charge = get_gateway().get_charge(idempotency_key=closing.charge_key(offer_id, early.customer_id))
    assert (
        charge is not None
        and SandboxCharge.get(
            f"SANDBOX#CHARGE#{closing.charge_key(offer_id, early.customer_id)}", "CHARGE"
        ).amount
        == 2500
    )
    assert _charges(offer_id, late) == 0 and _charges(offer_id, low) == 0
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
    assert sum(_charges(offer_id, who) for who in bidders) == 2
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
    assert [_charges(offer_id, who) for who in bidders] == [1, 1, 1, 1, 0]
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
    assert _outcome(api, slow, offer_id)["status"] == "won" and _charges(offer_id, slow) == 1


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
    assert _outcome(api, slow, offer_id)["status"] == "won" and _charges(offer_id, slow) == 1
    assert _outcome(api, rival, offer_id)["status"] == "lost" and _charges(offer_id, rival) == 0


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


def test_concurrent_bids_racing_the_close_never_get_in_after_it(api, app_module, offer, bidder):
    """Bids confirmed beforehand are sent in a stream across closes_at while clearing runs: every
    accepted bid is in the result, every bid after the close is refused. closes_at is set once the
    slow preparation is done, and each bidder sends one bid before it (accepted), one right at it
    (either way), one after it (refused): the stream straddles the close on any machine."""
    offer_id = offer(inventory=3)
    bidders = [bidder() for _ in range(10)]
    for n, who in enumerate(bidders):
        assert place(api, who, offer_id, 1000 + 100 * n).status == 201
    bodies = [
        [confirmed_bid(api, who, offer_id, 1000 + 100 * (n + 10 * k)) for k in (1, 2)]
        for n, who in enumerate(bidders)
    ]
    closes = datetime.now(UTC) + timedelta(milliseconds=300)
    closes_iso = close_at(offer_id, closes)
    accepted: list[tuple[str, int]] = [(who.customer_id, 1000 + 100 * n) for n, who in enumerate(bidders)]
    refused: list[str] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        who = bidders[n]
        for body, when in zip(bodies[n], (closes, closes + timedelta(milliseconds=100)), strict=False):
            wait_until(when - timedelta(milliseconds=5 * n))  # spread around the close
            answer = api.put(f"/offers/{offer_id}/bid", body, token=who.token)
            with lock:
                if answer.status in (200, 201):
                    accepted.append((who.customer_id, body["amount"]))
                else:
                    assert answer.status == 409, answer.body
                    refused.append(answer.error_code)

    def clear_repeatedly() -> None:
        while datetime.now(UTC) < closes + timedelta(seconds=1):
            closing.clear_offer(offer_id)
            time.sleep(0.05)

    with ThreadPoolExecutor(11) as pool:
        jobs = [pool.submit(send, n) for n in range(10)] + [pool.submit(clear_repeatedly)]
        for job in jobs:
            job.result()
    closing.clear_offer(offer_id)
    assert len(refused) >= 10 and set(refused) == {"offer_closed"}, (
        refused
    )  # at least every bid sent after the close
    entries = app_module.admin_offer_result({"offer_id": offer_id}, None)["entries"]
    final = {}
    for customer, amount in accepted:
        final[customer] = amount  # each bidder's last accepted amount is their bid
    assert {e["customer_id"]: e["amount"] for e in entries} == final
    assert all(e["placed_at"] < closes_iso for e in entries)
    assert sum(1 for e in entries if e["outcome"] == "won") == 3


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
    assert (
        provider.raised == 1 and _charges(poisoned, winners[poisoned]) == 1
    )  # charged, the outcome not recorded
    failures = {e["offer"]: e for e in logged if e["event"] == "batch_item_failed"}
    assert {poisoned, corrupt} <= set(failures) and failures[poisoned]["error"] == "_Unexpected"
    assert emitted.count("BatchItemFailed") == sum(1 for v in done.values() if v == "failed")

    monkeypatch.setattr(closing, "get_gateway", get_gateway)  # the provider's answers are fine again
    again = app_module.clear_offers(scheduled_event(), None)["offers"]
    assert (
        again[poisoned] == "cleared:done" and again[corrupt] == "failed"
    )  # no lease left behind: retried at once
    assert (
        _outcome(api, winners[poisoned], poisoned)["status"] == "won"
        and _charges(poisoned, winners[poisoned]) == 1
    )
    raw_table().update_item(
        Key={"PK": f"OFFER#{corrupt}", "SK": "OFFER"},
        UpdateExpression="SET inventory = :n",
        ExpressionAttributeValues={":n": 1},
    )
    assert app_module.clear_offers(scheduled_event(), None)["offers"][corrupt] == "cleared:done"
    assert (
        _outcome(api, winners[corrupt], corrupt)["status"] == "won"
        and _charges(corrupt, winners[corrupt]) == 1
    )
    assert all(len(_kinds(api, who)) == 1 for who in winners.values())  # each told once
