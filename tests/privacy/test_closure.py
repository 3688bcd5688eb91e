"""Account closure (chalicelib/privacy/closure.py) and the erasure job (chalicelib/privacy/erasure.py):
the preview, the passkey-confirmed closure and its cancellation, the erasure after the effective
date (resumable, idempotent) and the admins' list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.common.clock import iso
from chalicelib.privacy import erasure
from chalicelib.privacy.models import CLOSURE_SK, AccountClosure
from chalicelib.store.kinds import register_item_kinds
from chalicelib.store.models import (
    Bill,
    BillingSettings,
    Customer,
    InboxItem,
    Item,
    Line,
    OfferBid,
    Passkey,
    Payment,
    customer_pk,
)
from tests.privacy.seed import CASE_TEXT, seed_everything
from tests.support.stepup import confirmation


def _open_bill_and_autopay(customer_id: str) -> None:
    pk, moment = customer_pk(customer_id), iso(datetime.now(UTC))
    Bill(
        pk,
        "BILL#bil_closure0001#0",
        GSI1PK=f"BILLS#{customer_id}",
        GSI1SK=f"{moment}#bil_closure0001",
        bill_id="bil_closure0001",
        customer_id=customer_id,
        period_start="2026-11-01",
        period_end="2026-11-30",
        issued_at=moment,
        due_date="2026-12-15",
        currency="EUR",
        items=[{"label": "Forfait", "amount": 1000, "tax": 200}],
        total_amount=1200,
        total_tax=200,
        balance=1200,
        available=1200,
        status="open",
        content_hash="closure-open-bill",
    ).save()
    BillingSettings(pk, "SETTINGS#BILLING", default_method_id="pm_privacy0001", autopay=True).save()


def _with_option(customer_id: str, line_id: str) -> None:
    line = Line.get(customer_pk(customer_id), f"LINE#{line_id}#META")
    line.update(
        actions=[Line.options.set([{"id": "data-plus-5", "name": {"fr": "Data+ 5 Go", "en": "Data+ 5 GB"}}])]
    )


def _everything(api: Any, app_module: Any, stream: Any, enrol: Any) -> tuple[Any, str, dict[str, str]]:
    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    stream.drain()
    ids = seed_everything(api, app_module, enrolled)
    _open_bill_and_autopay(customer_id)
    _with_option(customer_id, ids["line_id"])
    return enrolled, customer_id, ids


def _close(api: Any, enrolled: Any, effective_date: str) -> Any:
    confirmed = confirmation(api, enrolled, "account.close", effective_date=effective_date)
    return api.post("/me/closure", {"confirmation": confirmed}, token=enrolled.token)


def _at(moment: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The erasure job's clock (time travel)."""
    monkeypatch.setattr(erasure, "now", lambda: moment)


def test_the_preview_says_what_ends_when_and_what_is_kept(api, app_module, stream, enrol):
    """A line with its option (ends at once: no commitment), autopay on, a pending bid (nothing
    charged), an open bill (still due, does not block), what is kept 10 years and the step-up.
    Mutation: count paid bills as open (drop `balance > 0`) → the paid seeded bill is listed → fails."""
    enrolled, _customer_id, ids = _everything(api, app_module, stream, enrol)
    answer = api.get("/me/closure/preview", token=enrolled.token)
    assert answer.status == 200, answer.body
    body = answer.body
    [line] = body["lines"]
    assert line["line_id"] == ids["line_id"] and line["ends"] == "at_once"
    assert [o["id"] for o in line["options"]] == ["data-plus-5"]
    assert body["autopay"] == {"enabled": True, "after_closure": False}
    assert body["pending_bids"] == [
        {"offer_id": ids["offer_id"], "amount": 2500, "currency": "EUR", "money": "nothing_charged"}
    ]
    assert [b["bill_id"] for b in body["open_bills"]] == ["bil_closure0001"]
    assert body["open_bills_block_closure"] is False
    assert body["kept"][0]["for_years"] == 10 and "L123-22" in body["kept"][0]["basis"]
    assert body["step_up"] == {"action": "account.close", "effective_date": body["effective_at"][:10]}


def test_a_commitment_defers_the_line_and_the_account(api, app_module, stream, enrol):
    """Mutation: ignore `commitment_ends` in `_line_end` → at once → fails."""
    enrolled, customer_id, ids = _everything(api, app_module, stream, enrol)
    line = Line.get(customer_pk(customer_id), f"LINE#{ids['line_id']}#META")
    plan = dict(line.plan.as_dict())
    plan["commitment_ends"] = "2099-03-31"
    line.update(actions=[Line.plan.set(plan)])
    body = api.get("/me/closure/preview", token=enrolled.token).body
    assert body["lines"][0]["ends"] == "end_of_commitment"
    assert body["effective_at"] == "2099-04-01T00:00:00Z"


def test_closing_needs_the_bound_passkey_then_records_once(api, app_module, stream, enrol):
    """A confirmation for another date changes nothing; the right one schedules the closure, turns
    autopay off, withdraws the bid and tells; a replay or a second closure is 409.
    Mutation: drop the autopay update from the transaction → autopay still on → fails; skip
    `withdraw_bids` → the bid stays → fails."""
    enrolled, customer_id, ids = _everything(api, app_module, stream, enrol)
    wrong = _close(api, enrolled, "2001-01-01")
    assert wrong.status == 401 and wrong.body["error"]["code"] == "step_up_mismatch", wrong.body
    assert api.get("/me/closure", token=enrolled.token).status == 404

    effective_date = api.get("/me/closure/preview", token=enrolled.token).body["step_up"]["effective_date"]
    confirmed = confirmation(api, enrolled, "account.close", effective_date=effective_date)
    done = api.post("/me/closure", {"confirmation": confirmed}, token=enrolled.token)
    assert done.status == 201, done.body
    assert done.body["status"] == "scheduled" and done.body["autopay_turned_off"] is True
    assert done.body["withdrawn_bids"] == [ids["offer_id"]]
    assert not BillingSettings.get(customer_pk(customer_id), "SETTINGS#BILLING").autopay
    assert not [b for b in OfferBid.scan(OfferBid.customer_id == customer_id)]
    alerts = [
        i
        for i in InboxItem.query(customer_pk(customer_id), InboxItem.SK.startswith("INBOX#"))
        if i.kind == "account.closure_scheduled"
    ]
    assert len(alerts) == 1 and effective_date in alerts[0].body

    replay = api.post("/me/closure", {"confirmation": confirmed}, token=enrolled.token)
    assert replay.status == 409 and replay.body["error"]["code"] == "closure_already_scheduled"
    again = _close(api, enrolled, effective_date)
    assert again.status == 409 and again.body["error"]["code"] == "closure_already_scheduled"
    assert api.get("/me/closure", token=enrolled.token).body["closure_id"] == done.body["closure_id"]


def test_cancelling_before_it_takes_effect(api, app_module, stream, enrol):
    """A closure at the end of a commitment can be cancelled (autopay stays off); once erasing, not.
    Mutation: drop the `status == scheduled` condition of `cancel` → the erased account is
    cancelled → fails."""
    enrolled, customer_id, ids = _everything(api, app_module, stream, enrol)
    line = Line.get(customer_pk(customer_id), f"LINE#{ids['line_id']}#META")
    line.update(actions=[Line.plan.set({**line.plan.as_dict(), "commitment_ends": "2099-03-31"})])
    assert _close(api, enrolled, "2099-04-01").status == 201
    confirmed = confirmation(api, enrolled, "account.close_cancel", effective_date="2099-04-01")
    cancelled = api.post("/me/closure/cancellation", {"confirmation": confirmed}, token=enrolled.token)
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled", cancelled.body
    assert not BillingSettings.get(customer_pk(customer_id), "SETTINGS#BILLING").autopay
    replay = api.post("/me/closure/cancellation", {"confirmation": confirmed}, token=enrolled.token)
    assert replay.status == 409 and replay.body["error"]["code"] == "closure_not_cancellable"
    # Cancelled: a new closure may be asked, and the job leaves it until its date.
    assert _close(api, enrolled, "2099-04-01").status == 201
    assert erasure.erase(customer_id) is False
    assert AccountClosure.get(customer_pk(customer_id), CLOSURE_SK).status == "scheduled"


def test_an_at_once_closure_is_cancellable_until_the_job_takes_it(api, enrol):
    """No commitment: the closure is effective at once, yet the customer may change their mind until
    the daily erasure job takes it; the job then leaves the account alone.
    Mutation: refuse cancellation once `effective_at` is past → 409 → fails."""
    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    effective_date = api.get("/me/closure/preview", token=enrolled.token).body["step_up"]["effective_date"]
    assert _close(api, enrolled, effective_date).status == 201
    confirmed = confirmation(api, enrolled, "account.close_cancel", effective_date=effective_date)
    cancelled = api.post("/me/closure/cancellation", {"confirmation": confirmed}, token=enrolled.token)
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled", cancelled.body
    assert erasure.erase(customer_id) is False
    assert AccountClosure.get(customer_pk(customer_id), CLOSURE_SK).status == "cancelled"


def _kinds(customer_id: str) -> set[str]:
    register_item_kinds()
    return {str(Item.type.get_discriminator(type(i))) for i in Item.query(customer_pk(customer_id))}


def test_the_job_erases_everything_but_the_bills_resumes_and_runs_once(
    api, app_module, stream, enrol, monkeypatch
):
    """Past the effective date: every seeded kind but bills and payments is gone (passkeys, case
    texts and the document's object too), the profile is pseudonymised, the bills carry a 10-year
    TTL. A run that dies after its first batch resumes; a second run changes nothing.
    Mutation: drop "bill" from KEPT → bills erased → fails; in `_commit`, stop adding the batch to
    the counts → the half-way count is 0 → fails; skip `_outside` → passkeys left → fails."""
    enrolled, customer_id, _ids = _everything(api, app_module, stream, enrol)
    effective_date = api.get("/me/closure/preview", token=enrolled.token).body["step_up"]["effective_date"]
    assert _close(api, enrolled, effective_date).status == 201
    stream.drain()
    before = {
        k: n
        for k, n in __import__("collections")
        .Counter(str(Item.type.get_discriminator(type(i))) for i in Item.query(customer_pk(customer_id)))
        .items()
        if k not in erasure.KEPT
    }
    assert {"line", "device", "case_event", "session", "payment_method", "inbox_item"} <= set(before)

    later = datetime.now(UTC) + timedelta(days=1)
    _at(later, monkeypatch)
    monkeypatch.setattr(erasure, "BATCH", 3)
    real_commit, calls = erasure._commit, []

    def dying(found: AccountClosure, batch: list[Item]) -> None:
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("the Lambda died here")
        real_commit(found, batch)

    monkeypatch.setattr(erasure, "_commit", dying)
    with pytest.raises(RuntimeError):
        erasure.erase(customer_id, moment=later)
    half = AccountClosure.get(customer_pk(customer_id), CLOSURE_SK)
    assert half.status == "erasing" and sum(half.counts.as_dict().values()) == 3

    monkeypatch.setattr(erasure, "_commit", real_commit)
    second = erasure.run()  # the daily run resumes it (and takes any other due closure)
    assert second["closed"] >= 1 and second["failed"] == 0
    done = AccountClosure.get(customer_pk(customer_id), CLOSURE_SK)
    assert done.status == "closed" and done.erase_after
    erased = sum(int(v) for v in done.counts.as_dict().values())
    # Devices go with their sessions (sessions.revoke_all unregisters them) before the partition walk.
    assert erased >= sum(before.values()) - before["device"]
    assert _kinds(customer_id) <= {"customer", "bill", "payment", "account_closure"}
    assert {"bill", "payment"} <= _kinds(customer_id)
    profile = Customer.get(customer_pk(customer_id), "PROFILE")
    assert profile.email is None and profile.phone is None and not profile.attribute_values.get("name")
    assert profile.customer_number == enrolled.customer["customer_number"]
    bill = Bill.get(customer_pk(customer_id), "BILL#bil_closure0001#0")
    assert bill.expires_at and bill.expires_at > (later + timedelta(days=365 * 9)).timestamp()
    assert all(
        p.expires_at
        for p in Payment.query(customer_pk(customer_id), Payment.SK.startswith("BILL#bil_privacy0001#PAY#"))
    )
    assert not list(Passkey.gsi1.query(customer_pk(customer_id)))
    assert CASE_TEXT not in str([i.attribute_values for i in Item.query(customer_pk(customer_id))])

    # Idempotent: another run finds nothing to do and changes nothing.
    assert erasure.erase(customer_id) is False
    erasure.run()
    assert AccountClosure.get(customer_pk(customer_id), CLOSURE_SK).counts.as_dict() == done.counts.as_dict()
    # The account is gone for the app: the old token's session no longer exists.
    assert api.get("/me/closure", token=enrolled.token).status == 401

    listed = app_module.admin_list_closures({"status": "closed", "limit": 500}, None)
    mine = [c for c in listed["closures"] if c["customer_id"] == customer_id]
    assert len(mine) == 1 and mine[0]["status"] == "closed" and sum(mine[0]["counts"].values()) == erased


def test_admin_list_pages_and_refuses_a_bad_status(app_module):
    refused = app_module.admin_list_closures({"status": "deleted"}, None)
    assert "error" in refused
    page = app_module.admin_list_closures({"status": "cancelled", "limit": 1}, None)
    assert "closures" in page and "next_cursor" in page
