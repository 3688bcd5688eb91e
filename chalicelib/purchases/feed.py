"""What the billing system reads to bill the options bought in the app.

A purchase adds a `PendingCharge` for the customer's next bill. The billing system (which issues
bills and sends them back through `admin_import_bills`) lists the charges no bill has taken yet
with `admin_pending_charges`, oldest first, page by page; it puts each on the customer's next bill
as an item with `charge_id`, and the import marks it billed in the bill's own transaction, only if
the item's amount plus tax is the charge's amount (billing/bills.py). So a charge is billed once,
for what the customer confirmed, and one that no bill takes stays in this list: nothing is lost.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.common.strict import JsonInt, Strict
from chalicelib.purchases.models import PendingCharge
from chalicelib.purchases.service import PENDING_FEED
from chalicelib.store import cursor as cursor_codec

__all__ = ["PendingChargesEvent", "pending_charges"]


class PendingChargesEvent(Strict):
    limit: JsonInt = Field(default=100, ge=1, le=1000, description="Charges per page")
    cursor: str | None = Field(default=None, max_length=2048, description="`next_cursor` of the last page")


def pending_charges(event: PendingChargesEvent) -> dict[str, Any]:
    start = (
        cursor_codec.decode(event.cursor, fixed={"GSI1PK": PENDING_FEED}, sk_prefix="CHARGE#")
        if event.cursor
        else None
    )
    result = PendingCharge.gsi1.query(PENDING_FEED, limit=event.limit, last_evaluated_key=start)
    charges = [
        {
            "charge_id": c.purchase_id,
            "customer_id": c.customer_id,
            "customer_number": c.customer_number,
            "line_id": c.line_id,
            "option_id": c.option_id,
            "label": c.label.as_dict(),
            "amount": {"amount": int(c.amount), "currency": c.currency},
            "created_at": c.created_at,
        }
        for c in result
    ]
    last = result.last_evaluated_key
    return {"charges": charges, "next_cursor": cursor_codec.encode(last) if last else None}
