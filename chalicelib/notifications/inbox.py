"""The inbox, source of truth of every alert, and `notify()`, the one way producers raise one.

`notify` writes, in one transaction: the dedup marker (conditional: the same dedup key never makes
two items, however often a producer retries or a stream redelivers), the inbox item, and +1 on the
unread counter. The item's insertion then drives the push through the table's stream.

The unread counter is the customer's hottest item (every alert and every read moves it): each of
its moves is a transaction with the condition that makes it count once (the dedup marker, the
item's `read_at`, the expired item's marker), and store/db.py retries the write conflicts of
concurrent writers.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.common.clock import epoch, iso, now
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.notifications.catalog import as_strings, kind_of, situation_of
from chalicelib.store import cursor as cursor_codec
from chalicelib.store.db import ConditionsFailed, Transaction, transaction
from chalicelib.store.models import AlertDedup, Customer, InboxCounter, InboxItem, customer_pk

RETENTION = timedelta(days=90)
# The marker of an expired item already taken off the badge outlives every redelivery of the
# stream record that reported it (a stream keeps records 24 hours).
EXPIRED_MARKER_TTL = timedelta(days=2)
PAGE_DEFAULT, PAGE_MAX = 20, 50
READ_ALL_CHUNK = 25  # items per transaction, with the counter: well under DynamoDB's 100 actions


@dataclass(frozen=True)
class Notified:
    alert_id: str
    created: bool  # False: the dedup key had already made this alert


def new_alert_id() -> str:
    """Sortable by creation (milliseconds first), unguessable (random tail)."""
    return f"alr_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def notify(*, customer_id: str, kind: str, data: dict[str, Any], dedup_key: str) -> Notified:
    kind_of(kind)  # an unknown kind is refused before any read
    if not dedup_key or len(dedup_key) > 200:
        raise ValidationFailed("A dedup key of 1 to 200 characters is required.")
    # No read of the dedup marker first: the transaction's condition is the check (one read less
    # on the common path; a duplicate costs a cancelled transaction and one read).
    try:
        customer = Customer.get(customer_pk(customer_id), "PROFILE")
    except Customer.DoesNotExist:
        raise NotFound("No such customer.", code="customer_not_found") from None
    try:
        with transaction() as tx:
            alert_id = notify_in(
                tx,
                customer_id=customer_id,
                language=customer.language,
                kind=kind,
                data=data,
                dedup_key=dedup_key,
            )
    except ConditionsFailed:
        # A concurrent notify with the same key won: answer its alert.
        existing = AlertDedup.get(customer_pk(customer_id), f"DEDUP#{dedup_key}", consistent_read=True)
        return Notified(alert_id=existing.alert_id, created=False)
    return Notified(alert_id=alert_id, created=True)


def notify_in(
    tx: Transaction, *, customer_id: str, language: str, kind: str, data: dict[str, Any], dedup_key: str
) -> str:
    """`notify`'s three writes as actions of the caller's own transaction, for a producer that
    writes the event and its alert at once (a payment's settlement: one call instead of two, and
    no settled payment without its alert). `language`: the profile's, as the caller read it. The
    dedup marker's condition has the label "dedup": the caller decides what an alert already made
    means (usually: commit again without it). Returns the new alert's id."""
    alert_kind = kind_of(kind)
    if not dedup_key or len(dedup_key) > 200:
        raise ValidationFailed("A dedup key of 1 to 200 characters is required.")
    values = alert_kind.with_money(language, as_strings(data))
    title, body, deep_link = alert_kind.render(language, values)
    moment = now()
    alert_id = new_alert_id()
    expires = epoch(moment + RETENTION)
    tx.save(
        AlertDedup(customer_pk(customer_id), f"DEDUP#{dedup_key}", alert_id=alert_id, expires_at=expires),
        condition=AlertDedup.PK.does_not_exist(),
        label="dedup",
    )
    tx.save(
        InboxItem(
            customer_pk(customer_id),
            f"INBOX#{alert_id}",
            alert_id=alert_id,
            customer_id=customer_id,
            kind=kind,
            category=alert_kind.category,
            title=title,
            body=body,
            language=language,
            deep_link=deep_link,
            data={k: values[k] for k in alert_kind.data_keys if k in values},
            dedup_key=dedup_key,
            created_at=iso(moment),
            delivery_status="pending",
            expires_at=expires,
        )
    )
    tx.update(
        InboxCounter(customer_pk(customer_id), "COUNTER#INBOX"),
        actions=[InboxCounter.type.set(InboxCounter), InboxCounter.unread.add(1)],
    )
    return alert_id


def to_wire(item: InboxItem) -> dict[str, Any]:
    return {
        "id": item.alert_id,
        "kind": item.kind,
        "category": item.category,
        "title": item.title,
        "body": item.body,
        "deep_link": item.deep_link,
        # From the catalog at read time (not stored): items written before a kind had one have it too.
        "situation": situation_of(item.kind),
        "data": item.data.as_dict() if item.data else {},
        "created_at": item.created_at,
        "read": bool(item.read_at),
        "read_at": item.read_at,
    }


def _resume_from(customer_id: str, cursor: str) -> dict[str, Any]:
    # A cursor is the caller's own: another customer's (or another list's) is refused, not reread.
    return cursor_codec.decode(cursor, fixed={"PK": customer_pk(customer_id)}, sk_prefix="INBOX#alr_")


def list_inbox(*, customer_id: str, cursor: str | None, limit: int | None) -> dict[str, Any]:
    size = min(max(1, limit or PAGE_DEFAULT), PAGE_MAX)
    result = InboxItem.query(
        customer_pk(customer_id),
        InboxItem.SK.startswith("INBOX#"),
        scan_index_forward=False,
        limit=size,
        last_evaluated_key=_resume_from(customer_id, cursor) if cursor else None,
    )
    moment = epoch(now())
    items = [to_wire(i) for i in result if (i.expires_at or 0) > moment]
    last = result.last_evaluated_key
    return {"items": items, "next_cursor": cursor_codec.encode(last) if last else None}


def unread_count(*, customer_id: str) -> int:
    try:
        return max(0, int(InboxCounter.get(customer_pk(customer_id), "COUNTER#INBOX").unread))
    except InboxCounter.DoesNotExist:
        return 0


def _mark_read(customer_id: str, item: InboxItem, moment: str) -> bool:
    """Mark one item read with its counter decrement; False when it was read meanwhile."""
    try:
        with transaction() as tx:
            tx.update(
                item,
                actions=[InboxItem.read_at.set(moment)],
                # Still there: TTL may have removed it since it was read, and the stream then
                # takes it off the badge (an update would recreate a bare item and count it twice).
                condition=InboxItem.PK.exists() & InboxItem.read_at.does_not_exist(),
                label="unread",
            )
            tx.update(
                InboxCounter(customer_pk(customer_id), "COUNTER#INBOX"), actions=[InboxCounter.unread.add(-1)]
            )
    except ConditionsFailed:
        return False
    return True


def mark_read(*, customer_id: str, alert_id: str) -> dict[str, Any]:
    """Idempotent: reading a read item changes nothing, so the badge counts each item once."""
    try:
        item = InboxItem.get(customer_pk(customer_id), f"INBOX#{alert_id}", consistent_read=True)
    except InboxItem.DoesNotExist:
        raise NotFound("No such alert.", code="alert_not_found") from None
    if not item.read_at:
        _mark_read(customer_id, item, iso(now()))
        try:
            item.refresh(consistent_read=True)
        except InboxItem.DoesNotExist:  # TTL removed it meanwhile
            raise NotFound("No such alert.", code="alert_not_found") from None
    return to_wire(item)


def mark_all_read(*, customer_id: str) -> int:
    """Mark every unread item read, a chunk per transaction; returns how many this call marked."""
    moment = iso(now())
    unread = list(
        InboxItem.query(
            customer_pk(customer_id),
            InboxItem.SK.startswith("INBOX#"),
            filter_condition=InboxItem.read_at.does_not_exist(),
        )
    )
    marked = 0
    for start in range(0, len(unread), READ_ALL_CHUNK):
        chunk = unread[start : start + READ_ALL_CHUNK]
        try:
            with transaction() as tx:
                for item in chunk:
                    tx.update(
                        item,
                        actions=[InboxItem.read_at.set(moment)],
                        condition=InboxItem.PK.exists() & InboxItem.read_at.does_not_exist(),
                    )
                tx.update(
                    InboxCounter(customer_pk(customer_id), "COUNTER#INBOX"),
                    actions=[InboxCounter.unread.add(-len(chunk))],
                )
            marked += len(chunk)
        except ConditionsFailed:
            # Some were read meanwhile (another device): one by one, each keeps the counter exact.
            marked += sum(_mark_read(customer_id, item, moment) for item in chunk)
    return marked


def forget_expired(*, customer_id: str, alert_id: str, was_unread: bool) -> bool:
    """TTL removed an item (seen on the stream): an unread one leaves the badge too, once however
    often the stream delivers the removal. The decrement goes with a marker of the item (an
    AlertDedup under the key `expired:<alert id>`, conditional: absent) in one transaction: a
    redelivered removal finds the marker and changes nothing. Returns whether this call counted it."""
    if not was_unread:
        return False
    moment = now()
    try:
        with transaction() as tx:
            tx.save(
                AlertDedup(
                    customer_pk(customer_id),
                    f"DEDUP#expired:{alert_id}",
                    alert_id=alert_id,
                    expires_at=epoch(moment + EXPIRED_MARKER_TTL),
                ),
                condition=AlertDedup.PK.does_not_exist(),
                label="once",
            )
            tx.update(
                InboxCounter(customer_pk(customer_id), "COUNTER#INBOX"), actions=[InboxCounter.unread.add(-1)]
            )
    except ConditionsFailed:
        return False  # this removal was counted already (a redelivered record)
    return True
