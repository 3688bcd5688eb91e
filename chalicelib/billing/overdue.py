"""Bills past their due date and unpaid: reminders, and a warning before any suspension.

A bill is overdue when it is `open` (a balance left) and its due date has passed: derived from the
bill (bills.wire_status), never stored, so a payment ends it at once (settlement marks it paid and
deletes its `NOTICE#BILLDUE#` item, which `GET /me` turns into the `bill_overdue` attention item).

The daily job (`run`, called by `daily_billing`) reads the bill-due notices by their due date
(GSI1 `DUE#<date>`), one partition per step:

- `REMINDER_DAYS` after the due date: `billing.bill_overdue` (dedup key per bill and step);
- `SUSPENSION_DAYS_AFTER_DUE - WARNING_DAYS_BEFORE` after it: `billing.suspension_warning`, which
  states the suspension date and the amount that avoids it (the bill's balance), in the customer's
  language.

Each bill on its own (one that fails is logged and counted, the others go on); running twice a day
sends nothing twice (the dedup keys). While an active payment arrangement holds a bill, neither is
sent. The suspension itself is the provider's: on the date, its network system suspends the lines
(`admin_set_line` with status `suspended`, which records and tells it), and restores them on payment.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import Any

from chalicelib.billing import jobs
from chalicelib.billing.models import STATE_SK, ArrangementState
from chalicelib.common.clock import now
from chalicelib.common.languages import long_date
from chalicelib.notifications import inbox
from chalicelib.store.models import Bill, Notice, customer_pk

REMINDER_DAYS = (1, 7)
SUSPENSION_DAYS_AFTER_DUE = 14
WARNING_DAYS_BEFORE = 3
# After an arrangement breaks, the customer has at least this long before any suspension.
DAYS_AFTER_BREAK = 7


def suspension_date(due_date: str, broken_on: str | None = None) -> date:
    """When the lines of an unpaid bill due on `due_date` would be suspended: SUSPENSION_DAYS_AFTER_DUE
    after it, or DAYS_AFTER_BREAK after an arrangement broke, whichever is later."""
    planned = date.fromisoformat(due_date) + timedelta(days=SUSPENSION_DAYS_AFTER_DUE)
    if broken_on:
        planned = max(planned, date.fromisoformat(broken_on) + timedelta(days=DAYS_AFTER_BREAK))
    return planned


def date_texts(prefix: str, day: date) -> dict[str, str]:
    """A date for alert data: ISO, and as each language writes it in a sentence."""
    return {
        prefix: day.isoformat(),
        f"{prefix}_fr": long_date(day, "fr"),
        f"{prefix}_en": long_date(day, "en"),
    }


def state_of(customer_id: str) -> ArrangementState | None:
    try:
        return ArrangementState.get(customer_pk(customer_id), STATE_SK, consistent_read=True)
    except ArrangementState.DoesNotExist:
        return None


def held(state: ArrangementState | None, bill_id: str) -> bool:
    """Whether an active arrangement holds this bill."""
    return bool(state and state.active_id and bill_id in (state.bill_ids or []))


def _unpaid(notice: Notice) -> Bill | None:
    """The bill, if it still has something to pay (the notice can outlive nothing: settlement deletes
    it on payment, but a bill paid meanwhile is read to be sure)."""
    try:
        bill = Bill.get(customer_pk(notice.customer_id), f"BILL#{notice.bill_id}#0", consistent_read=True)
    except Bill.DoesNotExist:
        return None
    return bill if bill.status == "open" and int(bill.balance) > 0 else None


def run(*, today: date | None = None) -> dict[str, str]:
    """Send today's overdue reminders and suspension warnings; `{<bill id>:<step>: outcome}`."""
    day = today or now().date()
    outcomes: dict[str, str] = {}
    for step in REMINDER_DAYS:
        jobs.each(
            "overdue_reminders",
            jobs.index_items(f"DUE#{(day - timedelta(days=step)).isoformat()}"),
            partial(_remind, step=step),
            key=partial(_key, suffix=f"reminder_{step}"),
            into=outcomes,
        )
    warn_after = SUSPENSION_DAYS_AFTER_DUE - WARNING_DAYS_BEFORE
    jobs.each(
        "suspension_warnings",
        jobs.index_items(f"DUE#{(day - timedelta(days=warn_after)).isoformat()}"),
        _warn,
        key=partial(_key, suffix="warning"),
        into=outcomes,
    )
    return outcomes


def _key(raw: jobs.Raw, *, suffix: str) -> str:
    return f"{jobs.text(raw, 'bill_id')}:{suffix}"


def _bill_data(bill: Bill) -> dict[str, Any]:
    return {
        "bill_id": bill.bill_id,
        "amount_minor": int(bill.balance),
        "currency": bill.currency,
        "due_date": bill.due_date,
    }


def _remind(raw: jobs.Raw, *, step: int) -> str:
    notice = Notice.from_raw_data(raw)
    bill = _unpaid(notice)
    if bill is None:
        return "paid"
    if bill.arrangement_id:  # held by an arrangement (set and removed with it): no read of its own
        return "held"
    inbox.notify(
        customer_id=notice.customer_id,
        kind="billing.bill_overdue",
        data={**_bill_data(bill), "days_late": step},
        dedup_key=f"bill:{bill.bill_id}:overdue:{step}",
    )
    return "sent"


def _warn(raw: jobs.Raw) -> str:
    notice = Notice.from_raw_data(raw)
    bill = _unpaid(notice)
    if bill is None:
        return "paid"
    if bill.arrangement_id:
        return "held"
    state = state_of(notice.customer_id)  # the day the last arrangement broke, if it did
    suspend_on = suspension_date(bill.due_date, state.broken_on if state else None)
    inbox.notify(
        customer_id=notice.customer_id,
        kind="billing.suspension_warning",
        data={**_bill_data(bill), **date_texts("suspension_date", suspend_on)},
        dedup_key=f"bill:{bill.bill_id}:suspension-warning:{suspend_on.isoformat()}",
    )
    return "sent"
