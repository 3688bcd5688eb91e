from __future__ import annotations

import itertools
import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_lines = itertools.count(1)


@pytest.fixture(scope="session")
def catalogue(app_module: Any) -> dict[str, Any]:
    event = json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text())
    result = app_module.admin_upsert_catalog(event, None)
    assert "error" not in result, result
    return event


@pytest.fixture
def account_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The account services' clock (`now` of chalicelib.account.*), frozen at noon UTC of the real
    day; returns that moment. A test's records a few minutes before "now" then fall on the same
    day and in the same cycle whatever the hour the suite runs: on the real clock, in the minutes
    after midnight, they fell in the day (and the cycle) before. `raising`: a module that stops
    reading `now` fails here rather than silently using the real clock."""
    import importlib

    moment = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for name in ("catalog", "ingestion", "lines", "plan_change", "views"):
        monkeypatch.setattr(importlib.import_module(f"chalicelib.account.{name}"), "now", lambda: moment)
    return moment


@pytest.fixture
def with_line(app_module: Any, enrol: Any, catalogue: Any) -> Callable[..., Any]:
    """A signed-in customer with one line on `essentiel-20` + `data-plus-5`, its cycle starting today
    (the 28th from the 28th to the 31st), by the account services' clock (`account_clock` when the
    test set it)."""
    from chalicelib.account import lines

    def make(*, device_bound: bool = False, **line: Any) -> tuple[Any, str]:
        # device_bound: the passkey does not sync (not backup eligible), so a lone one is nudged.
        enrolled = enrol(backup_eligible=False, backed_up=False) if device_bound else enrol()
        line_id = f"ln_t{os.getpid()}x{next(_lines)}"
        event = {
            "customer_number": enrolled.customer["customer_number"],
            "line_id": line_id,
            "msisdn": "+33600000001",
            "plan_id": "essentiel-20",
            "option_ids": ["data-plus-5"],
            "anchor_day": min(28, lines.now().day),
            **line,
        }
        result = app_module.admin_set_line(event, None)
        assert "error" not in result, result
        return enrolled, line_id

    return make


def sqs_event(*bodies: Any, message_ids: list[str] | None = None) -> dict[str, Any]:
    ids = message_ids or [str(uuid.uuid4()) for _ in bodies]
    return {
        "Records": [
            {
                "messageId": mid,
                "receiptHandle": "r",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "x",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-3:000000000000:selfcare-usage-records",
                "awsRegion": "eu-west-3",
            }
            for mid, body in zip(ids, bodies, strict=True)
        ]
    }


def record(
    line_id: str,
    kind: str = "data",
    quantity: int = 1024,
    *,
    at: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    moment = at or datetime.now(UTC) - timedelta(minutes=1)
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "line_id": line_id,
        "kind": kind,
        "quantity": quantity,
        "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
