"""A won upgrade is delivered: on the line the bidder chose, charged and granted together exactly
once, refunded when it cannot be granted, a grace for a declined card, and an end by itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.bidding import closing, grants
from chalicelib.billing.gateway import get_gateway
from tests.bidding.conftest import charges_asked, close_now, give_line, place
from tests.support.stepup import add_card, make_default


def _line(api: Any, who: Any, line_id: str | None = None) -> dict[str, Any]:
    answer = api.get(f"/lines/{line_id or who.line_id}", token=who.token)
    assert answer.status == 200, answer.body
    return answer.body


def _pass(line: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in line["options"] if o["id"] == "data-pass-10"]


def _data_included(api: Any, who: Any) -> Any:
    usage = api.get(f"/lines/{who.line_id}/usage", token=who.token)
    assert usage.status == 200, usage.body
    return next(a for a in usage.body["allowances"] if a["kind"] == "data")["included"]


def _alerts(api: Any, who: Any, kind: str) -> list[dict[str, Any]]:
    return [i for i in api.get("/me/inbox", token=who.token).body["items"] if i["kind"] == kind]


def _refunds(charge_id: str) -> list[Any]:
    return [a for a in get_gateway().refund_attempts if a.charge_id == charge_id]  # type: ignore[attr-defined]


def test_winning_delivers_the_option_on_the_chosen_line_with_a_receipt(api, offer, bidder):
    offer_id = offer(inventory=1)
    winner, loser = bidder(), bidder()
    view = api.get(f"/offers/{offer_id}", token=winner.token).body
    assert view["grant"]["kind"] == "option" and view["grant"]["days"] == 30
    assert view["grant"]["summary"].startswith("Vous obtenez l'option « Pass 10 Go »")
    assert view["eligible_lines"] == [{"line_id": winner.line_id, "msisdn": "+33600000002"}]
    before = _data_included(api, winner)
    assert place(api, winner, offer_id, 3000).status == 201
    assert place(api, loser, offer_id, 2000).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "cleared:done"

    granted = _pass(_line(api, winner))
    assert len(granted) == 1
    starts, ends = (datetime.fromisoformat(granted[0][k]) for k in ("starts_at", "ends_at"))
    assert ends - starts == timedelta(days=30)
    assert _data_included(api, winner) == before + 10240  # the allowance grew with the grant
    assert _pass(_line(api, loser)) == []

    receipts = api.get("/me/receipts", token=winner.token)
    assert receipts.status == 200 and receipts.body["next_cursor"] is None
    (receipt,) = receipts.body["receipts"]
    assert receipt["amount"] == {"amount": 3000, "currency": "EUR"}
    assert (receipt["line_id"], receipt["offer_id"]) == (winner.line_id, offer_id)
    assert (receipt["grant"]["starts_at"], receipt["grant"]["ends_at"]) == (
        granted[0]["starts_at"],
        granted[0]["ends_at"],
    )
    assert api.get("/me/receipts", token=loser.token).body["receipts"] == []
    assert charges_asked(offer_id, winner.customer_id) == [
        (3000, closing.charge_key(offer_id, winner.customer_id))
    ]

    (won,) = _alerts(api, winner, "bidding.won")
    assert won["deep_link"] == f"selfcare://receipts/{receipt['receipt_id']}"
    assert "06 00 00 00 02" in won["body"] and "« Pass 10 Go »" in won["body"]
    assert "30,00\u00a0€" in won["body"]  # money as a French reader writes it, not "30.00 EUR"
    assert won["data"]["ends_at"] == granted[0]["ends_at"]


def test_a_run_dying_between_charge_and_grant_charges_once_and_grants_once(api, offer, bidder):
    """The resumed run asks the provider by reference before charging, then grants once.
    Mutation: in `_charge`, ask first only when the card is gone (not when `charge_started_at` is
    set) → a second charge call."""
    offer_id = offer(inventory=1)
    who = bidder()
    assert place(api, who, offer_id, 2500).status == 201
    close_now(offer_id)

    def die(**_: Any) -> None:
        raise RuntimeError("the function died after the charge")

    with pytest.raises(RuntimeError):
        closing.clear_offer(offer_id, hooks={"charged": die})
    assert _pass(_line(api, who)) == []  # charged, not granted yet
    assert closing.clear_offer(offer_id) == "cleared:done"
    assert closing.clear_offer(offer_id) == "busy_or_not_due"
    assert charges_asked(offer_id, who.customer_id) == [(2500, closing.charge_key(offer_id, who.customer_id))]
    assert len(_pass(_line(api, who))) == 1
    assert len(api.get("/me/receipts", token=who.token).body["receipts"]) == 1


def test_a_grant_that_cannot_be_made_is_refunded_once_and_the_unit_moves_on(api, app_module, offer, bidder):
    offer_id = offer(inventory=1)
    first, second = bidder(), bidder()
    assert place(api, first, offer_id, 4000).status == 201
    assert place(api, second, offer_id, 2000).status == 201
    suspended = app_module.admin_set_line(
        {
            "customer_number": first.enrolled.customer["customer_number"],
            "line_id": first.line_id,
            "msisdn": "+33600000002",
            "plan_id": "essentiel-20",
            "anchor_day": 1,
            "status": "suspended",
            "reason": "line_protection",
        },
        None,
    )
    assert "error" not in suspended, suspended
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "cleared:done"

    outcome = api.get(f"/offers/{offer_id}", token=first.token).body["outcome"]
    assert outcome["status"] == "refunded" and outcome["reason"] == "line_suspended"
    charged = get_gateway().get_charge(idempotency_key=closing.charge_key(offer_id, first.customer_id))
    assert charged is not None and charged.status == "succeeded"
    assert len(_refunds(charged.charge_id or "")) == 1
    (told,) = _alerts(api, first, "bidding.refunded")
    assert "la ligne est suspendue" in told["body"] and "40,00\u00a0€" in told["body"]
    assert api.get("/me/receipts", token=first.token).body["receipts"] == []
    # The unit went to the next bid, granted on its line.
    assert api.get(f"/offers/{offer_id}", token=second.token).body["outcome"]["status"] == "won"
    assert len(_pass(_line(api, second))) == 1


def test_a_refund_interrupted_before_it_is_recorded_is_not_made_twice(
    api, app_module, offer, bidder, monkeypatch
):
    """The refund is asked again by the resumed run, with the same key (the provider answers the
    first refund). Mutation: a new refund key per run (`refund_key` random) → two refunds."""
    offer_id = offer(inventory=1)
    who = bidder()
    assert place(api, who, offer_id, 3000).status == 201
    # The line leaves the customer before clearing (its key now belongs to nobody).
    from chalicelib.store.models import Line, customer_pk

    Line.get(customer_pk(who.customer_id), f"LINE#{who.line_id}#META").delete()
    close_now(offer_id)
    from chalicelib.store.models import OfferBid

    calls: list[int] = []
    original = OfferBid.update

    def flaky(self: Any, actions: Any, condition: Any = None, **kwargs: Any) -> Any:
        if any("refund_id" in str(a) for a in actions) and not calls:
            calls.append(1)
            raise RuntimeError("died after the refund")
        return original(self, actions=actions, condition=condition, **kwargs)

    monkeypatch.setattr(OfferBid, "update", flaky)
    with pytest.raises(RuntimeError):
        closing.clear_offer(offer_id)
    monkeypatch.setattr(OfferBid, "update", original)
    assert closing.clear_offer(offer_id) == "cleared:done"
    charged = get_gateway().get_charge(idempotency_key=closing.charge_key(offer_id, who.customer_id))
    assert charged is not None
    refunds = _refunds(charged.charge_id or "")
    assert len({r.idempotency_key for r in refunds}) == 1 and len(refunds) == 2  # asked again, same key
    outcome = api.get(f"/offers/{offer_id}", token=who.token).body["outcome"]
    assert (outcome["status"], outcome["reason"]) == ("refunded", "line_gone")


def test_a_declined_card_gets_a_grace_then_the_retry_succeeds_after_a_card_update(
    api, offer, bidder, server_clock, monkeypatch
):
    monkeypatch.setattr(closing, "grace_hours", lambda: 24)
    clock = server_clock("closing")
    offer_id = offer(inventory=1)
    late_payer, next_best = bidder("tok_card_declined"), bidder()
    assert place(api, late_payer, offer_id, 3000).status == 201
    assert place(api, next_best, offer_id, 2000).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "waiting"
    outcome = api.get(f"/offers/{offer_id}", token=late_payer.token).body["outcome"]
    assert outcome["status"] == "payment_failed" and outcome["reason"] == "card_declined"
    (asked,) = _alerts(api, late_payer, "bidding.payment_retry")
    assert asked["deep_link"] == "selfcare://payment-methods"
    assert charges_asked(offer_id, next_best.customer_id) == []  # the unit waits for the late payer

    clock.at = datetime.now().astimezone() + timedelta(seconds=closing.WAIT_S + 1)
    assert closing.clear_offer(offer_id) == "waiting"  # no new card yet: nothing charged again
    assert len(charges_asked(offer_id, late_payer.customer_id)) == 1
    assert add_card(api, late_payer.enrolled, "tok_mastercard").status == 201
    clock.at += timedelta(seconds=closing.WAIT_S + 1)
    assert closing.clear_offer(offer_id) == "cleared:done"
    assert [key for _, key in charges_asked(offer_id, late_payer.customer_id)] == [
        closing.charge_key(offer_id, late_payer.customer_id),
        closing.charge_key(offer_id, late_payer.customer_id, 2),
    ]
    assert api.get(f"/offers/{offer_id}", token=late_payer.token).body["outcome"]["status"] == "won"
    # Granted from the (test's) clearing clock, minutes ahead of the real one: read on the receipt.
    (receipt,) = api.get("/me/receipts", token=late_payer.token).body["receipts"]
    assert receipt["line_id"] == late_payer.line_id and receipt["grant"]["entry_id"] == "data-pass-10"
    assert api.get(f"/offers/{offer_id}", token=next_best.token).body["outcome"]["status"] == "lost"
    assert charges_asked(offer_id, next_best.customer_id) == []


def test_when_the_grace_ends_the_cascade_moves_on(api, offer, bidder, server_clock, monkeypatch):
    monkeypatch.setattr(closing, "grace_hours", lambda: 24)
    clock = server_clock("closing")
    offer_id = offer(inventory=1)
    late_payer, next_best = bidder("tok_card_declined"), bidder()
    assert place(api, late_payer, offer_id, 3000).status == 201
    assert place(api, next_best, offer_id, 2000).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "waiting"
    clock.at = datetime.now().astimezone() + timedelta(hours=24, minutes=1)
    assert closing.clear_offer(offer_id) == "cleared:done"
    assert api.get(f"/offers/{offer_id}", token=late_payer.token).body["outcome"]["status"] == "declined"
    assert api.get(f"/offers/{offer_id}", token=next_best.token).body["outcome"]["status"] == "won"
    assert len(charges_asked(offer_id, late_payer.customer_id)) == 1


def test_the_grant_ends_by_itself_once_under_overlapping_runs(api, offer, bidder, monkeypatch):
    """Two runs that both read the grant before either ended it: one ends it, the other finds it
    done. Mutation: drop the `status == active` condition of the grant's end → ended (and told)
    twice (notify's dedup key would hide it from the inbox, not from `_tell`)."""
    from chalicelib.bidding.bids import bid_id_for
    from chalicelib.bidding.models import UpgradeGrant
    from chalicelib.common.clock import iso
    from chalicelib.store.models import Line, customer_pk

    offer_id = offer(inventory=1)
    who = bidder()
    assert place(api, who, offer_id, 2000).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "cleared:done"
    ends = datetime.fromisoformat(_pass(_line(api, who))[0]["ends_at"])
    key = (customer_pk(who.customer_id), f"UPGRADE#GRANT#{bid_id_for(offer_id, who.customer_id)}")

    assert grants.expire(at=ends - timedelta(days=2))["reminded"] >= 1
    (ending,) = _alerts(api, who, "bidding.upgrade_ending")
    assert "06 00 00 00 02" in ending["body"]

    told: list[str] = []  # what this grant's owner was told (other tests' grants end too)
    real_tell = grants._tell
    mine = bid_id_for(offer_id, who.customer_id)
    monkeypatch.setattr(
        grants,
        "_tell",
        lambda grant, kind, dedup: (
            told.append(kind) if grant.grant_id == mine else None,
            real_tell(grant, kind, dedup),
        ),
    )
    # Both runs read the grant before either ended it; the second writes after the first did.
    stale = [UpgradeGrant.get(*key, consistent_read=True) for _ in range(2)]
    stamp = iso(ends + timedelta(seconds=1))
    ended = [grants._end(grant, stamp) for grant in stale]
    assert ended == [True, False]
    assert told == ["bidding.upgrade_ended"]
    assert UpgradeGrant.get(*key, consistent_read=True).status == "ended"
    line = Line.get(customer_pk(who.customer_id), f"LINE#{who.line_id}#META", consistent_read=True)
    assert [o for o in (line.options or []) if dict(o).get("id") == "data-pass-10"] == []
    # The scheduled job, run again later, finds nothing left to end for it.
    grants.expire(at=ends + timedelta(seconds=2))
    assert told == ["bidding.upgrade_ended"]
    assert len(_alerts(api, who, "bidding.upgrade_ended")) == 1


def test_a_plan_grant_replaces_the_plan_for_its_days_then_puts_it_back(api, offer, bidder):
    offer_id = offer(inventory=1, grant={"kind": "plan", "entry_id": "premium-100", "days": 10})
    who = bidder()
    assert place(api, who, offer_id, 2000).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "cleared:done"
    plan = _line(api, who)["plan"]
    assert plan["id"] == "premium-100" and plan["ends_at"] is not None
    ends = datetime.fromisoformat(plan["ends_at"])
    assert grants.expire(at=ends + timedelta(seconds=1))["ended"] >= 1
    restored = _line(api, who)["plan"]
    assert restored["id"] == "essentiel-20" and "ends_at" not in restored


def test_only_an_eligible_line_of_ones_own_can_be_chosen(api, app_module, offer, bidder):
    offer_id = offer()
    who, other = bidder(), bidder()
    incompatible = give_line(app_module, who.enrolled, plan_id="premium-100")  # no data-pass-10 there
    holding = give_line(app_module, who.enrolled, option_ids=["data-pass-10"])  # already has it
    suspended = give_line(app_module, who.enrolled, status="suspended")
    view = api.get(f"/offers/{offer_id}", token=who.token).body
    assert [line["line_id"] for line in view["eligible_lines"]] == [who.line_id]

    def challenge(line_id: str) -> Any:
        return api.post(
            f"/offers/{offer_id}/bid/challenge",
            {"amount": 2000, "payment_method_id": who.method_id, "line_id": line_id},
            token=who.token,
        )

    assert (challenge(other.line_id).status, challenge(other.line_id).error_code) == (404, "line_not_found")
    for line_id in (incompatible, holding, suspended):
        refused = challenge(line_id)
        assert (refused.status, refused.error_code) == (409, "line_not_eligible"), line_id
    assert challenge(who.line_id).status == 200
    # The confirmation is bound to the line: signed for one line, it does not place a bid for another.
    body = api.post(
        f"/offers/{offer_id}/bid/challenge",
        {"amount": 2000, "payment_method_id": who.method_id, "line_id": who.line_id},
        token=who.token,
    ).body
    credential = who.enrolled.authenticator.get(body["options"])
    second = give_line(app_module, who.enrolled)
    moved = api.put(
        f"/offers/{offer_id}/bid",
        {
            "amount": 2000,
            "payment_method_id": who.method_id,
            "line_id": second,
            "challenge_id": body["challenge_id"],
            "credential": credential,
        },
        token=who.token,
    )
    assert (moved.status, moved.error_code) == (401, "step_up_mismatch")


def _set_line(app_module: Any, who: Any, **changes: Any) -> None:
    """The bidder's line as an admin sets it (plan, status)."""
    event = {
        "customer_number": who.enrolled.customer["customer_number"],
        "line_id": who.line_id,
        "msisdn": "+33600000002",
        "plan_id": "essentiel-20",
        "anchor_day": 1,
        **changes,
    }
    result = app_module.admin_set_line(event, None)
    assert "error" not in result, result


def test_a_plan_grant_is_not_stacked_on_another_plan_grant(api, app_module, offer, bidder):
    """B's bid was placed before A's plan was granted; once A holds the plan, B is refunded
    (`plan_granted`), a new bid on the line is refused, and A's end puts the line's own plan back.
    Mutation: drop the `plan_granted` refusal in `grants.problem` → B is granted over A, keeps A's
    snapshot as the plan to put back, and the line is never back on essentiel-20."""
    who = bidder(plan_id="premium-100")
    later = offer(inventory=1, grant={"kind": "plan", "entry_id": "essentiel-20", "days": 40})
    assert place(api, who, later, 2000).status == 201  # the line is on premium-100 now: eligible
    _set_line(app_module, who, plan_id="essentiel-20", reason="correction")
    first = offer(inventory=1, grant={"kind": "plan", "entry_id": "premium-100", "days": 30})
    assert place(api, who, first, 2000).status == 201
    close_now(first)
    assert closing.clear_offer(first) == "cleared:done"
    granted = _line(api, who)["plan"]
    assert granted["id"] == "premium-100"

    refused = api.post(
        f"/offers/{later}/bid/challenge",
        {"amount": 2100, "payment_method_id": who.method_id, "line_id": who.line_id},
        token=who.token,
    )
    assert (refused.status, refused.error_code) == (409, "line_not_eligible")
    close_now(later)
    assert closing.clear_offer(later) == "cleared:done"
    outcome = api.get(f"/offers/{later}", token=who.token).body["outcome"]
    assert (outcome["status"], outcome["reason"]) == ("refunded", "plan_granted")
    (told,) = _alerts(api, who, "bidding.refunded")
    assert "enchère gagnée" in told["body"]
    assert _line(api, who)["plan"] == granted

    grants.expire(at=datetime.fromisoformat(granted["ends_at"]) + timedelta(seconds=1))
    restored = _line(api, who)["plan"]
    assert restored["id"] == "essentiel-20" and "ends_at" not in restored


def test_a_declined_winner_s_cards_are_each_tried_once_and_only_those_given_after_the_decline(
    api, offer, bidder, server_clock, monkeypatch
):
    """A card already there at the decline (never confirmed for this bid) is not charged; a card
    added after it is, once; a card made the default after it is, once; two declining cards are
    never charged in turn; one `bidding.payment_retry` per declined card.
    Mutation: `_replacement` back to "any card but the one declined last" → the old second card
    is charged at the first retry (then both in turn)."""
    monkeypatch.setattr(closing, "grace_hours", lambda: 24)
    clock = server_clock("closing")
    offer_id = offer(inventory=1)
    who = bidder("tok_card_declined")
    there = add_card(api, who.enrolled, "tok_insufficient_funds")
    assert there.status == 201
    assert place(api, who, offer_id, 3000).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "waiting"
    clock.at = datetime.now().astimezone()

    def later_run() -> str:
        assert clock.at is not None
        clock.at += timedelta(seconds=closing.WAIT_S + 1)
        return closing.clear_offer(offer_id)

    def keys() -> list[str]:
        return [key for _, key in charges_asked(offer_id, who.customer_id)]

    assert later_run() == "waiting" and len(keys()) == 1  # the card already there is not charged
    assert add_card(api, who.enrolled, "tok_expired_card").status == 201
    for _ in range(3):
        assert later_run() == "waiting"
    assert keys() == [closing.charge_key(offer_id, who.customer_id, n) for n in (1, 2)]
    assert make_default(api, who.enrolled, there.body["payment_method_id"]).status == 200
    for _ in range(3):
        assert later_run() == "waiting"
    assert keys() == [closing.charge_key(offer_id, who.customer_id, n) for n in (1, 2, 3)]
    assert len(_alerts(api, who, "bidding.payment_retry")) == 3  # one per declined card
    clock.at += timedelta(hours=24)
    assert closing.clear_offer(offer_id) == "cleared:done"
    assert api.get(f"/offers/{offer_id}", token=who.token).body["outcome"]["status"] == "declined"
    assert len(keys()) == 3


def test_expiry_pages_past_one_batch_of_grants(monkeypatch):
    """More grants due than one page: every one is reminded (past a first page of grants already
    reminded) and ended in one run. Mutation: back to one Query `limit=EXPIRY_BATCH` (no paging,
    no filter) → the reminder run sees only the two already reminded, the end run ends two."""
    from chalicelib.bidding.models import ENDING, UpgradeGrant
    from chalicelib.common.clock import iso

    monkeypatch.setattr(grants, "EXPIRY_BATCH", 2)
    base = datetime(2090, 1, 2, tzinfo=datetime.now().astimezone().tzinfo)
    planted = []
    for n in range(5):
        ends = iso(base + timedelta(seconds=n))
        grant = UpgradeGrant(
            f"CUSTOMER#cus_gone{n}",
            f"UPGRADE#GRANT#bid_exp{n}",
            GSI1PK=ENDING,
            GSI1SK=f"{ends}#bid_exp{n}",
            grant_id=f"bid_exp{n}",
            customer_id=f"cus_gone{n}",
            offer_id="off_exp",
            receipt_id=f"rcp_exp{n}",
            line_id="ln_gone",
            grant_kind="option",
            entry_id="data-pass-10",
            name={"fr": "Pass 10 Go"},
            status="active",
            starts_at=iso(base - timedelta(days=30)),
            ends_at=ends,
            reminded_at=iso(base - timedelta(days=2)) if n < 2 else None,
        )
        grant.save()
        planted.append(grant)

    def fresh() -> list[UpgradeGrant]:
        return [UpgradeGrant.get(g.PK, g.SK, consistent_read=True) for g in planted]

    assert grants.expire(at=base - timedelta(days=1))["reminded"] == 3
    assert all(g.reminded_at is not None for g in fresh())
    assert grants.expire(at=base + timedelta(minutes=1))["ended"] >= 5
    assert [g.status for g in fresh()] == ["ended"] * 5


def test_a_refund_decided_in_the_grace_is_finished_never_turned_into_a_grant(
    api, app_module, offer, bidder, server_clock, monkeypatch
):
    """The retry's charge succeeded but the line was suspended: the refund is decided, its call
    times out; the line is active again at the next run, which refunds (same key) and grants
    nothing. Mutation: drop the `refund_reason` check at the top of `_settle_waiting` → the next
    run charges, then grants the upgrade on top of the refund decision."""
    from chalicelib.billing.gateway import GatewayTimeout

    monkeypatch.setattr(closing, "grace_hours", lambda: 24)
    clock = server_clock("closing")
    offer_id = offer(inventory=1)
    who = bidder("tok_card_declined")
    assert place(api, who, offer_id, 3000).status == 201
    close_now(offer_id)
    assert closing.clear_offer(offer_id) == "waiting"
    assert add_card(api, who.enrolled, "tok_visa").status == 201
    _set_line(app_module, who, status="suspended", reason="line_protection")
    gateway = get_gateway()

    def timeout(**_: Any) -> Any:
        raise GatewayTimeout("no answer")

    monkeypatch.setattr(gateway, "refund", timeout)
    clock.at = datetime.now().astimezone() + timedelta(seconds=closing.WAIT_S + 1)
    assert closing.clear_offer(offer_id) == "paused"
    monkeypatch.undo()  # the provider answers again (and the clock and grace are the real ones)
    monkeypatch.setattr(closing, "grace_hours", lambda: 24)
    _set_line(app_module, who, status="active", reason="reactivation")
    assert closing.clear_offer(offer_id) == "cleared:done"

    outcome = api.get(f"/offers/{offer_id}", token=who.token).body["outcome"]
    assert (outcome["status"], outcome["reason"]) == ("refunded", "line_suspended")
    assert _pass(_line(api, who)) == []
    assert api.get("/me/receipts", token=who.token).body["receipts"] == []
    charged = get_gateway().get_charge(idempotency_key=closing.charge_key(offer_id, who.customer_id, 2))
    assert charged is not None and charged.status == "succeeded"
    assert len(_refunds(charged.charge_id or "")) == 1
