"""A stand-in for the network's mediation system, for `make run`: usage records for the demo line,
handed to the app's SQS handler shaped as the SQS event Lambda would receive.

The backfill uses deterministic record ids: run it again (every `make run` does) and nothing is
counted twice — the ingestion's exactly-once rule, visible.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


def sqs_event(records: list[dict[str, Any]], per_message: int = 20) -> dict[str, Any]:
    messages = [records[i : i + per_message] for i in range(0, len(records), per_message)]
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "local",
                "body": json.dumps(batch),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-3:000000000000:selfcare-usage-records",
                "awsRegion": "eu-west-3",
            }
            for batch in messages
        ]
    }


def _record(event_id: str, line_id: str, kind: str, quantity: int, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "line_id": line_id,
        "kind": kind,
        "quantity": quantity,
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def roaming_record(event_id: str, line_id: str, zone: str, kilobytes: int, at: float) -> dict[str, Any]:
    """A data record from a roaming zone (account/roaming.py ZONES), `at` in epoch seconds."""
    moment = datetime.fromtimestamp(at, UTC)
    return {**_record(event_id, line_id, "data", kilobytes, moment), "roaming_zone": zone}


def backfill(handler: Handler, line_id: str, *, days: int, data_mb_per_day: int) -> None:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    records = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        for n in range(6):  # a data session every few hours
            records.append(
                _record(
                    f"demo-{line_id}-{day:%Y%m%d}-d{n}",
                    line_id,
                    "data",
                    data_mb_per_day * 1024 // 6,
                    day + timedelta(hours=n),
                )
            )
        records.append(_record(f"demo-{line_id}-{day:%Y%m%d}-v", line_id, "voice", 600, day))
        records.append(_record(f"demo-{line_id}-{day:%Y%m%d}-s", line_id, "sms", 4, day))
    for start in range(0, len(records), 100):
        handler(sqs_event(records[start : start + 100]), None)


def tick(handler: Handler, line_id: str) -> None:
    """A few seconds of a customer's life: some data, sometimes a call or a text."""
    now = datetime.now(UTC) - timedelta(seconds=1)
    records = [_record(str(uuid.uuid4()), line_id, "data", random.randint(5, 40) * 1024, now)]
    if random.random() < 0.2:
        records.append(_record(str(uuid.uuid4()), line_id, "voice", random.randint(20, 300), now))
    if random.random() < 0.2:
        records.append(_record(str(uuid.uuid4()), line_id, "sms", 1, now))
    handler(sqs_event(records), None)
