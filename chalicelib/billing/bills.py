"""Bills: imported from the billing system, read by their owner, reminded before they are due.
Money amounts in documents are JSON integers of minor units (a string or a decimal is refused)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pynamodb.expressions.condition import Condition

from chalicelib.billing import jobs
from chalicelib.billing.money import NonNegativeMinorUnits, SignedMinorUnits
from chalicelib.billing.money import format_money as _format_money
from chalicelib.common.clock import iso, now
from chalicelib.common.strict import Strict, describe_validation_error
from chalicelib.customers.formats import CUSTOMER_NUMBER
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.notifications import inbox
from chalicelib.purchases.models import PendingCharge
from chalicelib.store import cursor as cursor_codec
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import Bill, CustomerNumber, Item, Notice, Payment, customer_pk, number_pk, plain

BILL_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,40}$"
PAGE_DEFAULT, PAGE_MAX = 20, 50
REMIND_DAYS_BEFORE = 3
MAX_CHARGES_PER_BILL = 90  # DynamoDB's 100 actions per transaction, with room for the bill's own


class BillItem(Strict):
    label: str = Field(min_length=1, max_length=120)
    amount: SignedMinorUnits = Field(description="Minor units, before tax (negative for a credit)")
    tax: NonNegativeMinorUnits
    charge_id: str | None = Field(
        default=None,
        pattern=r"^pur_[0-9a-f]{24}$",
        description="A charge of admin_pending_charges that this item bills (amount + tax = the charge)",
    )


class Period(Strict):
    start: date
    end: date


class BillDocument(Strict):
    bill_id: str = Field(pattern=BILL_ID)
    customer_number: str = Field(pattern=CUSTOMER_NUMBER)
    line_ids: list[str] = Field(default_factory=list, max_length=20)
    period: Period
    issued_at: datetime
    due_date: date
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    items: list[BillItem] = Field(min_length=1, max_length=200)
    total: NonNegativeMinorUnits = Field(
        description="Minor units, taxes included: must equal the items' amounts plus taxes"
    )
    status: Literal["open", "paid"] = "open"

    @model_validator(mode="after")
    def _consistent(self) -> BillDocument:
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at needs a time zone")
        if sum(i.amount + i.tax for i in self.items) != self.total:
            raise ValueError("total is not the sum of the items' amounts and taxes")
        if self.period.end < self.period.start:
            raise ValueError("period ends before it starts")
        return self


class ImportBillsEvent(Strict):
    bills: list[dict[str, Any]] = Field(min_length=1, max_length=500)


def _bill_key(customer_id: str, bill_id: str) -> tuple[str, str]:
    return customer_pk(customer_id), f"BILL#{bill_id}#0"


def import_bills(event: ImportBillsEvent) -> dict[str, Any]:
    """Each document on its own: a bad one is rejected with its reason, the others import; a bill
    imported again unchanged changes nothing (bills are immutable: a correction is a new bill)."""
    imported: list[str] = []
    unchanged: list[str] = []
    rejected: list[dict[str, str]] = []
    for raw in event.bills:
        bill_id = str(raw.get("bill_id", "?")) if isinstance(raw, dict) else "?"
        try:
            document = BillDocument.model_validate(raw)
            outcome = _import_one(document)
        except ValidationError as error:
            rejected.append({"bill_id": bill_id, "reason": describe_validation_error(error)})
            continue
        except (ValidationFailed, NotFound) as error:
            rejected.append({"bill_id": bill_id, "reason": error.message})
            continue
        (imported if outcome == "imported" else unchanged).append(bill_id)
    return {"imported": imported, "unchanged": unchanged, "rejected": rejected}


def _import_one(document: BillDocument) -> str:
    try:
        customer_id = CustomerNumber.get(number_pk(document.customer_number), "CUSTNUM").customer_id
    except CustomerNumber.DoesNotExist:
        raise NotFound(f"No customer with number {document.customer_number}.") from None
    content = hashlib.sha256(document.model_dump_json().encode()).hexdigest()
    pk, sk = _bill_key(customer_id, document.bill_id)
    balance = 0 if document.status == "paid" else document.total
    bill = Bill(
        pk,
        sk,
        GSI1PK=f"BILLS#{customer_id}",
        GSI1SK=f"{iso(document.issued_at)}#{document.bill_id}",
        bill_id=document.bill_id,
        customer_id=customer_id,
        line_ids=document.line_ids,
        period_start=document.period.start.isoformat(),
        period_end=document.period.end.isoformat(),
        issued_at=iso(document.issued_at),
        due_date=document.due_date.isoformat(),
        currency=document.currency,
        items=[i.model_dump() for i in document.items],
        total_amount=document.total,
        total_tax=sum(i.tax for i in document.items),
        balance=balance,
        available=balance,
        status="paid" if balance == 0 else "open",
        content_hash=content,
    )
    charged = [i for i in document.items if i.charge_id]
    if len({i.charge_id for i in charged}) != len(charged):
        raise ValidationFailed("A charge is billed once: the same charge_id is on two items.")
    if len(charged) > MAX_CHARGES_PER_BILL:  # one transaction: the bill, its notice and its charges
        raise ValidationFailed(f"At most {MAX_CHARGES_PER_BILL} app charges per bill.")
    try:
        with transaction() as tx:
            tx.save(bill, condition=Bill.PK.does_not_exist(), label="new")
            for item in charged:
                # Billed once, for what the customer confirmed: pending, this customer's, this amount.
                tx.update(
                    PendingCharge(pk, f"CHARGE#{item.charge_id}"),
                    actions=[
                        PendingCharge.status.set("billed"),
                        PendingCharge.bill_id.set(document.bill_id),
                        PendingCharge.GSI1PK.remove(),
                        PendingCharge.GSI1SK.remove(),
                    ],
                    condition=(PendingCharge.status == "pending")
                    & (PendingCharge.amount == item.amount + item.tax)
                    & (PendingCharge.currency == document.currency),
                    label=f"charge:{item.charge_id}",
                )
            if balance:
                tx.save(
                    Notice(
                        pk,
                        f"NOTICE#BILLDUE#{document.bill_id}",
                        GSI1PK=f"DUE#{bill.due_date}",
                        GSI1SK=f"{customer_id}#{document.bill_id}",
                        notice_kind="bill_due",
                        customer_id=customer_id,
                        bill_id=document.bill_id,
                        due_date=bill.due_date,
                        amount=balance,
                        currency=document.currency,
                    )
                )
    except ConditionsFailed as failed:
        if "new" not in failed.labels:
            wrong = sorted(label.split(":", 1)[1] for label in failed.labels if label.startswith("charge:"))
            raise ValidationFailed(
                f"Charges {wrong} are not pending for this customer at this amount (amount + tax) and "
                "currency: the bill is not imported."
            ) from None
        existing = Bill.get(pk, sk, consistent_read=True)
        if existing.content_hash == content:
            return "unchanged"
        raise ValidationFailed(
            "This bill was already imported with different content; bills are immutable."
        ) from None
    if balance:
        inbox.notify(
            customer_id=customer_id,
            kind="billing.bill_issued",
            data={
                "bill_id": document.bill_id,
                "amount_minor": balance,
                "currency": document.currency,
                "due_date": bill.due_date,
            },
            dedup_key=f"bill:{document.bill_id}:issued",
        )
    return "imported"


def format_money(amount: int, currency: str, *, language: str | None = None) -> str:
    """Minor units as money: `42.00 EUR` (alert data), or in a language (`42,00 €`, `€42.00`)."""
    return _format_money(amount, currency, language=language)


def wire_status(bill: Bill, today: date | None = None) -> str:
    """open | overdue | paid. Overdue is derived (open, and past its due date) rather than stored:
    settlement writes `open` or `paid` on each payment, and a stored flag could lag behind it."""
    if bill.status == "open" and bill.due_date < (today or now().date()).isoformat():
        return "overdue"
    return bill.status


def bill_to_wire(bill: Bill, payments: list[Payment] | None = None) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "bill_id": bill.bill_id,
        "period": {"start": bill.period_start, "end": bill.period_end},
        "issued_at": bill.issued_at,
        "due_date": bill.due_date,
        "status": wire_status(bill),
        "total": {"amount": int(bill.total_amount), "currency": bill.currency},
        "tax": {"amount": int(bill.total_tax), "currency": bill.currency},
        "balance": {"amount": int(bill.balance), "currency": bill.currency},
        "line_ids": list(bill.line_ids or []),
    }
    if payments is not None:
        wire["items"] = [
            {
                "label": i["label"],
                "amount": {"amount": int(i["amount"]), "currency": bill.currency},
                "tax": {"amount": int(i["tax"]), "currency": bill.currency},
            }
            for i in (plain(x) for x in bill.items)
        ]
        wire["payments"] = [payment_to_wire(p) for p in sorted(payments, key=lambda p: p.created_at)]
    return wire


def payment_to_wire(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id,
        "bill_id": payment.bill_id,
        "amount": {"amount": int(payment.amount), "currency": payment.currency},
        "payment_method_id": payment.method_id,
        "status": payment.status,
        "failure": {"code": payment.failure_code, "message": payment.failure_message}
        if payment.status == "failed"
        else None,
        "initiated_by": payment.initiated_by,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }


def get_bill(*, customer_id: str, bill_id: str) -> tuple[Bill, list[Payment]]:
    items = list(
        Item.query(customer_pk(customer_id), Item.SK.startswith(f"BILL#{bill_id}#"), consistent_read=True)
    )
    bill = next((i for i in items if isinstance(i, Bill)), None)
    if bill is None:
        raise NotFound("No such bill.", code="bill_not_found")
    return bill, [i for i in items if isinstance(i, Payment)]


def list_bills(
    *, customer_id: str, status: str | None, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    size = min(max(1, limit or PAGE_DEFAULT), PAGE_MAX)
    start = (
        cursor_codec.decode(
            cursor,
            fixed={"PK": customer_pk(customer_id), "GSI1PK": f"BILLS#{customer_id}"},
            sk_prefix="BILL#",
        )
        if cursor
        else None
    )
    result = Bill.gsi1.query(
        f"BILLS#{customer_id}",
        scan_index_forward=False,
        limit=size,
        last_evaluated_key=start,
        filter_condition=_status_filter(status),
    )
    bills = [bill_to_wire(b) for b in result]
    last = result.last_evaluated_key
    return {"bills": bills, "next_cursor": cursor_codec.encode(last) if last else None}


def _status_filter(status: str | None) -> Condition | None:
    """The wire status as a filter: `overdue` and `open` are both stored `open`, told apart by the
    due date (ISO dates compare as text)."""
    today = now().date().isoformat()
    stored: Condition = Bill.status == ("paid" if status == "paid" else "open")
    if status in ("overdue", "open"):
        combined: Condition = stored & (
            Bill.due_date < today if status == "overdue" else Bill.due_date >= today
        )
        return combined
    return stored if status else None


def remind_due(*, today: date | None = None) -> int:
    """Bills due in 3 days and unpaid: one reminder each (dedup per bill). Each on its own: one
    that fails is logged and counted, the others are reminded."""
    day = (today or now().date()) + timedelta(days=REMIND_DAYS_BEFORE)

    def remind(raw: jobs.Raw) -> str:
        notice = Notice.from_raw_data(raw)
        inbox.notify(
            customer_id=notice.customer_id,
            kind="billing.bill_due",
            data={
                "bill_id": notice.bill_id,
                "amount_minor": int(notice.amount or 0),
                "currency": notice.currency or "EUR",
                "due_date": notice.due_date,
            },
            dedup_key=f"bill:{notice.bill_id}:due-reminder",
        )
        return "sent"

    outcomes = jobs.each(
        "remind_due_bills",
        jobs.index_items(f"DUE#{day.isoformat()}"),
        remind,
        key=lambda raw: jobs.text(raw, "SK"),
        into={},
    )
    return sum(1 for outcome in outcomes.values() if outcome == "sent")
