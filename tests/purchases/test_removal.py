"""Removing a recurring option: a preview of what is lost and when (the end of the cycle), a
passkey confirmation, a request in GET /me/requests; the option counts until it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.account import views
from tests.purchases.conftest import buy, included, remove
from tests.support.stepup import confirmation


def test_the_removal_preview_says_what_is_lost_and_when(api, with_line):
    enrolled, line_id = with_line()
    shown = api.get(f"/lines/{line_id}/options/data-plus-5/removal/preview", token=enrolled.token)
    assert shown.status == 200, shown.body
    body = shown.body
    data = next(a for a in body["allowances"] if a["kind"] == "data")
    assert (data["before"], data["after"], data["change"]) == (25600, 20480, "down")
    assert body["option"]["id"] == "data-plus-5" and body["price_text"] == "5,00\u00a0€"
    ends = datetime.fromisoformat(body["ends_at"])
    assert (ends.hour, ends.minute) == (0, 0) and body["effective_date"] == ends.date().isoformat()
    assert body["preview_token"].startswith("orp_")


def test_a_removed_option_counts_until_the_cycle_ends(api, with_line, monkeypatch):
    """The option gets its end date (the usage still counts it today) and the request says when
    in words; after that date the allowance no longer has it. Mutation: set no `ends_at` in
    `remove` → the allowance is still 25,600 after the date."""
    enrolled, line_id = with_line()
    removed = remove(api, enrolled, line_id, "data-plus-5")
    assert removed.status == 201, removed.body
    request = removed.body["request"]
    assert (request["kind"], request["status"]) == ("option_removal", "done")
    assert request["history"][0]["reason"]["fr"].startswith("« Data +5 Go » reste active jusqu'au ")
    assert request["effective_date"] > datetime.now(UTC).date().isoformat()
    listed = api.get("/me/requests", token=enrolled.token).body["requests"]
    assert request["request_id"] in {r["request_id"] for r in listed}
    assert included(api, enrolled, line_id) == 25600  # until the end of the cycle
    after = datetime.fromisoformat(request["effective_date"]).replace(tzinfo=UTC) + timedelta(hours=1)
    monkeypatch.setattr(views, "now", lambda: after)
    assert included(api, enrolled, line_id) == 20480
    monkeypatch.undo()
    scheduled = api.get(f"/lines/{line_id}/options/data-plus-5/removal/preview", token=enrolled.token)
    assert (scheduled.status, scheduled.error_code) == (409, "removal_scheduled")


def test_only_a_recurring_option_on_the_line_is_removed(api, with_line):
    enrolled, line_id = with_line()
    assert buy(api, enrolled, line_id, "data-recharge-2").status == 201
    top_up = api.get(f"/lines/{line_id}/options/data-recharge-2/removal/preview", token=enrolled.token)
    assert (top_up.status, top_up.error_code) == (409, "not_removable")
    absent = api.get(f"/lines/{line_id}/options/roaming-eu/removal/preview", token=enrolled.token)
    assert (absent.status, absent.error_code) == (404, "option_not_found")


def test_a_removal_needs_its_own_confirmation(api, with_line):
    """A confirmation of `option.remove` for another option is refused and nothing changes.
    Mutation: drop `stepup.confirm` from `remove` → 201."""
    enrolled, line_id = with_line(option_ids=["data-plus-5", "roaming-eu"])
    shown = api.get(f"/lines/{line_id}/options/data-plus-5/removal/preview", token=enrolled.token)
    wrong = confirmation(api, enrolled, "option.remove", line_id=line_id, option_id="roaming-eu")
    refused = api.post(
        f"/lines/{line_id}/options/data-plus-5/removal",
        {"preview_token": shown.body["preview_token"], "confirmation": wrong},
        token=enrolled.token,
    )
    assert (refused.status, refused.error_code) == (401, "step_up_mismatch")
    assert included(api, enrolled, line_id) == 25600
    again = api.get(f"/lines/{line_id}/options/data-plus-5/removal/preview", token=enrolled.token)
    assert again.status == 200  # not scheduled
