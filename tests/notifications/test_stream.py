"""The table's stream handler under redelivery: AWS hands a batch again from the lowest sequence
number reported failed (ReportBatchItemFailures), so the records after it, already handled, come
again, and a stream is at-least-once anyway. Every record's effect must hold once: the badge after
TTL removals, one alert per security event."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from chalicelib.auth import security_events
from chalicelib.notifications import inbox
from chalicelib.store.models import InboxItem, customer_pk

ARN = "arn:aws:dynamodb:eu-west-3:0:table/t/stream/x"


def _raw_item(customer_id: str, alert_id: str) -> dict[str, Any]:
    client = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    return client.get_item(
        TableName=os.environ["APP_TABLE_NAME"],
        Key={"PK": {"S": customer_pk(customer_id)}, "SK": {"S": f"INBOX#{alert_id}"}},
        ConsistentRead=True,
    )["Item"]


def _ttl_removal(old: dict[str, Any], sequence: str) -> dict[str, Any]:
    """What DynamoDB's TTL sweep puts on the stream: a REMOVE by the service principal."""
    return {
        "eventID": f"ev-{sequence}",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-3",
        "dynamodb": {
            "Keys": {"PK": old["PK"], "SK": old["SK"]},
            "OldImage": old,
            "SequenceNumber": sequence,
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "eventSourceARN": ARN,
    }


def _insert(new: dict[str, Any], sequence: str) -> dict[str, Any]:
    return {
        "eventID": f"ev-{sequence}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-3",
        "dynamodb": {
            "Keys": {"PK": new["PK"], "SK": new["SK"]},
            "NewImage": new,
            "SequenceNumber": sequence,
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": ARN,
    }


def _announce(customer_id: str, key: str) -> str:
    return inbox.notify(
        customer_id=customer_id,
        kind="service.announcement",
        data={"announcement_id": key, "message_fr": "x", "message_en": "x"},
        dedup_key=f"{key}:{customer_id}",
    ).alert_id


def _security_alerts(customer_id: str, event_sk: str) -> list[InboxItem]:
    return [
        i
        for i in InboxItem.query(customer_pk(customer_id), InboxItem.SK.startswith("INBOX#"))
        if i.dedup_key == f"secevent:{event_sk}"
    ]


def test_a_redelivered_batch_counts_every_removal_and_event_once(
    app_module: Any, enrol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of TTL removals (three unread items, one read) and a security event; the handler
    fails one record in the middle the first time (partial batch response), AWS hands the batch
    again from that record on, then the whole batch comes again (at-least-once). The badge drops
    by exactly the three unread items and the event makes one alert. Mutation: `forget_expired`
    without its marker (a bare ADD -1) → the badge drops 3 too many; stream.py reporting nothing
    failed → the failed removal is lost (the badge drops one too few)."""
    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    for n in range(6):  # alerts that stay: the badge cannot hide an error behind its floor of 0
        _announce(cid, f"stay-{n}")
    unread_a, read_b, unread_c, unread_d = (_announce(cid, f"ttl-{n}") for n in "abcd")
    inbox.mark_read(customer_id=cid, alert_id=read_b)
    # Captured while the items exist, as the stream's OldImage would be; then TTL deletes them.
    images = {alert: _raw_item(cid, alert) for alert in (unread_a, read_b, unread_c, unread_d)}
    for alert in images:
        InboxItem(customer_pk(cid), f"INBOX#{alert}").delete()
    before = inbox.unread_count(customer_id=cid)
    event = security_events.security_event(
        cid, security_events.PASSKEY_ADDED, {"passkey_id": "pk_1", "name": "Pixel"}
    )
    batch = [
        _ttl_removal(images[unread_a], "100"),
        _ttl_removal(images[read_b], "101"),
        _ttl_removal(images[unread_c], "102"),  # fails the first time
        _insert(event.serialize(), "103"),
        _ttl_removal(images[unread_d], "104"),
    ]

    real = inbox.forget_expired
    failures = {unread_c: 1}

    def flaky(*, customer_id: str, alert_id: str, was_unread: bool) -> bool:
        if failures.get(alert_id):
            failures[alert_id] -= 1
            raise RuntimeError("DynamoDB failed past its retries")
        return real(customer_id=customer_id, alert_id=alert_id, was_unread=was_unread)

    monkeypatch.setattr(inbox, "forget_expired", flaky)

    first = app_module.on_table_stream({"Records": batch}, None)
    assert first == {"batchItemFailures": [{"itemIdentifier": "102"}]}
    # Lambda's retry: every record from the lowest failed sequence number on, handled or not.
    retry_from = next(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] == "102")
    assert app_module.on_table_stream({"Records": batch[retry_from:]}, None) == {"batchItemFailures": []}
    # At-least-once: the whole batch again.
    assert app_module.on_table_stream({"Records": batch}, None) == {"batchItemFailures": []}

    assert inbox.unread_count(customer_id=cid) == before - 3 + 1  # 3 unread expired, 1 security alert
    assert len(_security_alerts(cid, event.SK)) == 1


def test_a_removal_is_counted_once_however_many_handlers_see_it(enrol: Any) -> None:
    """Two deliveries of one removal racing (a retried batch overlapping a slow first run): the
    marker's condition lets one count it. Mutation: marker without its does-not-exist condition
    → counted twice."""
    from concurrent.futures import ThreadPoolExecutor

    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    alert = _announce(cid, "race")
    before = inbox.unread_count(customer_id=cid)
    with ThreadPoolExecutor(max_workers=4) as pool:
        counted = list(
            pool.map(
                lambda _: inbox.forget_expired(customer_id=cid, alert_id=alert, was_unread=True), range(8)
            )
        )
    assert counted.count(True) == 1
    assert inbox.unread_count(customer_id=cid) == before - 1
    assert inbox.forget_expired(customer_id=cid, alert_id="alr_read", was_unread=False) is False
    assert inbox.unread_count(customer_id=cid) == before - 1
