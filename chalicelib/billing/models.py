"""Payment arrangements' items in the single table (over store/models.Item; keys in infra/README.md).

`Arrangement` sorts before `BILL#`, outside the range `GET /me` reads; `ArrangementState` is one
item per customer at `NOTICE#ARRANGEMENT`, inside it, so that `GET /me` can tell whether an
arrangement is offered (no active one, none broken lately) from the Query it makes anyway."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.store.models import GSI1, Item

STATE_SK = "NOTICE#ARRANGEMENT"


class Arrangement(Item, discriminator="arrangement"):
    """PK=CUSTOMER#<id> SK=ARRANGEMENT#<arrangement id> (ids sort by creation: newest first is one
    Query). GSI1 = ARRANGEMENTS#<status> / <created_at>#<arrangement id>: the admins' list by
    status, and (`active`) the daily instalment job's to-do list.
    status: active → completed | broken | cancelled, each move a conditional write."""

    gsi1: GSI1[Arrangement] = GSI1()
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    arrangement_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    status = UnicodeAttribute()
    balance = NumberAttribute()  # the overdue balance it covers, minor units
    currency = UnicodeAttribute()
    # [{bill_id, amount}], oldest due first: what each bill owed when the arrangement was made.
    bills: ListAttribute[dict[str, Any]] = ListAttribute(of=MapAttribute)  # type: ignore[arg-type]
    # [{number, due_date, amount, status: pending | paid | missed, paid_at}]
    instalments: ListAttribute[dict[str, Any]] = ListAttribute(of=MapAttribute)  # type: ignore[arg-type]
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    ended_at = UnicodeAttribute(null=True)
    end_reason = UnicodeAttribute(null=True)  # completed | missed_instalment | cancelled: <reason>
    cancelled_by = UnicodeAttribute(null=True)  # the operator, when an admin cancelled it


class ArrangementState(Item, discriminator="arrangement_state"):
    """PK=CUSTOMER#<id> SK=NOTICE#ARRANGEMENT: the one-active-arrangement key (`active_id`, set by a
    conditional write: two confirmations never make two arrangements), the bills it holds, and the
    day the last one broke (no new one for ARRANGEMENT_COOL_OFF_DAYS)."""

    active_id = UnicodeAttribute(null=True)
    bill_ids: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    broken_on = UnicodeAttribute(null=True)  # ISO date
