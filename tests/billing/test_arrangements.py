"""Payment arrangements (chalicelib/billing/arrangements.py): preview and its refusals, a passkey
confirmation bound to the exact schedule, one arrangement whatever the concurrency, instalments
charged once each by the daily job, broken when one is missed, completed when all are paid, the
admins' list and cancel, another customer's arrangement as unknown as any."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest

from chalicelib.billing import arrangements, overdue, payments
from tests.billing.conftest import bill_document
from tests.support.stepup import confirmation


def preview(api: Any, enrolled: Any, instalments: int) -> Any:
    return api.get(f"/me/arrangements/preview?instalments={instalments}", token=enrolled.token)


def confirmed(api: Any, enrolled: Any, instalments: int) -> dict[str, Any]:
    """The app's flow: preview, step-up with the preview's `step_up`, the body to create with."""
    shown = preview(api, enrolled, instalments)
    assert shown.status == 200, shown.body
    step_up = dict(shown.body["step_up"])
    action = step_up.pop("action")
    return {
        "instalments": instalments,
        "balance": shown.body["balance"]["amount"],
        "confirmation": confirmation(api, enrolled, action, **step_up),
    }


def create(api: Any, enrolled: Any, body: dict[str, Any]) -> Any:
    return api.post("/me/arrangements", body, token=enrolled.token)


def mine(api: Any, enrolled: Any) -> list[dict[str, Any]]:
    listed = api.get("/me/arrangements", token=enrolled.token)
    assert listed.status == 200, listed.body
    return list(listed.body["arrangements"])


def kinds(api: Any, enrolled: Any, kind: str) -> list[dict[str, Any]]:
    return [i for i in api.get("/me/inbox", token=enrolled.token).body["items"] if i["kind"] == kind]


@pytest.fixture
def late(billed: Any) -> Any:
    """A customer with one overdue bill (due 3 days ago) and a default card."""

    def make(token: str = "tok_visa", total: tuple[int, int] = (1500, 300), days: int = 3) -> Any:
        return billed(token=token, total_items=total, due=date.today() - timedelta(days=days))

    return make


def test_the_preview_spreads_the_balance_exactly_with_the_remainder_first(api, late):
    """1001 in 3: 335 + 333 + 333, every 20 days, the last within 60. Mutation: the remainder on
    the last instalment → [333, 333, 335]."""
    enrolled, bill_id, _ = late(total=(1000, 1))
    shown = preview(api, enrolled, 3)
    assert shown.status == 200, shown.body
    today = date.today()
    assert shown.body["balance"] == {"amount": 1001, "currency": "EUR"}
    assert shown.body["bill_ids"] == [bill_id]
    assert [(i["due_date"], i["amount"]["amount"]) for i in shown.body["instalments"]] == [
        ((today + timedelta(days=20)).isoformat(), 335),
        ((today + timedelta(days=40)).isoformat(), 333),
        ((today + timedelta(days=60)).isoformat(), 333),
    ]
    assert shown.body["step_up"]["instalments"][0] == {
        "date": (today + timedelta(days=20)).isoformat(),
        "amount": 335,
    }
    assert preview(api, enrolled, 4).status == 400


def test_each_reason_of_refusal_has_its_code(api, late, enrol, app_module):
    """Mutations: drop a check of `refusal` → that customer's preview answers 200."""
    nothing_late = enrol()
    soon = bill_document(nothing_late.customer["customer_number"], due=date.today() + timedelta(days=5))
    app_module.import_bills({"bills": [soon]}, None)
    too_high, _, _ = late(total=(arrangements.MAX_BALANCE, 1))
    too_old, _, _ = late(days=arrangements.MAX_AGE_DAYS + 1)
    for enrolled, code in (
        (nothing_late, "no_overdue_balance"),
        (too_high, "balance_too_high"),
        (too_old, "balance_too_old"),
    ):
        refused = preview(api, enrolled, 2)
        assert (refused.status, refused.body["error"]["code"]) == (409, code)
    fr = api.get(
        "/me/arrangements/preview?instalments=2", token=too_high.token, headers={"Accept-Language": "fr"}
    )
    assert "trop élevé" in fr.body["error"]["message"]


def test_a_confirmed_arrangement_holds_the_bill_and_tells_the_customer(api, late):
    """Mutation: no `Bill.arrangement_id` in the transaction / no state item → the overdue item keeps
    its suspension date and the warning job is not held."""
    enrolled, bill_id, _ = late(days=overdue.SUSPENSION_DAYS_AFTER_DUE - overdue.WARNING_DAYS_BEFORE)
    made = create(api, enrolled, confirmed(api, enrolled, 2))
    assert made.status == 201, made.body
    assert made.body["status"] == "active" and made.body["bill_ids"] == [bill_id]
    assert [i["amount"]["amount"] for i in made.body["instalments"]] == [900, 900]
    arrangement_id = made.body["arrangement_id"]

    assert [a["arrangement_id"] for a in mine(api, enrolled)] == [arrangement_id]
    assert api.get(f"/me/arrangements/{arrangement_id}", token=enrolled.token).body == made.body
    [told] = kinds(api, enrolled, "billing.arrangement_confirmed")
    assert told["data"]["arrangement_id"] == arrangement_id and "9,00" in told["body"]
    item = api.get("/me", token=enrolled.token).body["attention"][0]
    assert (item["type"], item["arrangement_id"], item["suspension_date"]) == (
        "bill_overdue",
        arrangement_id,
        None,
    )
    assert item["arrangement_available"] is False
    # Suspension warnings wait while it holds.
    assert overdue.run(today=date.today())[f"{bill_id}:warning"] == "held"
    assert kinds(api, enrolled, "billing.suspension_warning") == []
    again = preview(api, enrolled, 2)
    assert (again.status, again.body["error"]["code"]) == (409, "arrangement_active")


def test_another_schedule_a_replay_or_a_changed_balance_is_refused_and_nothing_is_written(api, late):
    """The confirmation is bound to the schedule: confirmed for 2, sent for 3 → step_up_mismatch;
    its challenge is spent (a replay is refused); a payment between preview and confirm → 409.
    Mutation: `create` without its `stepup.confirm` → the 3-instalment arrangement is made."""
    from tests.billing.conftest import confirm, pay

    enrolled, bill_id, method = late()
    body = confirmed(api, enrolled, 2)
    wrong = create(api, enrolled, {**body, "instalments": 3})
    assert (wrong.status, wrong.body["error"]["code"]) == (401, "step_up_mismatch")
    replay = create(api, enrolled, body)
    assert (replay.status, replay.body["error"]["code"]) == (404, "challenge_not_found")
    assert mine(api, enrolled) == []

    fresh = confirmed(api, enrolled, 2)
    assert pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 500, method)).status == 201
    moved = create(api, enrolled, fresh)
    assert (moved.status, moved.body["error"]["code"]) == (409, "balance_changed")
    assert mine(api, enrolled) == []

    done = create(api, enrolled, confirmed(api, enrolled, 1))
    assert done.status == 201 and done.body["balance"]["amount"] == 1300
    replayed = create(api, enrolled, fresh)  # the same confirmation once more
    assert replayed.status == 409 and len(mine(api, enrolled)) == 1


def test_two_confirmations_at_once_make_one_arrangement(api, late):
    """Two valid confirmations sent together: one 201. Mutation: drop the one-active condition and
    the bill's `arrangement_id` condition → two arrangements (the stale read below makes the race
    certain)."""
    enrolled, _, _ = late()
    bodies = [confirmed(api, enrolled, 2), confirmed(api, enrolled, 3)]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda body: create(api, enrolled, body), bodies))
    assert sorted(a.status for a in answers)[0] == 201
    assert [a.status for a in answers].count(201) == 1, [a.body for a in answers]
    assert len(mine(api, enrolled)) == 1


def test_a_stale_read_cannot_make_a_second_arrangement(api, late, monkeypatch):
    """The eligibility read said "none active" (as for two requests read together): the
    transaction's conditions still refuse. Mutation: drop both conditions → a second one."""
    enrolled, _, _ = late()
    assert create(api, enrolled, confirmed(api, enrolled, 1)).status == 201
    body = {
        "instalments": 2,
        "balance": 1800,
        "confirmation": confirmation(
            api,
            enrolled,
            "arrangement.create",
            balance=1800,
            currency="EUR",
            instalments=arrangements.schedule(1800, 2, date.today()),
        ),
    }
    monkeypatch.setattr(overdue, "state_of", lambda customer_id: None)
    second = create(api, enrolled, body)
    assert second.status == 409 and second.body["error"]["code"] in ("arrangement_active", "balance_changed")
    assert len(mine(api, enrolled)) == 1


def test_each_instalment_is_charged_once_and_the_arrangement_completes(api, late, sandbox):
    """Mutation: a payment key that changes per run and no `paid < due` check → a second charge
    of the first instalment."""
    enrolled, bill_id, _ = late()
    made = create(api, enrolled, confirmed(api, enrolled, 2)).body
    arrangement_id = made["arrangement_id"]
    customer_id = enrolled.customer["customer_id"]
    today = date.today()

    assert arrangements.run(today=today + timedelta(days=29))[arrangement_id] == "active"
    assert (
        sandbox.attempts_for(
            payments.payment_id_for(
                namespace=payments.ARRANGEMENT, customer_id=customer_id, key=f"{arrangement_id}:1:{bill_id}"
            )
        )
        == []
    )  # not due yet
    for _ in range(2):  # twice the same day
        arrangements.run(today=today + timedelta(days=30))
    first = payments.payment_id_for(
        namespace=payments.ARRANGEMENT, customer_id=customer_id, key=f"{arrangement_id}:1:{bill_id}"
    )
    assert [a.amount for a in sandbox.attempts_for(first)] == [900]
    shown = api.get(f"/me/arrangements/{arrangement_id}", token=enrolled.token).body
    assert [i["status"] for i in shown["instalments"]] == ["paid", "pending"]
    assert api.get(f"/bills/{bill_id}", token=enrolled.token).body["balance"]["amount"] == 900

    assert arrangements.run(today=today + timedelta(days=60))[arrangement_id] == "completed"
    arrangements.run(today=today + timedelta(days=60))
    second = payments.payment_id_for(
        namespace=payments.ARRANGEMENT, customer_id=customer_id, key=f"{arrangement_id}:2:{bill_id}"
    )
    assert [a.amount for a in sandbox.attempts_for(second)] == [900]
    shown = api.get(f"/me/arrangements/{arrangement_id}", token=enrolled.token).body
    assert (shown["status"], shown["end_reason"]) == ("completed", "completed")
    assert api.get(f"/bills/{bill_id}", token=enrolled.token).body["status"] == "paid"
    refused = preview(api, enrolled, 1)
    assert refused.body["error"]["code"] == "no_overdue_balance"


def test_a_missed_instalment_breaks_the_arrangement_and_the_overdue_flow_resumes(api, late, sandbox):
    """A declined card: unpaid on its date (charged once, never again), broken MISSED_AFTER_DAYS
    later with the alert, the suspension date back on GET /me, no new arrangement for 6 months.
    Mutation: `>` replaced by `>=` against MISSED_AFTER_DAYS → broken a day early (the first
    run below answers `broken`)."""
    enrolled, bill_id, _ = late(token="tok_card_declined")
    made = create(api, enrolled, confirmed(api, enrolled, 1)).body
    arrangement_id = made["arrangement_id"]
    due = date.fromisoformat(made["instalments"][0]["due_date"])

    assert arrangements.run(today=due)[arrangement_id] == "active"
    assert (
        arrangements.run(today=due + timedelta(days=arrangements.MISSED_AFTER_DAYS))[arrangement_id]
        == "active"
    )
    broke_on = due + timedelta(days=arrangements.MISSED_AFTER_DAYS + 1)
    assert arrangements.run(today=broke_on)[arrangement_id] == "broken"
    assert arrangement_id not in arrangements.run(today=broke_on)  # no longer active: not read again
    key = f"{arrangement_id}:1:{bill_id}"
    charged = sandbox.attempts_for(
        payments.payment_id_for(
            namespace=payments.ARRANGEMENT, customer_id=enrolled.customer["customer_id"], key=key
        )
    )
    assert len(charged) == 1

    shown = api.get(f"/me/arrangements/{arrangement_id}", token=enrolled.token).body
    assert (shown["status"], shown["end_reason"]) == ("broken", "missed_instalment")
    assert [i["status"] for i in shown["instalments"]] == ["missed"]
    [told] = kinds(api, enrolled, "billing.arrangement_broken")
    suspend_on = broke_on + timedelta(days=overdue.DAYS_AFTER_BREAK)
    assert told["data"]["suspension_date"] == suspend_on.isoformat() and "18,00" in told["body"]
    item = next(
        a for a in api.get("/me", token=enrolled.token).body["attention"] if a["type"] == "bill_overdue"
    )
    assert item["arrangement_id"] is None and item["suspension_date"] is not None
    assert item["arrangement_available"] is False
    refused = preview(api, enrolled, 1)
    assert (refused.status, refused.body["error"]["code"]) == (409, "arrangement_recently_broken")


def test_admins_list_and_cancel_arrangements(api, late, app_module):
    """Mutations: cancel without freeing the one-active key → the customer cannot preview again;
    no alert on an admin's cancel → the customer is not told."""
    enrolled, _, _ = late()
    arrangement_id = create(api, enrolled, confirmed(api, enrolled, 2)).body["arrangement_id"]
    listed = app_module.admin_list_arrangements({"status": "active", "limit": 500}, None)
    mine_listed = [a for a in listed["arrangements"] if a["arrangement_id"] == arrangement_id]
    assert mine_listed and mine_listed[0]["customer_id"] == enrolled.customer["customer_id"]

    cancelled = app_module.admin_cancel_arrangement(
        {"arrangement_id": arrangement_id, "operator": "agent@example.com", "reason": "paid at the shop"},
        None,
    )
    assert cancelled["cancelled"]["status"] == "cancelled", cancelled
    shown = api.get(f"/me/arrangements/{arrangement_id}", token=enrolled.token).body
    assert (shown["status"], shown["end_reason"]) == ("cancelled", "cancelled: paid at the shop")
    assert preview(api, enrolled, 2).status == 200  # the overdue flow resumes, offers again
    [told] = kinds(api, enrolled, "billing.arrangement_cancelled")  # told once, with what is left
    assert told["data"]["amount_minor"] == "1800" and "18,00" in told["body"]
    again = app_module.admin_cancel_arrangement({"arrangement_id": arrangement_id, "reason": "twice"}, None)
    assert again["error"]["code"] == "arrangement_not_found"
    gone = app_module.admin_list_arrangements({"status": "cancelled", "limit": 500}, None)
    assert arrangement_id in [a["arrangement_id"] for a in gone["arrangements"]]
    assert app_module.admin_list_arrangements({"status": "nope"}, None)["error"]["code"] == "validation_error"


def test_another_customers_arrangement_is_unknown(api, late, enrol):
    enrolled, _, _ = late()
    arrangement_id = create(api, enrolled, confirmed(api, enrolled, 1)).body["arrangement_id"]
    stranger = enrol()
    answer = api.get(f"/me/arrangements/{arrangement_id}", token=stranger.token)
    assert (answer.status, answer.body["error"]["code"]) == (404, "arrangement_not_found")
    assert mine(api, stranger) == []


def test_a_declined_instalment_is_tried_on_one_bill_only(api, late, sandbox, app_module):
    """Two overdue bills, one instalment, a declined card: the instalment's charge is tried once, on
    the oldest bill; the same card is not tried on the next bill (which would charge the
    instalment twice over with a card that answers later).
    Mutation: go on to the next bill whatever the outcome (`owed` kept) → two attempts → fails."""
    enrolled, first_bill, _ = late(token="tok_card_declined", days=5)
    customer_id = enrolled.customer["customer_id"]
    second = bill_document(enrolled.customer["customer_number"], due=date.today() - timedelta(days=2))
    assert app_module.import_bills({"bills": [second]}, None)["imported"] == [second["bill_id"]]
    made = create(api, enrolled, confirmed(api, enrolled, 1)).body
    assert made["balance"]["amount"] == 3600, made
    arrangement_id = made["arrangement_id"]
    due = date.fromisoformat(made["instalments"][0]["due_date"])
    arrangements.run(today=due)
    attempts = [
        sandbox.attempts_for(
            payments.payment_id_for(
                namespace=payments.ARRANGEMENT, customer_id=customer_id, key=f"{arrangement_id}:1:{bill}"
            )
        )
        for bill in (first_bill, second["bill_id"])
    ]
    assert [len(a) for a in attempts] == [1, 0]


def test_a_closed_account_ends_its_arrangement(api, late, app_module):
    """The erasure of a closed account ends its active arrangement first (`cancelled`,
    `account_closed`): the job does not try it every day afterwards. Safe to run again.
    Mutation: leave end_on_closure out of erasure._outside → the arrangement stays active."""
    from chalicelib.privacy import erasure

    enrolled, _, _ = late()
    customer_id = enrolled.customer["customer_id"]
    arrangement_id = create(api, enrolled, confirmed(api, enrolled, 2)).body["arrangement_id"]
    erasure._outside(customer_id)
    erasure._outside(customer_id)  # a resumed run does it again
    listed = app_module.admin_list_arrangements({"status": "cancelled"}, None)["arrangements"]
    ended = next(a for a in listed if a["arrangement_id"] == arrangement_id)
    assert ended["end_reason"] == "account_closed"
    assert arrangements.end_on_closure(customer_id) is False
