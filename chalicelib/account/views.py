"""What the customer sees: `GET /me`, a line, its usage, its daily history. Each is one DynamoDB read.

Lines (`LINE#<id>#META`) and their cycle totals (`LINE#<id>#C#<start>`: models.cycle_sk) sit in the customer's
partition between `LINE#` and `PROFILE`, with the profile itself: one Query returns all of `GET /me`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.account import cycles, roaming
from chalicelib.account.lines import line_to_wire
from chalicelib.billing import arrangements, overdue
from chalicelib.billing.models import ArrangementState
from chalicelib.common.clock import now
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.store.models import Customer, CycleUsage, DailyUsage, Item, Line, Notice, customer_pk, plain

ATTENTION_PERCENT = 80
# Each attention item names its help situation, for the app to ask GET /help/situations/{situation}:
# its type, one of chalicelib/help/schemas.py SITUATIONS.
MAX_DAILY_RANGE = 93


def customer_suspension(line: Line) -> dict[str, Any] | None:
    """The customer's own suspension of this line (account/suspension.py), if it is suspended by the
    customer; None when it is active or the provider suspended it."""
    held = plain(line.suspension)
    if line.status == "suspended" and held is not None and held.get("by") == "customer":
        return held
    return None


def suspension_wire(line: Line) -> dict[str, Any] | None:
    """`suspension` as the app reads it: null on an active line; {reason, at, by: customer} when the
    customer suspended it; {by: provider} (the reason and date are in the provider's `line.changed`
    alert and request) when the provider did, so the app offers to restore only the former."""
    if line.status != "suspended":
        return None
    mine = customer_suspension(line)
    if mine is None:
        return {"reason": None, "at": None, "by": "provider"}
    return {"reason": mine["reason"], "at": mine["at"], "by": "customer"}


def _current_totals(
    line: Line, usage: dict[str, CycleUsage], moment: datetime
) -> tuple[date, CycleUsage | None]:
    start = cycles.cycle_start(moment.date(), int(line.anchor_day))
    return start, usage.get(start.isoformat())


def _totals(item: CycleUsage | None) -> dict[str, float]:
    if item is None:
        return {}
    return {kind: float(getattr(item, cycles.BASE_ATTR[kind]) or 0) for kind in cycles.KINDS}


def _usage_block(line: Line, item: CycleUsage | None, start: date, moment: datetime) -> dict[str, Any]:
    options = [plain(o) for o in (line.options or [])]
    figures = cycles.figures(
        plan=line.plan.as_dict(), options=options, totals=_totals(item), start=start, now=moment
    )
    end = cycles.next_cycle_start(start)
    return {
        "cycle": {
            "start": start.isoformat(),
            "end": (end - timedelta(days=1)).isoformat(),
            "days_left": max(0, (end - moment.date()).days),
        },
        "as_of": item.as_of if item else None,
        "allowances": [f.to_wire() for f in figures],
        "roaming": roaming.usage_list(line, item),  # each roaming zone (account/roaming.py)
    }


def get_me(*, customer_id: str) -> dict[str, Any]:
    moment = now()
    items = list(Item.query(customer_pk(customer_id), Item.SK.between("LINE#", "PROFILE")))
    customer = next((i for i in items if isinstance(i, Customer)), None)
    if customer is None:
        raise NotFound("No such customer.", code="customer_not_found")
    lines = [i for i in items if isinstance(i, Line)]
    usage = {(u.line_id, u.cycle_start): u for u in items if isinstance(u, CycleUsage)}
    wire_lines, attention = [], []
    for line in sorted(lines, key=lambda item: item.created_at):
        start = cycles.cycle_start(moment.date(), int(line.anchor_day))
        block = _usage_block(line, usage.get((line.line_id, start.isoformat())), start, moment)
        wire_lines.append(
            {**line_to_wire(line, customer.language), "suspension": suspension_wire(line), "usage": block}
        )
        for allowance in block["allowances"]:
            if (
                allowance["percent"] is not None
                and allowance["percent"] >= ATTENTION_PERCENT
                and allowance["included"]
            ):
                attention.append(
                    {
                        "type": "usage_high",
                        "situation": "usage_high",
                        "line_id": line.line_id,
                        "allowance": allowance["kind"],
                        "percent": allowance["percent"],
                        "deep_link": f"selfcare://lines/{line.line_id}/usage",
                    }
                )
    late = _overdue_attention(items, moment.date())  # Customers who cannot pay: bills past due come first
    for notice in (i for i in items if isinstance(i, Notice)):
        if notice.notice_kind == "bill_due" and notice.bill_id in late.bill_ids:
            continue
        if notice.notice_kind == "bill_due":
            attention.append(
                {
                    "type": "bill_due",
                    "situation": "bill_due",
                    "bill_id": notice.bill_id,
                    "due_date": notice.due_date,
                    "amount": {"amount": int(notice.amount or 0), "currency": notice.currency},
                    "deep_link": f"selfcare://bills/{notice.bill_id}",
                }
            )
        elif notice.notice_kind == "payment_failed":
            attention.append(
                {
                    "type": "payment_failed",
                    "situation": "payment_failed",
                    "bill_id": notice.bill_id,
                    "message": notice.message,
                    "deep_link": f"selfcare://bills/{notice.bill_id}",
                }
            )
    # One device-bound passkey is one phone: lose it and the account is locked out (an agent's case
    # flow then: cases/lost_phone.py). A synced one (iCloud Keychain, Google Password Manager) comes
    # back on the next phone with the same account: no nudge. Both counts are on the profile this
    # Query already holds: no read of their own. A profile from before the synced count: nudged.
    if int(customer.passkey_count or 0) == 1 and int(customer.synced_passkey_count or 0) <= 0:
        attention.append(
            {
                "type": "add_second_passkey",
                "situation": "single_passkey",
                "deep_link": "selfcare://security/passkeys",
            }
        )
    return {"profile": profile_to_wire(customer), "lines": wire_lines, "attention": late.items + attention}


@dataclass(frozen=True)
class _Late:
    bill_ids: set[str]
    items: list[dict[str, Any]]


def _overdue_attention(items: list[Item], today: date) -> _Late:
    """Cannot pay: a `bill_overdue` item per bill past its due date and unpaid (its bill-due
    notice outlives the date; settlement deletes it on payment), oldest first, with the suspension
    date (none while an arrangement holds it) and whether an arrangement is offered, all from the
    items GET /me's one Query holds (the notices and the arrangement state)."""
    state = next((i for i in items if isinstance(i, ArrangementState)), None)
    late = sorted(
        (
            i
            for i in items
            if isinstance(i, Notice)
            and i.notice_kind == "bill_due"
            and i.due_date
            and i.due_date < today.isoformat()
        ),
        key=lambda n: (n.due_date or "", n.bill_id),
    )
    if not late:
        return _Late(bill_ids=set(), items=[])
    available = (
        arrangements.refusal(
            balance=sum(int(n.amount or 0) for n in late),
            oldest_due=late[0].due_date,
            state=state,
            today=today,
        )
        is None
    )
    wire = []
    for notice in late:
        due = notice.due_date or today.isoformat()
        held = overdue.held(state, notice.bill_id)
        wire.append(
            {
                "type": "bill_overdue",
                "situation": "bill_overdue",
                "bill_id": notice.bill_id,
                "due_date": due,
                "amount": {"amount": int(notice.amount or 0), "currency": notice.currency},
                "suspension_date": None
                if held
                else overdue.suspension_date(due, state.broken_on if state else None).isoformat(),
                "arrangement_id": state.active_id if held and state else None,
                "arrangement_available": available,
                "deep_link": f"selfcare://bills/{notice.bill_id}",
            }
        )
    return _Late(bill_ids={n.bill_id for n in late}, items=wire)


def profile_to_wire(customer: Customer) -> dict[str, Any]:
    return {
        "customer_id": customer.customer_id,
        "customer_number": customer.customer_number,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "language": customer.language,
        "time_zone": customer.time_zone,
        "postal_address": customer.postal_address.as_dict() if customer.postal_address else None,
    }


def line_and_cycles(
    customer_id: str, line_id: str, *, consistent: bool = False
) -> tuple[Line, dict[str, CycleUsage]]:
    """One Query, newest first: the line (`#META` sorts last) then its latest cycles, by cycle
    start. `consistent`: for a change conditioned on what is read (account/roaming.py)."""
    items = list(
        Item.query(
            customer_pk(customer_id),
            Item.SK.startswith(f"LINE#{line_id}#"),
            scan_index_forward=False,
            limit=3,
            consistent_read=consistent,
        )
    )
    line = next((i for i in items if isinstance(i, Line)), None)
    if line is None:
        raise NotFound("No such line.", code="line_not_found")
    return line, {u.cycle_start: u for u in items if isinstance(u, CycleUsage)}


def line_view(*, customer_id: str, line_id: str) -> dict[str, Any]:
    line, by_cycle = line_and_cycles(customer_id, line_id)
    customer_language = "fr"
    moment = now()
    start = cycles.cycle_start(moment.date(), int(line.anchor_day))
    end = cycles.next_cycle_start(start)
    options = [plain(o) for o in (line.options or [])]
    return {
        **line_to_wire(line, customer_language),
        "suspension": suspension_wire(line),
        "allowances": {
            kind: {
                "included": cycles.included(line.plan.as_dict(), options, kind, at=moment),
                "unit": cycles.UNIT[kind],
            }
            for kind in cycles.KINDS
        },
        "cycle": {"start": start.isoformat(), "end": (end - timedelta(days=1)).isoformat()},
        "roaming": roaming.line_summary(line, by_cycle.get(start.isoformat())),  # the same Query's cycle
    }


def usage_view(*, customer_id: str, line_id: str) -> dict[str, Any]:
    moment = now()
    line, usage = line_and_cycles(customer_id, line_id)
    start, item = _current_totals(line, usage, moment)
    return {"line_id": line.line_id, **_usage_block(line, item, start, moment)}


def daily_usage(*, customer_id: str, line_id: str, start: date, end: date) -> dict[str, Any]:
    if end < start:
        raise ValidationFailed("`to` must not be before `from`.")
    if (end - start).days + 1 > MAX_DAILY_RANGE:
        raise ValidationFailed(f"At most {MAX_DAILY_RANGE} days at a time.", code="range_too_long")
    pk = customer_pk(customer_id)
    days = {
        d.day: d
        for d in DailyUsage.query(
            pk,
            DailyUsage.SK.between(
                f"USAGEDAY#{line_id}#{start.isoformat()}", f"USAGEDAY#{line_id}#{end.isoformat()}"
            ),
        )
    }
    if not days and not owns_line(customer_id, line_id):
        raise NotFound("No such line.", code="line_not_found")
    series = []
    day = start
    while day <= end:
        item = days.get(day.isoformat())
        series.append(
            {
                "date": day.isoformat(),
                **{
                    k: cycles.to_allowance_unit(
                        k, float(getattr(item, cycles.BASE_ATTR[k]) or 0) if item else 0
                    )
                    for k in cycles.KINDS
                },
            }
        )
        day += timedelta(days=1)
    return {"line_id": line_id, "units": dict(cycles.UNIT), "days": series}


def owns_line(customer_id: str, line_id: str) -> bool:
    """For error paths only: tell one's own line from a foreign one (which answers 404)."""
    try:
        Line.get(customer_pk(customer_id), f"LINE#{line_id}#META")
        return True
    except Line.DoesNotExist:
        return False
