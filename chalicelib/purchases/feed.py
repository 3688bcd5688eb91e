"""What the billing system reads to bill the options bought in the app.

A purchase adds a `PendingCharge` for the customer's next bill. The billing system (which issues
bills and sends them back through `admin_import_bills`) lists the entries no bill or
acknowledgement has taken yet with `admin_pending_charges`, oldest first, page by page:

- `kind: charge`: it puts each on the customer's next bill as an item with `charge_id`, and the
  import marks it billed in the bill's own transaction, only if the item's amount plus tax is the
  charge's amount (billing/bills.py). A recurring option's charge is its first month and says
  `monthly_from`: from that day the billing system bills it every month while the line has it.
- `kind: subscription_end`: a recurring option removed in the app; the billing system stops billing
  it from `ends_at` and acknowledges the entry (`acknowledge` in the next call). It is never billed.

So a charge is billed once, for what the customer confirmed, and what no bill or acknowledgement
took stays in this list: nothing is lost.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pynamodb.exceptions import UpdateError

from chalicelib.common.strict import JsonInt, Strict
from chalicelib.purchases.models import PendingCharge
from chalicelib.purchases.service import PENDING_FEED
from chalicelib.store import cursor as cursor_codec
from chalicelib.store.db import retry_conflicts
from chalicelib.store.models import customer_pk

__all__ = ["Acknowledgement", "PendingChargesEvent", "pending_charges"]


class Acknowledgement(Strict):
    """A subscription_end entry as the feed gave it: its customer and its id."""

    customer_id: str = Field(pattern=r"^cus_[0-9a-f]{24}$")
    charge_id: str = Field(pattern=r"^sub_[0-9a-f]{20}$")


class PendingChargesEvent(Strict):
    limit: JsonInt = Field(default=100, ge=1, le=1000, description="Entries per page")
    cursor: str | None = Field(default=None, max_length=2048, description="`next_cursor` of the last page")
    acknowledge: list[Acknowledgement] = Field(
        default_factory=list,
        max_length=100,
        description="subscription_end entries the billing system applied",
    )


def pending_charges(event: PendingChargesEvent) -> dict[str, Any]:
    acknowledged = [a.charge_id for a in event.acknowledge if _acknowledge(a.customer_id, a.charge_id)]
    start = (
        cursor_codec.decode(event.cursor, fixed={"GSI1PK": PENDING_FEED}, sk_prefix="CHARGE#")
        if event.cursor
        else None
    )
    result = PendingCharge.gsi1.query(PENDING_FEED, limit=event.limit, last_evaluated_key=start)
    charges = [
        {
            "charge_id": c.purchase_id,
            "kind": c.kind or "charge",
            "term": c.term or "one_off",
            "monthly_from": c.monthly_from,
            "ends_at": c.ends_at,
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
    return {
        "charges": charges,
        "next_cursor": cursor_codec.encode(last) if last else None,
        "acknowledged": acknowledged,
    }


def _acknowledge(customer_id: str, change_id: str) -> bool:
    """Take a subscription_end out of the feed, once; False when it is not a pending one (unknown,
    already acknowledged, another customer's id, or a charge, which only a bill takes)."""
    try:
        retry_conflicts(
            lambda: PendingCharge(customer_pk(customer_id), f"CHARGE#{change_id}").update(
                actions=[
                    PendingCharge.status.set("acknowledged"),
                    PendingCharge.GSI1PK.remove(),
                    PendingCharge.GSI1SK.remove(),
                ],
                condition=(PendingCharge.status == "pending") & (PendingCharge.kind == "subscription_end"),
            ),
            what="billing_feed",
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return True
