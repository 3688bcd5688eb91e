"""One bid per customer and offer: confirmed with a passkey bound to it, within range and on the
increment, only while bidding is open by the server's clock."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from tests.bidding.conftest import close_now, confirmed_bid, iso, place


def test_out_of_range_and_off_increment_bids_are_refused(api, offer, bidder):
    offer_id, who = offer(), bidder()
    for amount, code in ((900, "bid_out_of_range"), (5100, "bid_out_of_range"), (1050, "bid_off_increment")):
        answer = api.post(f"/offers/{offer_id}/bid/challenge", {"amount": amount, "payment_method_id": who.method_id}, token=who.token)
        assert answer.status == 400 and answer.error_code == code, (amount, answer.body)
    assert api.post(f"/offers/{offer_id}/bid/challenge", {"amount": 1000, "payment_method_id": who.method_id, "x": 1}, token=who.token).status == 400
    assert api.post(f"/offers/{offer_id}/bid/challenge", {"amount": 1000, "payment_method_id": "pm_0000000000000000"}, token=who.token).status == 404


def test_the_challenge_states_the_exact_total(api, offer, bidder):
    offer_id, who = offer(), bidder()
    answer = api.post(f"/offers/{offer_id}/bid/challenge", {"amount": 2300, "payment_method_id": who.method_id}, token=who.token).body
    assert answer["transaction"]["charged_if_won"] == {"amount": 2300, "currency": "EUR"}
    assert "23.00 EUR in total will be charged once" in answer["transaction"]["statement"]["en"]
    assert "23.00 EUR au total" in answer["transaction"]["statement"]["fr"]
    assert answer["options"]["userVerification"] == "required"


def test_place_change_retry_and_withdraw(api, offer, bidder):
    offer_id, who = offer(), bidder()
    body = confirmed_bid(api, who, offer_id, 2000)
    placed = api.put(f"/offers/{offer_id}/bid", body, token=who.token)
    assert placed.status == 201 and placed.body["amount"] == {"amount": 2000, "currency": "EUR"}
    # The app retries after a lost answer: the spent confirmation finds its bid.
    retried = api.put(f"/offers/{offer_id}/bid", body, token=who.token)
    assert retried.status == 200 and retried.body == placed.body
    changed = place(api, who, offer_id, 2500)
    assert changed.status == 200 and changed.body["placed_at"] > placed.body["placed_at"]
    listed = [o for o in api.get("/offers", token=who.token).body["offers"] if o["offer_id"] == offer_id][0]
    assert listed["my_bid"]["amount"]["amount"] == 2500
    assert api.delete(f"/offers/{offer_id}/bid", token=who.token).status == 204
    gone = api.delete(f"/offers/{offer_id}/bid", token=who.token)
    assert gone.status == 404 and gone.error_code == "bid_not_found"
    assert api.get(f"/offers/{offer_id}", token=who.token).body["my_bid"] is None


def test_the_confirmation_is_bound_to_the_bid(api, offer, bidder):
    offer_id, other_offer, who = offer(), offer(), bidder()
    body = confirmed_bid(api, who, offer_id, 2000)
    higher = api.put(f"/offers/{offer_id}/bid", {**body, "amount": 3000}, token=who.token)
    assert higher.status == 401 and higher.error_code == "step_up_mismatch"
    body = confirmed_bid(api, who, offer_id, 2000)
    elsewhere = api.put(f"/offers/{other_offer}/bid", body, token=who.token)
    assert elsewhere.status == 401
    assert api.get(f"/offers/{offer_id}", token=who.token).body["my_bid"] is None


def test_another_customers_passkey_cannot_confirm(api, offer, bidder):
    offer_id, who, intruder = offer(), bidder(), bidder()
    challenge = api.post(f"/offers/{offer_id}/bid/challenge", {"amount": 2000, "payment_method_id": who.method_id}, token=who.token).body
    credential = intruder.enrolled.authenticator.get({"challenge": challenge["options"]["challenge"]})
    body = {"amount": 2000, "payment_method_id": who.method_id, "challenge_id": challenge["challenge_id"], "credential": credential}
    assert api.put(f"/offers/{offer_id}/bid", body, token=who.token).status == 401


def test_bids_after_close_are_refused(api, offer, bidder):
    offer_id, who = offer(closes_at=iso(datetime.now(timezone.utc) + timedelta(seconds=4))), bidder()
    assert place(api, who, offer_id, 2000).status == 201
    body = confirmed_bid(api, who, offer_id, 3000)  # confirmed while still open
    time.sleep(max(0.0, 4.2 - 0))  # the server's clock passes closes_at
    late = api.put(f"/offers/{offer_id}/bid", body, token=who.token)
    assert late.status == 409 and late.error_code == "offer_closed"
    assert api.delete(f"/offers/{offer_id}/bid", token=who.token).error_code == "offer_closed"
    mine = api.get(f"/offers/{offer_id}", token=who.token).body
    assert mine["status"] == "closed" and mine["my_bid"]["amount"]["amount"] == 2000


def test_bidding_before_the_offer_opens_is_refused(api, offer, bidder):
    offer_id, who = offer(opens_at=iso(datetime.now(timezone.utc) + timedelta(hours=1))), bidder()
    early = api.post(f"/offers/{offer_id}/bid/challenge", {"amount": 2000, "payment_method_id": who.method_id}, token=who.token)
    assert early.status == 409 and early.error_code == "offer_not_open_yet"


def test_strength_ranks_without_revealing_bids(api, offer, bidder):
    offer_id = offer(inventory=1)
    first, second, third = bidder(), bidder(), bidder()
    assert place(api, first, offer_id, 3000).status == 201
    assert api.get(f"/offers/{offer_id}", token=first.token).body["my_bid"]["strength"] == "strong"
    assert api.get(f"/offers/{offer_id}?amount=2000", token=second.token).body["candidate"]["strength"] == "fair"
    assert api.get(f"/offers/{offer_id}?amount=4000", token=second.token).body["candidate"]["strength"] == "strong"
    # An equal amount later ranks behind the earlier bid.
    assert api.get(f"/offers/{offer_id}?amount=3000", token=second.token).body["candidate"]["strength"] == "fair"
    assert place(api, second, offer_id, 2000).status == 201
    assert api.get(f"/offers/{offer_id}?amount=1500", token=third.token).body["candidate"]["strength"] == "weak"
    # My own bid is not counted against my candidate.
    assert api.get(f"/offers/{offer_id}?amount=3500", token=first.token).body["candidate"]["strength"] == "strong"
    detail = api.get(f"/offers/{offer_id}", token=third.token).body
    assert "3000" not in str(detail) and "2000" not in str({k: v for k, v in detail.items() if k != "rule"})
    assert "highest bids win" in detail["rule"]["en"].lower()
    assert api.get(f"/offers/{offer_id}?amount=1050", token=third.token).status == 400


def test_one_customer_never_sees_or_changes_anothers_bid(api, offer, bidder):
    offer_id, owner, other = offer(), bidder(), bidder()
    assert place(api, owner, offer_id, 2000).status == 201
    assert api.get(f"/offers/{offer_id}", token=other.token).body["my_bid"] is None
    assert api.delete(f"/offers/{offer_id}/bid", token=other.token).status == 404
    assert api.get(f"/offers/{offer_id}", token=owner.token).body["my_bid"]["amount"]["amount"] == 2000


def test_closing_by_the_clock_in_a_helper_matches_the_gate(api, offer, bidder):
    offer_id, who = offer(), bidder()
    body = confirmed_bid(api, who, offer_id, 2000)
    close_now(offer_id)
    assert api.put(f"/offers/{offer_id}/bid", body, token=who.token).error_code == "offer_closed"
