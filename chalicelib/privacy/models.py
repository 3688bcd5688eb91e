"""The items of data exports, in the customer's partition (chalicelib.store.models.Item):

    CUSTOMER#<id>  USERDATA#EXPORT#<export id>   one export: preparing → ready, its S3 key
                   USERDATA#EXPORT              the latest export: which one, when it was asked
                   USERDATA#CLOSURE             the account's closure (AccountClosure, below)

(`USERDATA#` sorts after `PROFILE` and `REQUEST#`: outside `GET /me`'s and the agents' ranges.)

The pointer makes a second request answer the same export while it is being prepared and spaces
requests (one per EXPORT_SPACING): its update is the condition of the transaction that writes a new
export, so two requests at once never make two. The export item's INSERT, on the table's stream,
produces the file (chalicelib/notifications/stream.py → export.produce).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)

from chalicelib.store.models import GSI1, Item

POINTER_SK = "USERDATA#EXPORT"


def export_sk(export_id: str) -> str:
    return f"USERDATA#EXPORT#{export_id}"


class DataExport(Item, discriminator="data_export"):
    """PK=CUSTOMER#<id> SK=USERDATA#EXPORT#<export id>. Gone by TTL 30 days after it was asked (its file is
    gone from S3 after 7: infra/resources.json ExportsBucket)."""

    export_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    status = UnicodeAttribute()  # preparing | ready
    requested_at = UnicodeAttribute()
    ready_at = UnicodeAttribute(null=True)
    object_key = UnicodeAttribute(null=True)  # exports/<customer id>/<export id>.json, once ready
    file_expires_at = UnicodeAttribute(null=True)  # when the bucket's lifecycle removes the file


class ExportPointer(Item, discriminator="export_pointer"):
    """PK=CUSTOMER#<id> SK=USERDATA#EXPORT: the latest export."""

    export_id = UnicodeAttribute()
    requested_at = UnicodeAttribute()  # UTC ISO 8601: compared as a string in the condition


# --- account closure (chalicelib/privacy/closure.py, erasure.py) ----------------------------------

CLOSURE_SK = "USERDATA#CLOSURE"
CLOSURE_STATUSES = ("scheduled", "erasing", "closed", "cancelled")


def closures_partition(status: str) -> str:
    """GSI1PK of closures in one status: the erasure job's to-do list (`scheduled` by effective date,
    `erasing` to resume) and `admin_list_closures`."""
    return f"CLOSURES#{status}"


class AccountClosure(Item, discriminator="account_closure"):
    """PK=CUSTOMER#<id> SK=USERDATA#CLOSURE: the customer's one closure (a cancelled one is replaced by
    a new request). GSI1 = CLOSURES#<status> / <effective_at>#<customer id>.
    scheduled → erasing → closed, or scheduled → cancelled; every move a conditional write. Kept,
    pseudonymous, with the bills (`expires_at` = `erase_after`): it says what was erased and when."""

    gsi1: GSI1[AccountClosure] = GSI1()
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    closure_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    status = UnicodeAttribute()
    requested_at = UnicodeAttribute()
    effective_at = UnicodeAttribute()  # UTC ISO 8601: compared as a string by the job's query
    # What the confirmation showed, per line: {line_id, ends: at_once | end_of_commitment, ends_at}.
    lines: ListAttribute[dict[str, Any]] = ListAttribute(of=MapAttribute, null=True)  # type: ignore[arg-type]
    autopay_turned_off = BooleanAttribute(default=False)
    withdrawn_bids: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    cancelled_at = UnicodeAttribute(null=True)
    erasing_started_at = UnicodeAttribute(null=True)
    closed_at = UnicodeAttribute(null=True)
    # Items erased so far, by kind; `progress` is bumped by each batch's transaction (optimistic lock:
    # two runs never count one item twice).
    counts: MapAttribute[str, Any] = MapAttribute(null=True)
    progress = NumberAttribute(default=0)
    erase_after = UnicodeAttribute(null=True)  # when the kept bills and payments go (10 years)
