"""A customer's lines: set by admins (`admin_set_line`), read by the customer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.account import catalog
from chalicelib.common.clock import iso, now
from chalicelib.common.strict import JsonInt, Strict
from chalicelib.customers.formats import CUSTOMER_NUMBER, E164
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import CustomerNumber, Line, LineOwner, customer_pk, number_pk, plain

LINE_ID = r"^ln_[a-z0-9]{4,32}$"


class SetLineEvent(Strict):
    customer_number: str = Field(pattern=CUSTOMER_NUMBER)
    line_id: str = Field(pattern=LINE_ID)
    msisdn: str = Field(pattern=E164)
    plan_id: str = Field(pattern=catalog.ENTRY_ID)
    option_ids: list[str] = Field(default_factory=list, max_length=20)
    anchor_day: JsonInt = Field(ge=1, le=28)
    status: Literal["active", "suspended"] = "active"


def line_key(customer_id: str, line_id: str) -> tuple[str, str]:
    return customer_pk(customer_id), f"LINE#{line_id}#META"


def set_line(event: SetLineEvent) -> dict[str, Any]:
    """Create or update a line with the catalogue's current terms; a line id is one customer's only."""
    try:
        customer_id = CustomerNumber.get(number_pk(event.customer_number), "CUSTNUM").customer_id
    except CustomerNumber.DoesNotExist:
        raise NotFound(
            f"No customer with number {event.customer_number}.", code="customer_not_found"
        ) from None
    plan = catalog.get("plan", event.plan_id)
    options = [catalog.get("option", o) for o in event.option_ids]
    allowed = set(plan.compatible_options or [])
    wrong = [o.entry_id for o in options if o.entry_id not in allowed]
    if wrong:
        raise ValidationFailed(
            f"Options {wrong} cannot be added to plan {plan.entry_id}.", code="option_not_compatible"
        )
    moment = iso(now())
    try:
        existing = Line.get(*line_key(customer_id, event.line_id))
        created = existing.created_at
    except Line.DoesNotExist:
        created = moment
    line = Line(
        *line_key(customer_id, event.line_id),
        line_id=event.line_id,
        customer_id=customer_id,
        msisdn=event.msisdn,
        plan=catalog.snapshot(plan),
        options=[catalog.snapshot(o) for o in options],
        anchor_day=event.anchor_day,
        status=event.status,
        created_at=created,
        updated_at=moment,
    )
    try:
        with transaction() as tx:
            tx.save(
                LineOwner(
                    f"LINE#{event.line_id}", "OWNER", customer_id=customer_id, anchor_day=event.anchor_day
                ),
                condition=LineOwner.PK.does_not_exist() | (LineOwner.customer_id == customer_id),
                label="owner",
            )
            tx.save(line)
    except ConditionsFailed:
        raise Conflict(f"Line {event.line_id} belongs to another customer.", code="line_taken") from None
    return {"customer_id": customer_id, **line_to_wire(line)}


def line_to_wire(line: Line, language: str = "fr") -> dict[str, Any]:
    plan = line.plan.as_dict()
    options = [plain(o) for o in (line.options or [])]
    return {
        "line_id": line.line_id,
        "msisdn": line.msisdn,
        "status": line.status,
        "anchor_day": int(line.anchor_day),
        "plan": _entry_wire(plan, language),
        "options": [_entry_wire(o, language) for o in options],
    }


def _entry_wire(entry: dict[str, Any], language: str) -> dict[str, Any]:
    names = entry.get("name") or {}
    return {
        "id": entry["id"],
        "name": names.get(language) or names.get("fr") or entry["id"],
        "allowances": entry.get("allowances") or {},
        "price": {"amount": int(entry["price_amount"]), "currency": entry["currency"]},
    }
