"""Offers from the admins' console, as eligible customers see them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.bidding.conftest import iso, offer_event, place


def test_invalid_offers_are_refused_with_reasons(app_module):
    cases = {
        "max_bid (the list price) is below min_bid": {"min_bid": 5000, "max_bid": 1000},
        "whole number of increments": {"max_bid": 5050},
        "closes_at is in the past": {"closes_at": iso(datetime.now(UTC) - timedelta(minutes=1))},
        "inventory": {"inventory": 0},
        "unknown field": {"price": 12},
    }
    for reason, change in cases.items():
        answer = app_module.admin_create_offer(offer_event(**change), None)
        assert answer["error"]["code"] == "validation_error" and reason in answer["error"]["message"], (
            reason,
            answer,
        )
    unknown_plan = app_module.admin_create_offer(
        offer_event(eligibility={"plan_ids": ["no-such-plan"]}), None
    )
    assert unknown_plan["error"]["code"] == "plan_not_found"


def test_the_same_offer_id_is_never_overwritten(app_module, offer):
    offer_id = offer()
    again = app_module.admin_create_offer(offer_event(offer_id=offer_id, inventory=99), None)
    assert again["error"]["code"] == "offer_exists"


def test_customers_see_only_offers_they_are_eligible_for(api, app_module, offer, enrol, new_customer):
    open_to_all = offer()
    for_segment = offer(eligibility={"segments": ["loyal-5y"]})
    upcoming = offer(opens_at=iso(datetime.now(UTC) + timedelta(hours=1)))
    someone = enrol()
    listed = {o["offer_id"]: o for o in api.get("/offers", token=someone.token).body["offers"]}
    assert open_to_all in listed and for_segment not in listed
    assert listed[open_to_all]["status"] == "open" and listed[open_to_all]["my_bid"] is None
    assert listed[upcoming]["status"] == "upcoming"
    assert listed[open_to_all]["max_bid"] == {"amount": 5000, "currency": "EUR"}
    # Not eligible: the offer does not exist for this customer.
    hidden = api.get(f"/offers/{for_segment}", token=someone.token)
    assert hidden.status == 404 and hidden.error_code == "offer_not_found"
    unknown = api.get("/offers/off_nonexistent", token=someone.token)
    assert (unknown.status, unknown.error_code) == (404, "offer_not_found")


def test_segment_and_plan_eligibility(api, app_module, offer, enrol, bidder):
    import json
    import secrets

    app_module.admin_upsert_catalog(
        json.loads(
            (
                Path(__file__).resolve().parents[2] / "infra" / "admin-events" / "admin_upsert_catalog.json"
            ).read_text()
        ),
        None,
    )
    for_plan = offer(eligibility={"plan_ids": ["essentiel-20"]})
    who = bidder(plan_id="premium-100")  # a line, but not on the offer's plan
    hidden = api.get(f"/offers/{for_plan}", token=who.token)
    assert (hidden.status, hidden.error_code) == (404, "offer_not_found")
    line = app_module.admin_set_line(
        {
            "customer_number": who.enrolled.customer["customer_number"],
            "line_id": f"ln_{secrets.token_hex(6)}",
            "msisdn": "+33600000001",
            "plan_id": "essentiel-20",
            "anchor_day": 1,
        },
        None,
    )
    assert "error" not in line, line
    assert api.get(f"/offers/{for_plan}", token=who.token).status == 200
    assert for_plan in [o["offer_id"] for o in api.get("/offers", token=who.token).body["offers"]]


def test_cancelling_tells_every_bidder_and_charges_nobody(api, app_module, offer, bidder):
    from chalicelib.bidding import closing

    offer_id = offer()
    first, second = bidder(), bidder()
    assert place(api, first, offer_id, 3000).status == 201
    assert place(api, second, offer_id, 2000).status == 201
    cancelled = app_module.admin_cancel_offer({"offer_id": offer_id}, None)
    assert cancelled["status"] == "cancelled"
    assert (
        app_module.admin_cancel_offer({"offer_id": offer_id}, None)["error"]["code"]
        == "offer_not_cancellable"
    )
    late = api.post(
        f"/offers/{offer_id}/bid/challenge",
        {"amount": 4000, "payment_method_id": first.method_id, "line_id": first.line_id},
        token=first.token,
    )
    assert late.status == 409 and late.error_code == "offer_cancelled"
    assert closing.clear_offer(offer_id) == "cancelled:done"
    for who in (first, second):
        detail = api.get(f"/offers/{offer_id}", token=who.token).body
        assert detail["status"] == "cancelled" and detail["outcome"] == {
            "status": "cancelled",
            "reason": "offer_cancelled",
            "charged": None,
        }
        lost = [i for i in api.get("/me/inbox", token=who.token).body["items"] if i["kind"] == "bidding.lost"]
        assert (
            len(lost) == 1
            and lost[0]["data"]["reason"] == "offer_cancelled"
            and "Rien n'a été prélevé" in lost[0]["body"]
        )
    result = app_module.admin_offer_result({"offer_id": offer_id}, None)
    assert result["summary"]["cancelled"] == 2 and result["summary"]["won"] == 0
    assert {e["outcome"] for e in result["entries"]} == {"cancelled"}
    from chalicelib.billing.gateway import get_gateway

    assert all(
        get_gateway().get_charge(idempotency_key=closing.charge_key(offer_id, w.customer_id)) is None
        for w in (first, second)
    )
