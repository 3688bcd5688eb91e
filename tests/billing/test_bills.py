"""Bills: imported once, read by their owner only, paginated newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.billing.conftest import bill_document


def test_import_is_idempotent_and_rejects_bad_documents_one_by_one(app_module, new_customer):
    customer = new_customer()
    good = bill_document(customer["customer_number"])
    bad_total = {**bill_document(customer["customer_number"]), "total": 1}
    unknown_customer = bill_document("NOBODY-1")
    extra_field = {**bill_document(customer["customer_number"]), "discount": 5}
    result = app_module.import_bills({"bills": [good, bad_total, unknown_customer, extra_field]}, None)
    assert result["imported"] == [good["bill_id"]]
    reasons = {r["bill_id"]: r["reason"] for r in result["rejected"]}
    assert "total is not the sum" in reasons[bad_total["bill_id"]]
    assert "NOBODY-1" in reasons[unknown_customer["bill_id"]]
    assert "discount" in reasons[extra_field["bill_id"]]
    again = app_module.import_bills({"bills": [good]}, None)
    assert again == {"imported": [], "unchanged": [good["bill_id"]], "rejected": []}
    changed = app_module.import_bills({"bills": [{**good, "due_date": "2030-01-01"}]}, None)
    assert changed["rejected"][0]["reason"].startswith("This bill was already imported")


def test_bills_paginate_newest_first_and_filter_by_status(api, app_module, enrol):
    enrolled = enrol()
    start = datetime.now(UTC) - timedelta(days=30)
    documents = [
        bill_document(enrolled.customer["customer_number"], issued=start + timedelta(days=n))
        for n in range(5)
    ]
    app_module.import_bills({"bills": documents}, None)
    seen, cursor = [], None
    for _ in range(5):
        page = api.get("/bills?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=enrolled.token).body
        seen += [b["bill_id"] for b in page["bills"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [d["bill_id"] for d in reversed(documents)]
    assert [b["status"] for b in api.get("/bills?status=open", token=enrolled.token).body["bills"]] == [
        "open"
    ] * 5
    assert api.get("/bills?status=paid", token=enrolled.token).body["bills"] == []
    assert api.get("/bills?status=late", token=enrolled.token).status == 400


def test_a_bill_shows_items_taxes_balance_and_payments(api, billed):
    enrolled, bill_id, _ = billed()
    bill = api.get(f"/bills/{bill_id}", token=enrolled.token).body
    assert bill["total"] == {"amount": 1800, "currency": "EUR"} and bill["tax"] == {
        "amount": 300,
        "currency": "EUR",
    }
    assert bill["balance"]["amount"] == 1800 and bill["payments"] == []
    assert bill["items"][0]["label"] == "Forfait Essentiel 20 Go"


def test_bills_belong_to_their_owner_only(api, billed, enrol):
    from tests.support.stepup import add_card

    _, bill_id, _ = billed()
    stranger = enrol()
    their_card = add_card(api, stranger).body["payment_method_id"]  # so the 404 can only be the bill's
    read = api.get(f"/bills/{bill_id}", token=stranger.token)
    assert (read.status, read.error_code) == (404, "bill_not_found")
    challenge = api.post(
        f"/bills/{bill_id}/payments/challenge",
        {"amount": 100, "payment_method_id": their_card},
        token=stranger.token,
    )
    assert (challenge.status, challenge.error_code) == (404, "bill_not_found")
    assert all(b["bill_id"] != bill_id for b in api.get("/bills", token=stranger.token).body["bills"])


def test_a_cursor_cannot_reach_another_customers_bills(api, billed, enrol, app_module):
    owner, _, _ = billed()
    app_module.import_bills({"bills": [bill_document(owner.customer["customer_number"])]}, None)
    cursor = api.get("/bills?limit=1", token=owner.token).body["next_cursor"]
    assert cursor
    stranger = enrol()
    assert api.get(f"/bills?cursor={cursor}", token=stranger.token).status == 400


def test_me_lists_the_bill_due(api, billed):
    enrolled, bill_id, _ = billed()
    attention = api.get("/me", token=enrolled.token).body["attention"]
    assert {"type": "bill_due", "bill_id": bill_id}.items() <= next(
        a for a in attention if a["type"] == "bill_due"
    ).items()


def test_the_import_tells_the_customer(api, billed):
    enrolled, bill_id, _ = billed()
    kinds = [
        (i["kind"], i["data"].get("bill_id"))
        for i in api.get("/me/inbox", token=enrolled.token).body["items"]
    ]
    assert ("billing.bill_issued", bill_id) in kinds


def test_reminders_three_days_before_the_due_date_once(api, app_module, enrol):
    from datetime import date

    from chalicelib.billing import bills

    enrolled = enrol()
    due = date.today() + timedelta(days=3)
    document = bill_document(enrolled.customer["customer_number"], due=due)
    app_module.import_bills({"bills": [document]}, None)
    assert bills.remind_due() >= 1
    bills.remind_due()
    reminders = [
        i for i in api.get("/me/inbox", token=enrolled.token).body["items"] if i["kind"] == "billing.bill_due"
    ]
    assert len(reminders) == 1 and reminders[0]["data"]["bill_id"] == document["bill_id"]
