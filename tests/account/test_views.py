"""What the customer sees: /me, a line, its usage, daily history, profile changes; only their own."""

from __future__ import annotations

from datetime import date, timedelta

from tests.account.conftest import record, sqs_event


def test_me_shows_profile_lines_and_usage(api, with_line):
    enrolled, line_id = with_line()
    me = api.get("/me", token=enrolled.token)
    assert me.status == 200
    assert me.body["profile"]["customer_number"] == enrolled.customer["customer_number"]
    line = me.body["lines"][0]
    assert line["line_id"] == line_id and line["plan"]["name"] == "Essentiel 20 Go"
    assert [o["id"] for o in line["options"]] == ["data-plus-5"]
    data = next(a for a in line["usage"]["allowances"] if a["kind"] == "data")
    assert data["included"] == 20480 + 5120 and data["used"] == 0
    voice = next(a for a in line["usage"]["allowances"] if a["kind"] == "voice")
    assert voice["unlimited"] is True and voice["remaining"] is None
    assert me.body["attention"] == []  # one passkey, but a synced one: no nudge


def test_me_is_one_dynamodb_read(api, with_line):
    from bench.common import DYNAMODB_CALLS, calls, count_dynamodb_calls

    enrolled, _ = with_line()
    if not getattr(count_dynamodb_calls, "_installed", False):
        count_dynamodb_calls()
        count_dynamodb_calls._installed = True  # type: ignore[attr-defined]
    for path in ("/me", f"/lines/{_}/usage"):
        with calls() as seen:
            assert api.get(path, token=enrolled.token).status == 200
        assert sum(seen.values()) == 1, (path, dict(seen))
    assert DYNAMODB_CALLS


def test_usage_after_ingestion_with_projection_and_freshness(api, app_module, account_clock, with_line):
    enrolled, line_id = with_line()
    at = account_clock - timedelta(minutes=2)
    app_module.ingest_usage(
        sqs_event(
            record(line_id, "data", 2048 * 1024, at=at),
            record(line_id, "voice", 125, at=at),
            record(line_id, "sms", 3, at=at),
        ),
        None,
    )
    usage = api.get(f"/lines/{line_id}/usage", token=enrolled.token).body
    figures = {a["kind"]: a for a in usage["allowances"]}
    assert figures["data"]["used"] == 2048.0 and figures["data"]["remaining"] == 25600 - 2048
    assert figures["voice"]["used"] == 3  # 125 s: three started minutes
    assert figures["sms"]["used"] == 3
    assert (
        usage["as_of"] is not None
        and usage["cycle"]["start"]
        == account_clock.date().replace(day=min(28, account_clock.day)).isoformat()
    )
    assert usage["cycle"]["days_left"] >= 1


def test_attention_lists_allowances_at_80_percent(api, app_module, account_clock, with_line):
    enrolled, line_id = with_line()
    at = account_clock - timedelta(minutes=1)
    app_module.ingest_usage(sqs_event(record(line_id, "data", int(25600 * 0.85) * 1024, at=at)), None)
    attention = [
        a for a in api.get("/me", token=enrolled.token).body["attention"] if a["type"] != "add_second_passkey"
    ]
    assert attention == [
        {
            "type": "usage_high",
            "situation": "usage_high",
            "line_id": line_id,
            "allowance": "data",
            "percent": 85.0,
            "deep_link": f"selfcare://lines/{line_id}/usage",
        }
    ]


def test_each_attention_item_names_its_help_situation(api, with_line):
    """A bill due and a failed payment (their notices, as bills.py and settlement.py write them)
    each carry their situation, one the help route answers with an article (the app shows it next
    to the item, no read per item). Mutation: `"situation": "bill_due"` → `"bill"` on the bill-due
    item → fails (and "bill" is no situation an article may name)."""
    from chalicelib.help.schemas import SITUATIONS
    from chalicelib.store.models import Notice, customer_pk

    enrolled, _ = with_line(device_bound=True)
    cid = enrolled.customer["customer_id"]
    pk = customer_pk(cid)
    Notice(
        pk,
        "NOTICE#BILLDUE#B-T-1",
        notice_kind="bill_due",
        customer_id=cid,
        bill_id="B-T-1",
        due_date="2026-12-15",
        amount=2999,
        currency="EUR",
    ).save()
    Notice(
        pk,
        "NOTICE#PAYFAIL#B-T-1",
        notice_kind="payment_failed",
        customer_id=cid,
        bill_id="B-T-1",
        amount=2999,
        currency="EUR",
        message="Your bank declined the payment.",
    ).save()
    attention = api.get("/me", token=enrolled.token).body["attention"]
    situations = {item["type"]: item["situation"] for item in attention}
    assert situations == {
        "bill_due": "bill_due",
        "payment_failed": "payment_failed",
        "add_second_passkey": "single_passkey",
    }
    assert set(situations.values()) <= set(SITUATIONS)


def test_daily_series_and_its_limits(api, app_module, account_clock, with_line):
    enrolled, line_id = with_line()
    today = account_clock
    app_module.ingest_usage(sqs_event(record(line_id, "sms", 2, at=today - timedelta(minutes=5))), None)
    start = (today - timedelta(days=6)).date()
    daily = api.get(f"/lines/{line_id}/usage/daily?from={start}&to={today.date()}", token=enrolled.token)
    assert daily.status == 200 and len(daily.body["days"]) == 7
    assert daily.body["days"][-1]["sms"] == 2 and daily.body["days"][0]["sms"] == 0
    too_long = api.get(
        f"/lines/{line_id}/usage/daily?from={today.date() - timedelta(days=100)}&to={today.date()}",
        token=enrolled.token,
    )
    assert too_long.status == 400 and too_long.error_code == "range_too_long"
    assert (
        api.get(f"/lines/{line_id}/usage/daily?from=yesterday&to={today.date()}", token=enrolled.token).status
        == 400
    )
    assert api.get(f"/lines/{line_id}/usage/daily?to={today.date()}", token=enrolled.token).status == 400


def test_another_customers_line_is_not_found_on_every_route(api, with_line):
    mine, _ = with_line()
    _, theirs = with_line()
    today = date.today()
    for path in (
        f"/lines/{theirs}",
        f"/lines/{theirs}/usage",
        f"/lines/{theirs}/usage/daily?from={today}&to={today}",
        f"/lines/{theirs}/plan-change/preview?plan_id=premium-100",
    ):
        response = api.get(path, token=mine.token)
        assert (response.status, response.error_code) == (404, "line_not_found"), path
    # Without a preview of it (none can be had: the preview is a 404 above), the change is the same
    # 404 as for a line that does not exist, never the 400 `preview_required` of one's own line.
    changed = api.post(
        f"/lines/{theirs}/plan-change",
        {"plan_id": "premium-100", "preview_token": "pcp_" + "0" * 32},
        token=mine.token,
    )
    assert changed.status == 404 and changed.error_code == "line_not_found", changed.body
    unknown = api.post(
        "/lines/ln_nosuchline0/plan-change",
        {"plan_id": "premium-100", "preview_token": "pcp_" + "0" * 32},
        token=mine.token,
    )
    assert (unknown.status, unknown.error_code) == (404, "line_not_found")


def test_patch_me_validates_and_changes_only_what_is_sent(api, with_line):
    from tests.support.stepup import confirmation

    enrolled, _ = with_line()
    address = {"line1": "1 Analytical St", "postal_code": "75001", "city": "Paris", "country": "FR"}
    confirmed = confirmation(
        api, enrolled, "profile.update", changes={"email": "ada@lovelace.org", "postal_address": address}
    )
    changed = api.patch(
        "/me",
        {
            "email": "ada@lovelace.org",
            "time_zone": "America/New_York",
            "language": "en",
            "postal_address": address,
            "confirmation": confirmed,
        },
        token=enrolled.token,
    )
    assert (
        changed.status == 200
        and changed.body["time_zone"] == "America/New_York"
        and changed.body["phone"] == "+33612345678"
    )
    for bad in (
        {"email": "not-an-email"},
        {"phone": "0612"},
        {"time_zone": "Mars/Olympus"},
        {"language": "de"},
        {"name": "Eve"},
        {"postal_address": {"line1": "x", "postal_code": "1", "city": "P", "country": "FR"}},
    ):
        assert api.patch("/me", bad, token=enrolled.token).status == 400, bad
    assert api.get("/me", token=enrolled.token).body["profile"]["email"] == "ada@lovelace.org"
