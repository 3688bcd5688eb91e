"""The table's stream, in one handler: security events become alerts, new inbox items are pushed,
and inbox items removed by TTL leave the unread count.

Every record can arrive more than once: AWS hands a batch again from the lowest sequence number
the handler reported failed (ReportBatchItemFailures), so the records after a failed one, already
handled, come again too; and a stream is at-least-once anyway. So every record's effect is
idempotent, each at the cost of a write it makes anyway:
- a security event's INSERT: `notify` with the event's key as dedup key (one alert per event);
- a data export's INSERT: `privacy.export.produce` (a fixed S3 key, a conditional `ready`, notify's
  dedup key: one file, one alert);
- an inbox item's INSERT: the push claims the item (a conditional update of its delivery status)
  and records each device's outcome on it, so a device gets an alert once;
- an unread inbox item's TTL REMOVE: the badge's -1 goes in one transaction with a marker of the
  item (conditional: absent; kept 2 days, past the stream's 24-hour retention), so a redelivered
  removal changes nothing (`inbox.forget_expired`). Keyed by the item rather than by the record's
  eventID: the identity of what is counted, whichever record reports it. A read item's removal
  writes nothing.
A record that fails is reported (partial batch response); the others of the batch are still
handled, since a retry would only redo them harmlessly.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.auth import security_events
from chalicelib.notifications import delivery, inbox
from chalicelib.observability.log import log_event
from chalicelib.privacy import export
from chalicelib.privacy.models import DataExport
from chalicelib.store.models import InboxItem, Item, SecurityEvent

# Security event kind → (alert kind, how to read its data from the event's detail).
SECURITY_ALERTS: dict[str, tuple[str, Any]] = {
    security_events.PASSKEY_ADDED: (
        "security.passkey_added",
        lambda d: {"passkey_id": d.get("passkey_id"), "passkey_name": d.get("name")},
    ),
    security_events.PASSKEY_REMOVED: (
        "security.passkey_removed",
        lambda d: {"passkey_id": d.get("passkey_id"), "passkey_name": d.get("name")},
    ),
    security_events.NEW_SESSION: (
        "security.new_session",
        lambda d: {
            "session_id": d.get("session_id"),
            "device": security_events.device_label(d.get("device")),
        },
    ),
    security_events.SIGN_COUNT_REGRESSION: (
        "security.suspicious_activity",
        lambda d: {"reason": "passkey_counter"},
    ),
    security_events.REFRESH_TOKEN_REUSE: (
        "security.suspicious_activity",
        lambda d: {"reason": "refresh_token_reuse"},
    ),
    security_events.ACCOUNT_CHANGED: (
        "security.account_changed",
        lambda d: {
            "change": d.get("change"),
            "change_fr": security_events.CHANGES.get(str(d.get("change")), ("", ""))[0],
            "change_en": security_events.CHANGES.get(str(d.get("change")), ("", ""))[1],
        },
    ),
}


# The only item types this handler reads; every other record is skipped without being decoded,
# so an item of another kind that cannot be read (a bad import, a manual edit) never blocks the
# stream behind it (AWS retries every record after the lowest failed one).
_WANTED = ("inbox_item", "security_event", "data_export")


def _image(record: dict[str, Any], which: str) -> Item | None:
    raw = record.get("dynamodb", {}).get(which)
    if not raw or (raw.get("type") or {}).get("S") not in _WANTED:
        return None
    return Item.from_raw_data(raw)


def _is_ttl_removal(record: dict[str, Any]) -> bool:
    identity = record.get("userIdentity") or {}
    return identity.get("principalId") == "dynamodb.amazonaws.com"


def handle_records(records: list[dict[str, Any]]) -> list[str]:
    """Process a batch; returns the sequence numbers of the records that failed."""
    failed: list[str] = []
    to_push: list[tuple[str, str, str]] = []
    for record in records:
        sequence = record.get("dynamodb", {}).get("SequenceNumber", "")
        try:
            event = record.get("eventName")
            if event == "INSERT":
                item = _image(record, "NewImage")
                if isinstance(item, InboxItem):
                    to_push.append((item.customer_id, item.alert_id, sequence))
                elif isinstance(item, SecurityEvent):
                    _security_alert(item)
                elif isinstance(item, DataExport):  # One's own data: a data export asked for, produced here
                    export.produce(customer_id=item.customer_id, export_id=item.export_id)
            elif event == "REMOVE" and _is_ttl_removal(record):
                old = _image(record, "OldImage")
                if isinstance(old, InboxItem):
                    inbox.forget_expired(
                        customer_id=old.customer_id, alert_id=old.alert_id, was_unread=not old.read_at
                    )
        except Exception as error:  # noqa: BLE001 - reported for retry, the batch goes on
            log_event(
                "stream_record_failed",
                level=logging.ERROR,
                sequence=sequence,
                error=type(error).__name__,
                detail=str(error)[:300],
            )
            failed.append(sequence)
    if to_push:
        try:
            delivery.deliver([(c, a) for c, a, _ in to_push])
        except Exception as error:  # noqa: BLE001
            log_event(
                "stream_delivery_failed",
                level=logging.ERROR,
                error=type(error).__name__,
                detail=str(error)[:300],
                records=len(to_push),
            )
            failed.extend(seq for _, _, seq in to_push)
    return failed


def _security_alert(event: SecurityEvent) -> None:
    mapping = SECURITY_ALERTS.get(event.kind)
    if mapping is None:
        return
    kind, read = mapping
    detail = event.detail.as_dict() if event.detail else {}
    customer_id = event.PK.removeprefix("CUSTOMER#")
    inbox.notify(customer_id=customer_id, kind=kind, data=read(detail), dedup_key=f"secevent:{event.SK}")
