"""Payment arrangements: an overdue balance paid in up to MAX_INSTALMENTS instalments, in the app.

- `preview`: the customer's overdue balance (open bills past their due date), whether it may be
  spread (`refusal`: one code per reason, each a 409), and the schedule for N instalments: due
  every WINDOW_DAYS / N days, the last within WINDOW_DAYS, integer minor units summing exactly to
  the balance, the remainder on the first. The answer carries the step-up body to confirm it with.
- `create` (step-up `arrangement.create`, bound to the balance, the currency and every instalment's
  date and amount): in ONE transaction the arrangement, the one-active-arrangement key
  (`ArrangementState.active_id`, conditional: two confirmations never make two) and each bill
  marked as held (conditioned on its balance being the one confirmed: a payment in between is a
  409 `balance_changed`, and nothing is written); then the `billing.arrangement_confirmed` alert.
- `run` (daily, from `daily_billing`): each active arrangement on its own. An instalment due today
  or earlier and not covered by what was paid is charged to the default method, once per
  instalment and bill (payments.charge_default: a payment id derived from both); a declined charge
  leaves it unpaid (the customer can still pay the bill in the app, which counts). Unpaid
  MISSED_AFTER_DAYS after its date, the arrangement is `broken` (`billing.arrangement_broken`, with
  the suspension date the overdue flow resumes with); all paid, it is `completed`.
- Admins: `admin_list` (by status, a page at a time), `admin_cancel` (the overdue flow resumes).

While an arrangement holds a bill, overdue reminders and suspension warnings wait (overdue.held).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import Field

from chalicelib.auth import stepup
from chalicelib.billing import jobs, overdue, payments
from chalicelib.billing.models import STATE_SK, Arrangement, ArrangementState
from chalicelib.billing.money import format_money
from chalicelib.billing.schemas import ARRANGEMENT_ID
from chalicelib.common.clock import iso, now
from chalicelib.common.languages import long_date
from chalicelib.common.strict import JsonInt, Strict
from chalicelib.errors import Conflict, NotFound
from chalicelib.notifications import inbox
from chalicelib.store import cursor as cursor_codec
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import Bill, customer_pk, plain

ACTION = "arrangement.create"  # the step-up action (auth/stepup.py)
MAX_INSTALMENTS = 3
WINDOW_DAYS = 60  # the last instalment falls within this many days
MAX_AGE_DAYS = 90  # the oldest overdue bill's days past due
MAX_BALANCE = 50_000  # minor units
COOL_OFF_DAYS = 183  # after an arrangement broke, none in the app for about 6 months
MISSED_AFTER_DAYS = 5  # an instalment unpaid this long after its date breaks the arrangement
MAX_BILLS = 40  # one transaction: 2 items + 1 per bill, within DynamoDB's 100
PAGE_DEFAULT, PAGE_MAX = 20, 50
STATUSES = ("active", "completed", "broken", "cancelled")

# Why a balance cannot be spread in the app: the error code and what the customer reads.
REFUSALS: dict[str, str] = {
    "no_overdue_balance": "You have no overdue bill to pay in instalments.",
    "arrangement_active": "An arrangement is already under way: its instalments are in the app.",
    "arrangement_recently_broken": (
        "An arrangement broke less than six months ago: contact customer support to arrange a payment."
    ),
    "balance_too_old": "This balance has been overdue too long to be spread in the app: contact customer support.",
    "balance_too_high": "This balance is too high to be spread in the app: contact customer support.",
}


@dataclass(frozen=True)
class Overdue:
    """What the customer owes past due now, read consistently: the bills (oldest due first)."""

    bills: list[Bill]
    state: ArrangementState | None

    @property
    def balance(self) -> int:
        return sum(int(b.balance) for b in self.bills)

    @property
    def currency(self) -> str:
        return self.bills[0].currency if self.bills else "EUR"

    @property
    def oldest_due(self) -> str | None:
        return self.bills[0].due_date if self.bills else None


def refusal(
    *, balance: int, oldest_due: str | None, state: ArrangementState | None, today: date
) -> str | None:
    """Why this balance may not be spread now (a REFUSALS code), or None. Pure: `GET /me` asks it
    of what its one Query holds, the preview and the confirmation of what they read."""
    if state is not None and state.active_id:
        return "arrangement_active"
    broken_on = state.broken_on if state is not None else None
    if broken_on and today < date.fromisoformat(broken_on) + timedelta(days=COOL_OFF_DAYS):
        return "arrangement_recently_broken"
    if balance <= 0 or oldest_due is None:
        return "no_overdue_balance"
    if (today - date.fromisoformat(oldest_due)).days > MAX_AGE_DAYS:
        return "balance_too_old"
    if balance > MAX_BALANCE:
        return "balance_too_high"
    return None


def schedule(balance: int, instalments: int, today: date) -> list[dict[str, Any]]:
    """`instalments` dates and amounts: every WINDOW_DAYS // n days from today, amounts summing
    exactly to `balance`, the remainder (less than n minor units) on the first."""
    step = WINDOW_DAYS // instalments
    base, rest = divmod(balance, instalments)
    return [
        {
            "date": (today + timedelta(days=step * (k + 1))).isoformat(),
            "amount": base + (rest if k == 0 else 0),
        }
        for k in range(instalments)
    ]


def step_up_params(balance: int, currency: str, plan: list[dict[str, Any]]) -> dict[str, Any]:
    """What the confirmation is bound to: exactly the body `POST /me/step-up` carries."""
    return {"balance": balance, "currency": currency, "instalments": plan}


def _read(customer_id: str, today: date) -> Overdue:
    pk = customer_pk(customer_id)
    bills = list(
        Bill.query(
            pk,
            Bill.SK.startswith("BILL#"),
            filter_condition=(Bill.status == "open") & (Bill.due_date < today.isoformat()),
            consistent_read=True,
        )
    )
    bills = sorted((b for b in bills if int(b.balance) > 0), key=lambda b: (b.due_date, b.bill_id))
    return Overdue(bills=bills[:MAX_BILLS], state=overdue.state_of(customer_id))


def _refuse(held: Overdue, today: date) -> None:
    reason = refusal(balance=held.balance, oldest_due=held.oldest_due, state=held.state, today=today)
    if reason is not None:
        raise Conflict(REFUSALS[reason], code=reason)


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def preview(*, customer_id: str, instalments: int, today: date | None = None) -> dict[str, Any]:
    day = today or now().date()
    held = _read(customer_id, day)
    _refuse(held, day)
    plan = schedule(held.balance, instalments, day)
    return {
        "balance": _money(held.balance, held.currency),
        "bill_ids": [b.bill_id for b in held.bills],
        "instalments": [
            {"number": k + 1, "due_date": p["date"], "amount": _money(p["amount"], held.currency)}
            for k, p in enumerate(plan)
        ],
        "step_up": {"action": ACTION, **step_up_params(held.balance, held.currency, plan)},
    }


def describe(*, params: dict[str, Any]) -> dict[str, str]:
    """The step-up statement's detail: « 30,00 € en 2 fois : 15,00 € le 26 décembre 2026, ... »."""
    currency = str(params["currency"])
    texts: dict[str, str] = {}
    for language, joiner, on in (("fr", " en {n} fois : ", " le "), ("en", " in {n} instalments: ", " on ")):
        parts = [
            f"{format_money(int(p['amount']), currency, language=language)}{on}"
            f"{long_date(date.fromisoformat(str(p['date'])), language)}"
            for p in params["instalments"]
        ]
        total = format_money(int(params["balance"]), currency, language=language)
        texts[language] = total + joiner.format(n=len(parts)) + ", ".join(parts)
    return texts


def new_arrangement_id() -> str:
    """Sortable by creation (milliseconds first), unguessable (random tail)."""
    return f"arr_{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def create(
    *,
    customer_id: str,
    session_id: str,
    instalments: int,
    balance: int,
    challenge_id: str,
    credential: dict[str, Any],
    today: date | None = None,
) -> dict[str, Any]:
    day = today or now().date()
    held = _read(customer_id, day)
    _refuse(held, day)
    if held.balance != balance:
        raise _balance_changed(held)
    plan = schedule(held.balance, instalments, day)
    stepup.confirm(
        customer_id=customer_id,
        session_id=session_id,
        action=ACTION,
        params=step_up_params(held.balance, held.currency, plan),
        challenge_id=challenge_id,
        credential=credential,
    )
    pk, moment = customer_pk(customer_id), iso(now())
    arrangement_id = new_arrangement_id()
    arrangement = Arrangement(
        pk,
        f"ARRANGEMENT#{arrangement_id}",
        GSI1PK="ARRANGEMENTS#active",
        GSI1SK=f"{moment}#{arrangement_id}",
        arrangement_id=arrangement_id,
        customer_id=customer_id,
        status="active",
        balance=held.balance,
        currency=held.currency,
        bills=[{"bill_id": b.bill_id, "amount": int(b.balance)} for b in held.bills],
        instalments=[
            {"number": k + 1, "due_date": p["date"], "amount": p["amount"], "status": "pending"}
            for k, p in enumerate(plan)
        ],
        created_at=moment,
        updated_at=moment,
    )
    try:
        with transaction() as tx:
            tx.save(arrangement, condition=Arrangement.PK.does_not_exist())
            tx.update(
                ArrangementState(pk, STATE_SK),
                actions=[
                    # An UpdateItem may create the item: it must carry its type for GET /me's Query.
                    ArrangementState.type.set(ArrangementState),
                    ArrangementState.active_id.set(arrangement_id),
                    ArrangementState.bill_ids.set([b.bill_id for b in held.bills]),
                ],
                condition=ArrangementState.active_id.does_not_exist(),
                label="one_active",
            )
            for bill in held.bills:
                owed = int(bill.balance)
                tx.update(
                    bill,
                    actions=[Bill.arrangement_id.set(arrangement_id)],
                    # As confirmed: still open, this balance, no payment in flight, not held.
                    condition=(Bill.status == "open")
                    & (Bill.balance == owed)
                    & (Bill.available == owed)
                    & Bill.arrangement_id.does_not_exist(),
                    label=f"bill:{bill.bill_id}",
                )
    except ConditionsFailed as failed:
        if "one_active" in failed.labels:
            raise Conflict(REFUSALS["arrangement_active"], code="arrangement_active") from None
        raise _balance_changed(held) from None
    first = plan[0]
    inbox.notify(
        customer_id=customer_id,
        kind="billing.arrangement_confirmed",
        data={
            "arrangement_id": arrangement_id,
            "amount_minor": held.balance,
            "currency": held.currency,
            "instalments": len(plan),
            "first_amount_minor": first["amount"],
            **overdue.date_texts("first_due_date", date.fromisoformat(first["date"])),
        },
        dedup_key=f"arrangement:{arrangement_id}:confirmed",
    )
    return to_wire(arrangement)


def _balance_changed(held: Overdue) -> Conflict:
    left = format_money(held.balance, held.currency)
    return Conflict(
        f"Your overdue balance changed since the preview (it is now {left}): preview the arrangement again.",
        code="balance_changed",
    )


def to_wire(arrangement: Arrangement) -> dict[str, Any]:
    currency = arrangement.currency
    return {
        "arrangement_id": arrangement.arrangement_id,
        "status": arrangement.status,
        "balance": _money(int(arrangement.balance), currency),
        "bill_ids": [str(plain(b)["bill_id"]) for b in arrangement.bills],
        "instalments": [
            {
                "number": int(i["number"]),
                "due_date": i["due_date"],
                "amount": _money(int(i["amount"]), currency),
                "status": i["status"],
            }
            for i in (plain(x) for x in arrangement.instalments)
        ],
        "created_at": arrangement.created_at,
        "ended_at": arrangement.ended_at,
        "end_reason": arrangement.end_reason,
    }


def get(*, customer_id: str, arrangement_id: str) -> dict[str, Any]:
    try:
        found = Arrangement.get(customer_pk(customer_id), f"ARRANGEMENT#{arrangement_id}")
    except Arrangement.DoesNotExist:
        raise NotFound("No such arrangement.", code="arrangement_not_found") from None
    return to_wire(found)


def list_mine(*, customer_id: str, cursor: str | None, limit: int | None) -> dict[str, Any]:
    pk = customer_pk(customer_id)
    size = min(max(1, limit or PAGE_DEFAULT), PAGE_MAX)
    start = cursor_codec.decode(cursor, fixed={"PK": pk}, sk_prefix="ARRANGEMENT#") if cursor else None
    result = Arrangement.query(
        pk,
        Arrangement.SK.startswith("ARRANGEMENT#"),
        scan_index_forward=False,
        limit=size,
        last_evaluated_key=start,
    )
    found = [to_wire(a) for a in result]
    last = result.last_evaluated_key
    return {"arrangements": found, "next_cursor": cursor_codec.encode(last) if last else None}


# --- the daily job ------------------------------------------------------------------------------


def run(*, today: date | None = None) -> dict[str, str]:
    """Each active arrangement on its own: charge what is due, then complete or break it."""
    day = today or now().date()
    return jobs.each(
        "arrangement_instalments",
        jobs.index_items("ARRANGEMENTS#active"),
        lambda raw: advance(Arrangement.from_raw_data(raw), day),
        key=lambda raw: jobs.text(raw, "arrangement_id"),
        into={},
    )


def _bills_of(arrangement: Arrangement) -> list[Bill]:
    pk = customer_pk(arrangement.customer_id)
    keys = [(pk, f"BILL#{plain(b)['bill_id']}#0") for b in arrangement.bills]
    found = {b.bill_id: b for b in Bill.batch_get(keys, consistent_read=True)}
    return [found[str(plain(b)["bill_id"])] for b in arrangement.bills if str(plain(b)["bill_id"]) in found]


def _paid(arrangement: Arrangement, bills: list[Bill]) -> int:
    """What has been paid on the arrangement's bills since it was made, however (instalments, the
    customer's own payments in the app)."""
    return int(arrangement.balance) - sum(max(int(b.balance), 0) for b in bills)


def _charged(arrangement: Arrangement, bills: list[Bill]) -> int:
    """Paid, or held by a payment in flight (`available` is the balance less what pending payments
    hold)."""
    return int(arrangement.balance) - sum(max(int(b.available), 0) for b in bills)


def advance(arrangement: Arrangement, today: date) -> str:
    """Charge the instalments due and not yet covered (once each), record what is paid, and end
    the arrangement when all is paid (`completed`) or an instalment is missed (`broken`)."""
    bills = _bills_of(arrangement)
    # Charged counts what is paid and what is in flight (a charge pending at the provider holds its
    # amount on the bill): a pending instalment is never charged again on another bill.
    charged, due = _charged(arrangement, bills), 0
    for instalment in (plain(i) for i in arrangement.instalments):
        due += int(instalment["amount"])
        if instalment["due_date"] <= today.isoformat() and charged < due:
            _charge(arrangement, bills, number=int(instalment["number"]), owed=due - charged)
            bills = _bills_of(arrangement)
            charged = _charged(arrangement, bills)
    paid = _paid(arrangement, bills)
    statuses, due, missed = [], 0, False
    for instalment in (plain(i) for i in arrangement.instalments):
        due += int(instalment["amount"])
        when = date.fromisoformat(str(instalment["due_date"]))
        if paid >= due:
            statuses.append("paid")
        elif today > when + timedelta(days=MISSED_AFTER_DAYS):
            statuses.append("missed")
            missed = True
        else:
            statuses.append("pending")
    if all(s == "paid" for s in statuses):
        _end(arrangement, "completed", reason="completed", statuses=statuses)
        return "completed"
    if missed:
        _end(arrangement, "broken", reason="missed_instalment", statuses=statuses, today=today)
        left = sum(max(int(b.balance), 0) for b in bills)
        oldest = min((b.due_date for b in bills if int(b.balance) > 0), default=today.isoformat())
        inbox.notify(
            customer_id=arrangement.customer_id,
            kind="billing.arrangement_broken",
            data={
                "arrangement_id": arrangement.arrangement_id,
                "amount_minor": left,
                "currency": arrangement.currency,
                **overdue.date_texts("suspension_date", overdue.suspension_date(oldest, today.isoformat())),
            },
            dedup_key=f"arrangement:{arrangement.arrangement_id}:broken",
        )
        return "broken"
    if statuses != [plain(i)["status"] for i in arrangement.instalments]:
        arrangement.update(
            actions=[
                Arrangement.instalments.set(_with_statuses(arrangement, statuses)),
                Arrangement.updated_at.set(iso(now())),
            ],
            condition=Arrangement.status == "active",
        )
    return "active"


def _charge(arrangement: Arrangement, bills: list[Bill], *, number: int, owed: int) -> None:
    """Charge `owed` for instalment `number`, spread over the bills oldest first: one payment per
    instalment and bill, whatever the number of runs (its id derives from both)."""
    for bill in bills:
        if owed <= 0:
            return
        share = min(owed, max(int(bill.available), 0))
        if share <= 0:
            continue
        outcome = payments.charge_default(
            customer_id=arrangement.customer_id,
            bill_id=bill.bill_id,
            key=f"{arrangement.arrangement_id}:{number}:{bill.bill_id}",
            amount=share,
        )
        if outcome not in ("succeeded", "pending"):
            return  # declined (or no card): the same card is not tried on the next bill
        owed -= share  # paid, or held until the provider answers


def _with_statuses(arrangement: Arrangement, statuses: list[str]) -> list[dict[str, Any]]:
    return [{**plain(i), "status": s} for i, s in zip(arrangement.instalments, statuses, strict=True)]


def _end(
    arrangement: Arrangement,
    status: Literal["completed", "broken", "cancelled"],
    *,
    reason: str,
    statuses: list[str] | None = None,
    today: date | None = None,
    operator: str | None = None,
) -> None:
    """One transaction: the arrangement leaves `active`, the one-active key is freed (and, when it
    broke, the day is kept for the cool-off), the bills are no longer held: the overdue flow
    resumes for what is left."""
    pk, moment = customer_pk(arrangement.customer_id), iso(now())
    actions: list[Any] = [
        Arrangement.status.set(status),
        Arrangement.GSI1PK.set(f"ARRANGEMENTS#{status}"),
        Arrangement.updated_at.set(moment),
        Arrangement.ended_at.set(moment),
        Arrangement.end_reason.set(reason),
    ]
    if statuses is not None:
        actions.append(Arrangement.instalments.set(_with_statuses(arrangement, statuses)))
    if operator is not None:
        actions.append(Arrangement.cancelled_by.set(operator))
    state_actions: list[Any] = [ArrangementState.active_id.remove(), ArrangementState.bill_ids.remove()]
    if status == "broken":
        state_actions.append(ArrangementState.broken_on.set((today or now().date()).isoformat()))
    with transaction() as tx:
        tx.update(arrangement, actions=actions, condition=Arrangement.status == "active", label="active")
        tx.update(
            ArrangementState(pk, STATE_SK),
            actions=state_actions,
            condition=ArrangementState.active_id == arrangement.arrangement_id,
        )
        for bill in arrangement.bills:
            bill_id = str(plain(bill)["bill_id"])
            tx.update(
                Bill(pk, f"BILL#{bill_id}#0"),
                actions=[Bill.arrangement_id.remove()],
                condition=Bill.arrangement_id == arrangement.arrangement_id,
            )


def end_on_closure(customer_id: str) -> bool:
    """A closed account's active arrangement ends (`cancelled`, reason `account_closed`) before
    its partition is erased (privacy/erasure.py): its bills stay payable, and no instalment is
    charged to a card the erasure removes. Whether one was ended; safe to run again."""
    pk = customer_pk(customer_id)
    state = overdue.state_of(customer_id)
    if state is None or not state.active_id:
        return False
    try:
        found = Arrangement.get(pk, f"ARRANGEMENT#{state.active_id}", consistent_read=True)
    except Arrangement.DoesNotExist:
        return False
    if found.status != "active":
        return False
    try:
        _end(found, "cancelled", reason="account_closed")
    except ConditionsFailed:
        return False  # ended meanwhile (completed, broken, cancelled by an admin)
    return True


# --- admin ----------------------------------------------------------------------------------------


class ListArrangementsEvent(Strict):
    status: Literal["active", "completed", "broken", "cancelled"] = "active"
    limit: JsonInt = Field(default=50, ge=1, le=500, description="Entries per page")
    cursor: str | None = Field(default=None, max_length=2048, description="`next_cursor` of the last page")


class CancelArrangementEvent(Strict):
    arrangement_id: str = Field(pattern=f"^{ARRANGEMENT_ID}$")
    reason: str = Field(min_length=3, max_length=200, description="Why, as the case or the call says")


def admin_list(event: ListArrangementsEvent) -> dict[str, Any]:
    partition = f"ARRANGEMENTS#{event.status}"
    start = (
        cursor_codec.decode(event.cursor, fixed={"GSI1PK": partition}, sk_prefix="ARRANGEMENT#")
        if event.cursor
        else None
    )
    result = Arrangement.gsi1.query(
        partition, scan_index_forward=False, limit=event.limit, last_evaluated_key=start
    )
    found = [{"customer_id": a.customer_id, **to_wire(a)} for a in result]
    last = result.last_evaluated_key
    return {"arrangements": found, "next_cursor": cursor_codec.encode(last) if last else None}


def cancel_by(operator: str | None) -> Any:
    """`admin_cancel` with the operator run_admin took out of the event (recorded on the item)."""

    def admin_cancel(event: CancelArrangementEvent) -> dict[str, Any]:
        # Only an active arrangement can be cancelled: it is found in the active list by its id.
        listed = next(
            iter(
                Arrangement.gsi1.query(
                    "ARRANGEMENTS#active", filter_condition=Arrangement.arrangement_id == event.arrangement_id
                )
            ),
            None,
        )
        if listed is None:
            raise NotFound(
                "No active arrangement with this id (admin_list_arrangements lists them).",
                code="arrangement_not_found",
            )
        found = Arrangement.get(listed.PK, listed.SK, consistent_read=True)
        if found.status != "active":
            raise Conflict(f"This arrangement is {found.status}, not active.", code="arrangement_not_active")
        try:
            _end(found, "cancelled", reason=f"cancelled: {event.reason}", operator=operator or "unknown")
        except ConditionsFailed:
            raise Conflict("This arrangement ended meanwhile.", code="arrangement_not_active") from None
        inbox.notify(
            customer_id=found.customer_id,
            kind="billing.arrangement_cancelled",
            data={
                "arrangement_id": found.arrangement_id,
                "amount_minor": sum(max(int(b.balance), 0) for b in _bills_of(found)),
                "currency": found.currency,
            },
            dedup_key=f"arrangement:{found.arrangement_id}:cancelled",
        )
        return {
            "cancelled": {
                "customer_id": found.customer_id,
                **get(customer_id=found.customer_id, arrangement_id=found.arrangement_id),
            }
        }

    return admin_cancel
