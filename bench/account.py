"""Account views and usage ingestion.

- View latency (GET /me, GET /lines/{id}/usage, daily series) as a ratio to one raw GetItem in the
  same run, and the DynamoDB calls each makes (GET /lines/{id}/usage must be 1).
- Ingestion of 10,000 usage records over 100 lines through the SQS handler, in SQS batches of 100
  messages of 10 records: records/s, the process's CPU, the DynamoDB calls by operation and the
  writes per record (they scale with the batches: a few transactions of many line-days each), and
  the time per record as a ratio to one raw UpdateItem (a lone write) measured in the same run.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import calls, summary, timed

ROOT = Path(__file__).resolve().parent.parent


def _sqs(records: list[dict[str, Any]], per_message: int) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "b",
                "body": json.dumps(records[i : i + per_message]),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-3:0:q",
                "awsRegion": "eu-west-3",
            }
            for i in range(0, len(records), per_message)
        ]
    }


def _ingest(app: Any, line_ids: list[str], records: int, *, spread_minutes: int) -> dict[str, Any]:
    now = datetime.now(UTC) - timedelta(minutes=1)
    batch = [
        {
            "event_id": str(uuid.uuid4()),
            "line_id": random.choice(line_ids),
            "kind": random.choice(["data", "data", "voice", "sms"]),
            "quantity": random.randint(1, 500),
            "occurred_at": (now - timedelta(minutes=random.randint(0, spread_minutes))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        }
        for _ in range(records)
    ]
    started, cpu = time.perf_counter(), time.process_time()
    with calls() as seen:
        for start in range(0, records, 1000):  # SQS batches: 100 messages x 10 records
            result = app.ingest_usage(_sqs(batch[start : start + 1000], 10), None)
            assert result == {"batchItemFailures": []}, result
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    writes = seen.get("TransactWriteItems", 0) + seen.get("UpdateItem", 0) + seen.get("PutItem", 0)
    return {
        "records": records,
        "lines": len(line_ids),
        "records_spread_over_minutes": spread_minutes,
        "seconds": round(seconds, 1),
        "records_per_second": round(records / seconds, 1),
        "ms_per_record": round(seconds * 1000 / records, 3),
        "cpu_seconds": round(
            cpu, 1
        ),  # this process (validation, hashing, requests); the rest: DynamoDB Local
        "dynamodb_calls": dict(seen),
        "writes": writes,
        "writes_per_record": round(writes / records, 3),
    }


def run(*, records: int = 10_000, lines: int = 100, repeat: int = 200) -> dict[str, Any]:
    import boto3
    from chalice.test import Client

    import app
    from devtools import gateway
    from devtools.soft_authenticator import SoftAuthenticator

    gateway.install()
    app.admin_upsert_catalog(
        json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text()), None
    )
    anchor = min(28, (datetime.now(UTC) - timedelta(days=10)).day)
    line_ids = []
    for n in range(lines):
        number = f"BA-{n}"
        app.admin_create_customer({"customer_number": number, "name": "Bench"}, None)
        line_id = f"ln_bench{n:04d}"
        app.admin_set_line(
            {
                "customer_number": number,
                "line_id": line_id,
                "msisdn": "+33600000000",
                "plan_id": "essentiel-20",
                "option_ids": ["data-plus-5"],
                "anchor_day": anchor,
            },
            None,
        )
        line_ids.append(line_id)

    # As mediation feeds it (records of the last 15 minutes), then a replayed file of 10 days
    # (the worst case for aggregation: ~1 record per (line, day) per batch).
    realtime = _ingest(app, line_ids, records, spread_minutes=15)
    replay = _ingest(app, line_ids, records, spread_minutes=10 * 1440)
    batch = [
        {
            "event_id": "",
            "line_id": "",
            "kind": "data",
            "quantity": random.randint(1, 500),
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=random.randint(1, 10 * 1440))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        }
        for _ in range(500)
    ]

    # Views, for the first line's customer.
    client = Client(app.app, stage_name="dev", project_dir=str(ROOT))
    customer = app.admin_create_customer({"customer_number": "BV-1", "name": "Viewer"}, None)
    app.admin_set_line(
        {
            "customer_number": "BV-1",
            "line_id": "ln_view0001",
            "msisdn": "+33600000001",
            "plan_id": "essentiel-20",
            "option_ids": ["data-plus-5"],
            "anchor_day": anchor,
        },
        None,
    )
    app.ingest_usage(
        _sqs([{**r, "line_id": "ln_view0001", "event_id": str(uuid.uuid4())} for r in batch[:500]], 10), None
    )
    phone = SoftAuthenticator()
    headers = {"Content-Type": "application/json"}
    options = json.loads(
        client.http.post(
            "/auth/passkeys/register/options",
            headers=headers,
            body=json.dumps(
                {
                    "enrolment_handle": customer["enrolment_handle"],
                    "activation_code": customer["activation_code"],
                }
            ).encode(),
        ).body
    )
    session = json.loads(
        client.http.post(
            "/auth/passkeys/register/verify",
            headers=headers,
            body=json.dumps(
                {"challenge_id": options["challenge_id"], "credential": phone.create(options["options"])}
            ).encode(),
        ).body
    )
    auth = {"Authorization": f"Bearer {session['access_token']}"}
    today = datetime.now(UTC).date()
    paths = {
        "GET /me": "/me",
        "GET /lines/{id}": "/lines/ln_view0001",
        "GET /lines/{id}/usage": "/lines/ln_view0001/usage",
        "GET /lines/{id}/usage/daily (31 days)": f"/lines/ln_view0001/usage/daily?from={today - timedelta(days=30)}&to={today}",
    }
    raw = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    key = {"PK": {"S": f"CUSTOMER#{customer['customer_id']}"}, "SK": {"S": "PROFILE"}}
    raw.get_item(TableName=os.environ["APP_TABLE_NAME"], Key=key)
    base = summary(timed(lambda: raw.get_item(TableName=os.environ["APP_TABLE_NAME"], Key=key), repeat))
    # A raw write (issue 17): one UpdateItem ADD on a scratch item, for the ingestion's ratio.
    scratch = {"PK": {"S": "BENCH#raw-write"}, "SK": {"S": "COUNTER"}}
    write = summary(
        timed(
            lambda: raw.update_item(
                TableName=os.environ["APP_TABLE_NAME"],
                Key=scratch,
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            ),
            repeat,
        )
    )
    for ingestion in (realtime, replay):
        ingestion["ratio_per_record_to_raw_update_item"] = round(
            ingestion["ms_per_record"] / write["median_ms"], 2
        )
    views = {}
    for name, path in paths.items():
        assert client.http.get(path, headers=auth).status_code == 200
        with calls() as per_request:
            client.http.get(path, headers=auth)
        stats = summary(timed(partial(client.http.get, path, headers=auth), repeat))
        views[name] = {
            **stats,
            "ratio_to_get_item": round(stats["median_ms"] / base["median_ms"], 1),
            "dynamodb_calls": dict(per_request),
        }
    return {
        "ingestion_realtime": realtime,
        "ingestion_replay_10_days": replay,
        "raw_get_item": base,
        "raw_update_item": write,
        "views": views,
    }
