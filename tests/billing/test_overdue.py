"""Bills past their due date: overdue on the wire, reminders 1 and 7 days after (once each), a
warning that states the suspension date and the amount that avoids it, `bill_overdue` first in
`attention`, and a payment that ends it all (chalicelib/billing/overdue.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from chalicelib.billing import overdue
from chalicelib.common.languages import long_date
from tests.billing.conftest import confirm, pay
from tests.billing.test_batches import planted


def alerts(api: Any, enrolled: Any, kind: str) -> list[dict[str, Any]]:
    items = api.get("/me/inbox", token=enrolled.token).body["items"]
    return [i for i in items if i["kind"] == kind]


def test_a_bill_past_its_due_date_is_overdue_on_the_wire_and_in_the_filter(api, billed, app_module):
    """Mutations: `wire_status` answers the stored status → `overdue` never shows; the `open` filter
    without its due-date bound → the overdue bill is listed as open too."""
    from tests.billing.conftest import bill_document

    enrolled, late_id, _ = billed(due=date.today() - timedelta(days=1))
    later = bill_document(enrolled.customer["customer_number"], due=date.today() + timedelta(days=10))
    assert app_module.import_bills({"bills": [later]}, None)["imported"] == [later["bill_id"]]

    assert api.get(f"/bills/{late_id}", token=enrolled.token).body["status"] == "overdue"
    late = api.get("/bills?status=overdue", token=enrolled.token).body["bills"]
    assert [(b["bill_id"], b["status"]) for b in late] == [(late_id, "overdue")]
    still_open = api.get("/bills?status=open", token=enrolled.token).body["bills"]
    assert [b["bill_id"] for b in still_open] == [later["bill_id"]]
    assert api.get("/bills?status=paid", token=enrolled.token).body["bills"] == []


def test_reminders_1_and_7_days_after_are_sent_once_each_however_often_the_job_runs(api, billed):
    """Mutation: a dedup key that changes per run (e.g. with the time) → two alerts for one step."""
    today = date.today()
    enrolled, bill_id, _ = billed(due=today - timedelta(days=1))
    first = overdue.run(today=today)
    again = overdue.run(today=today)  # the job runs twice a day
    assert first[f"{bill_id}:reminder_1"] == "sent" and again[f"{bill_id}:reminder_1"] == "sent"
    reminders = alerts(api, enrolled, "billing.bill_overdue")
    assert len(reminders) == 1 and reminders[0]["data"]["days_late"] == "1"
    assert reminders[0]["deep_link"] == f"selfcare://bills/{bill_id}"

    overdue.run(today=today + timedelta(days=6))  # day 7
    overdue.run(today=today + timedelta(days=6))
    reminders = alerts(api, enrolled, "billing.bill_overdue")
    assert sorted(r["data"]["days_late"] for r in reminders) == ["1", "7"]
    assert alerts(api, enrolled, "billing.suspension_warning") == []  # not yet


def test_the_warning_states_the_suspension_date_and_the_amount_in_the_customers_language(api, billed):
    """French and English: « 18,00 € » and the date in words, "€18.00" and the English date.
    Mutations: the amount left out of `money=` → the raw `18.00 EUR`; the date in ISO only → no
    month name."""
    today = date.today()
    due = today - timedelta(days=overdue.SUSPENSION_DAYS_AFTER_DUE - overdue.WARNING_DAYS_BEFORE)
    suspend_on = due + timedelta(days=overdue.SUSPENSION_DAYS_AFTER_DUE)
    french, french_bill, _ = billed(due=due)
    english, english_bill, _ = billed(due=due)
    assert api.patch("/me", {"language": "en"}, token=english.token).status == 200

    outcome = overdue.run(today=today)
    overdue.run(today=today)
    assert outcome[f"{french_bill}:warning"] == outcome[f"{english_bill}:warning"] == "sent"

    [fr] = alerts(api, french, "billing.suspension_warning")
    assert "18,00\u00a0€" in fr["body"] or "18,00 €" in fr["body"], fr["body"]
    assert long_date(suspend_on, "fr") in fr["body"]
    assert fr["data"]["suspension_date"] == suspend_on.isoformat()
    [en] = alerts(api, english, "billing.suspension_warning")
    assert "€18.00" in en["body"] and long_date(suspend_on, "en") in en["body"], en["body"]


def test_attention_shows_the_overdue_bill_first_and_paying_it_ends_it(api, billed, app_module):
    """GET /me puts `bill_overdue` before every other item (here a bill due later and the
    single-passkey nudge), with the amount, the suspension date and an arrangement on offer; a
    payment through the usual route ends it at once. Mutation: append the overdue items after the
    others → not first."""
    from tests.billing.conftest import bill_document

    due = date.today() - timedelta(days=2)
    enrolled, bill_id, method = billed(due=due)
    later = bill_document(enrolled.customer["customer_number"], due=date.today() + timedelta(days=10))
    app_module.import_bills({"bills": [later]}, None)

    attention = api.get("/me", token=enrolled.token).body["attention"]
    assert [a["type"] for a in attention][:2] == ["bill_overdue", "bill_due"], attention
    first = attention[0]
    assert first["bill_id"] == bill_id and first["situation"] == "bill_overdue"
    assert first["amount"] == {"amount": 1800, "currency": "EUR"}
    assert first["suspension_date"] == (due + timedelta(days=overdue.SUSPENSION_DAYS_AFTER_DUE)).isoformat()
    assert first["arrangement_available"] is True and first["arrangement_id"] is None
    assert first["deep_link"] == f"selfcare://bills/{bill_id}"
    assert not [a for a in attention if a["type"] == "bill_due" and a["bill_id"] == bill_id]

    assert pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method)).status == 201
    after = api.get("/me", token=enrolled.token).body["attention"]
    assert "bill_overdue" not in [a["type"] for a in after]
    assert api.get(f"/bills/{bill_id}", token=enrolled.token).body["status"] == "paid"
    # Its due notice went with the payment: no reminder for it.
    assert f"{bill_id}:reminder_1" not in overdue.run(today=due + timedelta(days=1))


def test_one_bad_notice_does_not_stop_the_reminders_of_the_others(api, billed, events):
    """Mutation: iterate the index with the model, or let an item's exception out → the good
    bill gets no reminder."""
    today = date.today()
    enrolled, bill_id, _ = billed(due=today - timedelta(days=1))
    yesterday = (today - timedelta(days=1)).isoformat()
    with planted(
        {
            "PK": {"S": "CUSTOMER#nobody"},
            "SK": {"S": "NOTICE#BILLDUE#poison"},
            "type": {"S": "notice"},
            "GSI1PK": {"S": f"DUE#{yesterday}"},
            "GSI1SK": {"S": "nobody#poison"},
            "bill_id": {"S": "poison"},
            "amount": {"S": "lots"},
        }
    ):
        outcome = overdue.run(today=today)
    assert outcome["poison:reminder_1"] == "error" and outcome[f"{bill_id}:reminder_1"] == "sent"
    assert len(alerts(api, enrolled, "billing.bill_overdue")) == 1
    assert any(e.get("event") == "batch_item_failed" and e.get("job") == "overdue_reminders" for e in events)


def test_a_part_payment_leaves_what_is_left_on_the_home_screen(api, billed):
    """18.00 overdue, 7.00 paid in the app: GET /me's `bill_overdue` says 11.00, the amount the
    arrangement preview also starts from. Mutation: leave the due notice's update (label
    "notice") out of the settlement's transaction → the item still says 18.00 → fails."""
    enrolled, bill_id, method_id = billed(due=date.today() - timedelta(days=3))
    paid = pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 700, method_id))
    assert paid.status == 201, paid.body
    item = next(
        a for a in api.get("/me", token=enrolled.token).body["attention"] if a["type"] == "bill_overdue"
    )
    assert item["amount"] == {"amount": 1100, "currency": "EUR"}
    preview = api.get("/me/arrangements/preview?instalments=2", token=enrolled.token)
    assert preview.status == 200 and preview.body["balance"]["amount"] == 1100, preview.body
