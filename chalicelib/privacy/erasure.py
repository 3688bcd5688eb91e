"""The erasure job (`erase_closed_accounts`, daily) and the admins' view of closures.

For each closure past its effective date (GSI1 CLOSURES#scheduled, by effective date) and each one
a run left half-way (CLOSURES#erasing), in this order, every step idempotent:

1. `scheduled` → `erasing` (conditional: a cancellation at the same moment wins or loses whole).
2. Sessions ended (chalicelib/auth/sessions.py revoke_all, which unregisters their devices), bids
   still on open offers withdrawn, passkeys deleted (they live under CREDENTIAL#: GSI1 finds them),
   segment memberships and the pending activation code deleted.
3. The customer's partition, in batches of BATCH: every item but what is KEPT is deleted; before an
   item goes, what lives elsewhere because of it goes too (a line's owner item, a device's
   installation, a case document's and an export's S3 objects). Each batch is ONE transaction with
   the closure's counts: the deletes are conditioned on the items still being there and the counts
   on `progress` being what was read, so a run that dies between two batches resumes from what is
   left, and two runs never count an item twice.
4. The profile pseudonymised (name, email, phone, postal address, segments and consent removed; the
   customer number kept: the bills are filed under it), the kept items given `expires_at` (TTL) at
   their date + 10 years, and the closure `closed` with its counts and `erase_after`.

Kept (KEPT): bills, payments, charges still to be billed, payment arrangements and upgrade receipts,
accounting documents the Code de commerce (L123-22) keeps 10 years; the closure itself; the
pseudonymised profile. Lines are deleted (number included): the network's side (porting, the SIM)
is the provider's systems', outside this service. Payment methods are deleted here; the payment
gateway port (chalicelib/billing/gateway.py) has no detach operation, so the provider's copy of the
card stays attached to the provider's customer until billing adds one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from chalicelib.common.clock import epoch, iso, now
from chalicelib.common.strict import JsonInt, Strict
from chalicelib.errors import Conflict
from chalicelib.observability.log import log_event
from chalicelib.privacy import closure as closing
from chalicelib.privacy.models import CLOSURE_SK, CLOSURE_STATUSES, AccountClosure, closures_partition
from chalicelib.store import cursor as cursor_codec
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.kinds import register_item_kinds
from chalicelib.store.models import (
    Customer,
    Item,
    Passkey,
    SegmentMember,
    customer_pk,
    number_pk,
)

__all__ = ["BATCH", "KEPT", "ListClosuresEvent", "admin_list", "erase", "run"]

BATCH = 25  # deletes per transaction (+ the closure's counts): far under DynamoDB's 100
KEPT = frozenset(
    {"customer", "bill", "payment", "pending_charge", "arrangement", "upgrade_receipt", "account_closure"}
)
RUN_LIMIT = 100  # closures per run; the next day's run takes the rest (and resumes the unfinished)


def _retention_end(stamp: str | None, fallback: datetime) -> datetime:
    """`stamp` (ISO date or time) + 10 years; `fallback` + 10 years when it is absent or unreadable."""
    start = fallback
    if stamp:
        try:
            start = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            start = fallback
        if start.tzinfo is None:
            start = start.replace(tzinfo=fallback.tzinfo)
    try:
        return start.replace(year=start.year + closing.RETENTION_YEARS)
    except ValueError:  # 29 February
        return (start + timedelta(days=1)).replace(year=start.year + closing.RETENTION_YEARS)


def _due(moment: datetime) -> Iterator[AccountClosure]:
    """Unfinished runs first, then closures whose date has come."""
    yield from AccountClosure.gsi1.query(closures_partition("erasing"), limit=RUN_LIMIT)
    yield from AccountClosure.gsi1.query(
        closures_partition("scheduled"),
        AccountClosure.GSI1SK <= f"{iso(moment)}#~",  # noqa: SIM300 - a pynamodb condition
        limit=RUN_LIMIT,
    )


def run() -> dict[str, int]:
    """The daily job: {closed, failed}. A closure that fails is logged and left `erasing` (or
    `scheduled`): the next run resumes it."""
    moment = now()
    done = failed = 0
    for found in _due(moment):
        try:
            if erase(found.customer_id, moment=moment):
                done += 1
        except Exception as error:  # noqa: BLE001 - one account's failure must not stop the others
            failed += 1
            log_event("account_erasure_failed", customer_id=found.customer_id, error=type(error).__name__)
    return {"closed": done, "failed": failed}


def _read(customer_id: str) -> AccountClosure | None:
    try:
        return AccountClosure.get(customer_pk(customer_id), CLOSURE_SK, consistent_read=True)
    except AccountClosure.DoesNotExist:
        return None


def _start(closure: AccountClosure, moment: datetime) -> AccountClosure | None:
    """`scheduled` → `erasing`, once; None when it was cancelled meanwhile."""
    if closure.status == "erasing":
        return closure
    stamp = iso(moment)
    try:
        closure.update(
            actions=[
                AccountClosure.status.set("erasing"),
                AccountClosure.erasing_started_at.set(stamp),
                AccountClosure.GSI1PK.set(closures_partition("erasing")),
                AccountClosure.counts.set({}),
                AccountClosure.progress.set(0),
            ],
            condition=(AccountClosure.status == "scheduled") & (AccountClosure.effective_at <= stamp),
        )
    except Exception as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            again = _read(closure.customer_id)
            return again if again is not None and again.status == "erasing" else None
        raise
    log_event("account_erasure_started", customer_id=closure.customer_id)
    return closure


def erase(customer_id: str, *, moment: datetime | None = None) -> bool:
    """Erase one closed account (resumable); whether this call finished it."""
    moment = moment or now()
    closure = _read(customer_id)
    if closure is None or closure.status not in ("scheduled", "erasing"):
        return False
    if closure.status == "scheduled" and closure.effective_at > iso(moment):
        return False
    started = _start(closure, moment)
    if started is None:
        return False
    _outside(customer_id)
    closure = _partition(customer_id, started)
    _finish(customer_id, closure, moment)
    return True


# --- step 2: what lives outside the customer's partition -------------------------------------------------


def _outside(customer_id: str) -> None:
    from chalicelib.auth import sessions

    sessions.revoke_all(customer_id=customer_id, reason="account_closed")
    # An arrangement still active would be left holding its bills with its state item erased: it
    # ends first (billing/arrangements.py), its bills stay payable.
    from chalicelib.billing import arrangements

    arrangements.end_on_closure(customer_id)
    closing.withdraw_bids(customer_id)  # any placed since the closure
    for passkey in Passkey.gsi1.query(customer_pk(customer_id), Passkey.GSI1SK.startswith("PASSKEY#")):
        passkey.delete()
    try:
        profile = Customer.get(customer_pk(customer_id), "PROFILE", consistent_read=True)
    except Customer.DoesNotExist:
        return
    for segment in {"all", *(profile.segments or set())}:
        SegmentMember(f"SEGMENT#{segment}", customer_pk(customer_id)).delete()
    Item(number_pk(profile.customer_number), "ACTIVATION").delete()


def _before_delete(customer_id: str, item: Item) -> None:
    """What lives elsewhere because of `item`, deleted first (idempotent: a resumed run does it again)."""
    kind = str(Item.type.get_discriminator(type(item)))
    if kind == "line":
        Item(f"LINE#{item.attribute_values['line_id']}", "OWNER").delete()
    elif kind == "device":
        from chalicelib.notifications import devices
        from chalicelib.store.models import Installation

        # The push fan-out reads the device list, not the Device items: out of it first.
        devices.forget_listed(
            customer_id=customer_id, installation_id=item.attribute_values["installation_id"]
        )

        installation = f"INSTALLATION#{item.attribute_values['installation_id']}"
        try:
            Installation(installation, "INSTALLATION").delete(
                condition=Installation.customer_id == customer_id
            )
        except Exception as error:  # another customer's phone now: leave it
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
    elif kind == "case_upload" and item.attribute_values.get("object_key"):
        from chalicelib.cases import documents
        from chalicelib.config import get_settings

        documents.s3().delete_object(
            Bucket=get_settings().case_documents_bucket, Key=item.attribute_values["object_key"]
        )
    elif kind == "data_export":
        from chalicelib.config import get_settings
        from chalicelib.privacy import export

        export.s3().delete_object(
            Bucket=get_settings().exports_bucket,
            Key=export.object_key(customer_id, item.attribute_values["export_id"]),
        )


# --- step 3: the partition, in batches ----------------------------------------------------------------------


def _to_erase(customer_id: str) -> list[Item]:
    register_item_kinds()
    return [
        i
        for i in Item.query(customer_pk(customer_id), consistent_read=True)
        if str(Item.type.get_discriminator(type(i))) not in KEPT
    ]


def _commit(closure: AccountClosure, batch: list[Item]) -> None:
    """One batch's deletes and its counts, in one transaction."""
    counts = Counter(dict(closure.counts.as_dict() if closure.counts else {}))
    counts.update(str(Item.type.get_discriminator(type(i))) for i in batch)
    seen = int(closure.progress or 0)
    with transaction() as tx:
        for item in batch:
            tx.delete(item, condition=Item.PK.exists(), label="item")
        tx.update(
            closure,
            actions=[AccountClosure.counts.set(dict(counts)), AccountClosure.progress.set(seen + 1)],
            condition=(AccountClosure.status == "erasing") & (AccountClosure.progress == seen),
            label="closure",
        )
    closure.counts, closure.progress = dict(counts), seen + 1


def _partition(customer_id: str, closure: AccountClosure) -> AccountClosure:
    for _ in range(3):  # another run or a concurrent write moved something: read again
        try:
            left = _to_erase(customer_id)
            while left:
                batch, left = left[:BATCH], left[BATCH:]
                for item in batch:
                    _before_delete(customer_id, item)
                _commit(closure, batch)
            return closure
        except ConditionsFailed:
            again = _read(customer_id)
            if again is None or again.status != "erasing":
                raise Conflict("The closure moved meanwhile.", code="closure_changed_meanwhile") from None
            closure = again
    raise Conflict("The account kept changing while it was erased.", code="closure_changed_meanwhile")


# --- step 4: pseudonymise, keep for 10 years, close ------------------------------------------------------


def _finish(customer_id: str, closure: AccountClosure, moment: datetime) -> None:
    latest = _retention_end(None, moment)
    for item in Item.query(customer_pk(customer_id), consistent_read=True):
        kind = str(Item.type.get_discriminator(type(item)))
        if kind in ("customer", "account_closure"):
            continue
        values = item.attribute_values
        stamp = values.get("issued_at") or values.get("created_at")
        ends = _retention_end(stamp, moment)
        latest = max(latest, ends)
        item.update(actions=[Item.expires_at.set(epoch(ends))])
    erase_after = iso(latest)
    try:
        Customer(customer_pk(customer_id), "PROFILE").update(
            actions=[
                Customer.name.remove(),
                Customer.email.remove(),
                Customer.phone.remove(),
                Customer.postal_address.remove(),
                Customer.segments.remove(),
                Customer.marketing_consent.remove(),
                Customer.marketing_consent_at.remove(),
                Customer.expires_at.set(epoch(latest)),
            ],
            condition=Customer.PK.exists(),
        )
    except Exception as error:
        if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
    closed_at = iso(moment)
    try:
        closure.update(
            actions=[
                AccountClosure.status.set("closed"),
                AccountClosure.closed_at.set(closed_at),
                AccountClosure.erase_after.set(erase_after),
                AccountClosure.GSI1PK.set(closures_partition("closed")),
                AccountClosure.expires_at.set(epoch(latest)),
            ],
            condition=AccountClosure.status == "erasing",
        )
    except Exception as error:
        if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
        return  # another run closed it
    log_event(
        "account_closed",
        customer_id=customer_id,
        counts=dict(closure.counts.as_dict() if closure.counts else {}),
    )


# --- admins: watching closures -----------------------------------------------------------------------------


class ListClosuresEvent(Strict):
    status: Literal["scheduled", "erasing", "closed", "cancelled"] = "scheduled"
    limit: JsonInt = Field(default=50, ge=1, le=500, description="Entries per page")
    cursor: str | None = Field(default=None, max_length=2048, description="`next_cursor` of the last page")


def admin_list(event: ListClosuresEvent) -> dict[str, Any]:
    """Closures in one status, by effective date, newest first, with their counts."""
    assert event.status in CLOSURE_STATUSES  # noqa: S101 - the model's Literal already says so
    partition = closures_partition(event.status)
    start = (
        cursor_codec.decode(event.cursor, fixed={"GSI1PK": partition}, sk_prefix=CLOSURE_SK)
        if event.cursor
        else None
    )
    result = AccountClosure.gsi1.query(
        partition, scan_index_forward=False, limit=event.limit, last_evaluated_key=start
    )
    found = [
        {
            "customer_id": c.customer_id,
            **closing.to_wire(c),
            "counts": {k: int(v) for k, v in (c.counts.as_dict() if c.counts else {}).items()},
        }
        for c in result
    ]
    last = result.last_evaluated_key
    return {"closures": found, "next_cursor": cursor_codec.encode(last) if last else None}
