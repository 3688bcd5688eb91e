"""An option bought in the app reaches a bill: the billing system lists the pending charges, puts
each on the customer's next bill (an item with `charge_id`), and the import marks it billed in the
bill's own transaction, only for the amount the customer confirmed; billed once, never lost."""

from __future__ import annotations

from typing import Any

from tests.billing.conftest import bill_document
from tests.purchases.conftest import buy


def _feed(**event: Any) -> dict[str, Any]:
    from chalicelib.purchases import feed

    return feed.pending_charges(feed.PendingChargesEvent(**event))


def _all_pending() -> list[dict[str, Any]]:
    charges, cursor = [], None
    while True:
        page = _feed(limit=50, **({"cursor": cursor} if cursor else {}))
        charges += page["charges"]
        cursor = page["next_cursor"]
        if not cursor:
            return charges


def _bought(api: Any, with_line: Any) -> tuple[Any, str]:
    enrolled, line_id = with_line()
    answer = buy(api, enrolled, line_id, "data-recharge-2")
    assert answer.status == 201, answer.body
    return enrolled, answer.body["purchase"]["purchase_id"]


def _bill_with(enrolled: Any, charge_id: str, *, amount: int = 250, tax: int = 50) -> dict[str, Any]:
    document = bill_document(enrolled.customer["customer_number"])
    document["items"].append({"label": "Recharge 2 Go", "amount": amount, "tax": tax, "charge_id": charge_id})
    document["total"] += amount + tax
    return document


def test_a_purchase_is_in_the_feed_until_a_bill_takes_it_once(api, app_module, with_line, charges):
    """Mutations: no GSI1 keys on the charge → not in the feed; the import not removing them → still
    listed after billing; no `status == pending` condition → a second bill takes it again."""
    enrolled, charge_id = _bought(api, with_line)
    (listed,) = [c for c in _all_pending() if c["charge_id"] == charge_id]
    assert listed["customer_number"] == enrolled.customer["customer_number"]
    assert listed["amount"] == {"amount": 300, "currency": "EUR"}
    assert listed["label"]["fr"] == "Recharge 2 Go"

    first = _bill_with(enrolled, charge_id)
    assert app_module.import_bills({"bills": [first]}, None)["imported"] == [first["bill_id"]]
    assert charge_id not in {c["charge_id"] for c in _all_pending()}
    assert charges(enrolled) == []  # billed: no longer waiting for a bill
    # The same bill again changes nothing; another bill listing the same charge is refused whole.
    assert app_module.import_bills({"bills": [first]}, None)["unchanged"] == [first["bill_id"]]
    second = _bill_with(enrolled, charge_id)
    result = app_module.import_bills({"bills": [second]}, None)
    assert [r["bill_id"] for r in result["rejected"]] == [second["bill_id"]]
    assert charge_id in result["rejected"][0]["reason"]
    assert api.get(f"/bills/{second['bill_id']}", token=enrolled.token).status == 404


def test_a_bill_must_charge_what_the_customer_confirmed(api, app_module, with_line):
    """A bill item for 4.00 where 3.00 was confirmed, or for another customer's charge: the bill is
    rejected and the charge stays pending. Mutation: no amount condition → billed at 4.00."""
    enrolled, charge_id = _bought(api, with_line)
    wrong = _bill_with(enrolled, charge_id, amount=350, tax=50)
    assert [r["bill_id"] for r in app_module.import_bills({"bills": [wrong]}, None)["rejected"]] == [
        wrong["bill_id"]
    ]
    other, _ = with_line()
    theirs = _bill_with(other, charge_id)
    assert [r["bill_id"] for r in app_module.import_bills({"bills": [theirs]}, None)["rejected"]] == [
        theirs["bill_id"]
    ]
    assert charge_id in {c["charge_id"] for c in _all_pending()}


def test_the_feed_pages_oldest_first_and_refuses_foreign_cursors(api, with_line):
    """Mutation: a cursor not checked against the feed's partition → another list's cursor accepted."""
    import pytest

    from chalicelib.errors import ValidationFailed

    bought = [_bought(api, with_line)[1] for _ in range(3)]
    listed = [c["charge_id"] for c in _all_pending()]
    assert [c for c in listed if c in bought] == bought  # oldest first
    page = _feed(limit=1)
    assert len(page["charges"]) == 1 and page["next_cursor"]
    with pytest.raises(ValidationFailed):
        _feed(cursor="eyJQSyI6ICJDVVNUT01FUiN4In0")  # {"PK": "CUSTOMER#x"}


def test_the_console_function_pages_the_feed_and_refuses_a_bad_event(api, app_module, with_line):
    """`admin_pending_charges` as Lambda runs it: the charge listed; a limit sent as a string or an
    unknown field is a structured error, never a guess."""
    _, charge_id = _bought(api, with_line)
    found, cursor = [], None
    while True:
        page = app_module.admin_pending_charges(
            {"limit": 100, **({"cursor": cursor} if cursor else {})}, None
        )
        assert "error" not in page, page
        found += [c["charge_id"] for c in page["charges"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert charge_id in found
    for bad in ({"limit": "100"}, {"limit": 100, "since": "yesterday"}):
        answer = app_module.admin_pending_charges(bad, None)
        assert answer["error"]["code"] == "validation_error", answer


def test_a_removed_recurring_option_tells_the_billing_system_when_to_stop(api, app_module, with_line):
    """A recurring option bought in the app says from when it is billed monthly; removing it puts a
    subscription_end in the feed (never billable), which the billing system acknowledges once.
    Mutations: no `stop` item in the removal's transaction → nothing tells the billing system to
    stop; an acknowledgement without the `pending` condition → acknowledged twice."""
    from tests.purchases.conftest import remove

    enrolled, line_id = with_line(option_ids=[])
    bought = buy(api, enrolled, line_id, "data-plus-5")
    assert bought.status == 201, bought.body
    (first_month,) = [c for c in _all_pending() if c["charge_id"] == bought.body["purchase"]["purchase_id"]]
    assert first_month["kind"] == "charge" and first_month["term"] == "recurring"
    from datetime import UTC, datetime

    starts = datetime.fromisoformat(first_month["monthly_from"].replace("Z", "+00:00"))
    # The next cycle's first instant (UTC): after today, at midnight, within a month.
    assert starts > datetime.now(UTC) and (starts.hour, starts.minute) == (0, 0)
    assert (starts - datetime.now(UTC)).days <= 31
    assert remove(api, enrolled, line_id, "data-plus-5").status == 201
    (stop,) = [
        c
        for c in _all_pending()
        if c["kind"] == "subscription_end" and c["customer_id"] == enrolled.customer["customer_id"]
    ]
    assert stop["option_id"] == "data-plus-5" and stop["ends_at"] and stop["charge_id"].startswith("sub_")
    # Not billable: a bill item naming it is refused (its id is not a charge's).
    bill = _bill_with(enrolled, stop["charge_id"])
    assert app_module.import_bills({"bills": [bill]}, None)["rejected"]
    ack = {"customer_id": enrolled.customer["customer_id"], "charge_id": stop["charge_id"]}
    other = {"customer_id": "cus_" + "0" * 24, "charge_id": stop["charge_id"]}
    first = app_module.admin_pending_charges({"limit": 1, "acknowledge": [other, ack]}, None)
    assert first["acknowledged"] == [stop["charge_id"]], first
    assert app_module.admin_pending_charges({"limit": 1, "acknowledge": [ack]}, None)["acknowledged"] == []
    assert stop["charge_id"] not in {c["charge_id"] for c in _all_pending()}
