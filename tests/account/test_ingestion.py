"""Usage ingestion from SQS: every record counts once, in its own cycle; bad records never block
good ones; writes scale with the (line, day) pairs, not the records; one alert per threshold."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from chalicelib.store.models import CycleUsage, DailyUsage, InboxItem, Item, customer_pk
from tests.account.conftest import record, sqs_event


def _used(api, enrolled, line_id, kind="data"):
    usage = api.get(f"/lines/{line_id}/usage", token=enrolled.token).body
    return next(a for a in usage["allowances"] if a["kind"] == kind)["used"]


def _alerts(customer_id: str, kind_prefix: str = "usage.") -> list[InboxItem]:
    return [
        i
        for i in InboxItem.query(customer_pk(customer_id), InboxItem.SK.startswith("INBOX#"))
        if i.kind.startswith(kind_prefix)
    ]


def test_a_redelivered_batch_counts_once(api, app_module, with_line):
    enrolled, line_id = with_line()
    records = [record(line_id, "data", 1024) for _ in range(10)]
    event = sqs_event(*records)
    assert app_module.ingest_usage(event, None) == {"batchItemFailures": []}
    assert app_module.ingest_usage(event, None) == {"batchItemFailures": []}  # SQS redelivery
    assert _used(api, enrolled, line_id) == 10.0


def test_the_same_record_in_two_messages_and_a_replayed_file_counts_once(api, app_module, with_line):
    enrolled, line_id = with_line()
    one = record(line_id, "sms", 1)
    app_module.ingest_usage(sqs_event([one, record(line_id, "sms", 1)], [one]), None)
    app_module.ingest_usage(sqs_event([one]), None)
    assert _used(api, enrolled, line_id, "sms") == 2


def test_concurrent_handlers_with_overlapping_batches_count_each_record_once(api, app_module, with_line):
    enrolled, line_id = with_line()
    records = [record(line_id, "voice", 60) for _ in range(40)]

    def handle(n: int) -> dict:
        return app_module.ingest_usage(sqs_event(*records[n * 5 : n * 5 + 20]), None)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(handle, range(5)))
    assert all(r == {"batchItemFailures": []} for r in results)
    assert _used(api, enrolled, line_id, "voice") == 40


def test_bad_records_are_skipped_and_never_block_good_ones(api, app_module, with_line):
    enrolled, line_id = with_line()
    good = record(line_id, "sms", 4)
    bad = [
        "{not json",
        {**record(line_id), "kind": "fax"},
        {**record(line_id), "quantity": -5},
        {**record(line_id), "extra": 1},
        {**record(line_id), "occurred_at": "2026-01-01T00:00:00"},  # no time zone
        {**record(line_id), "occurred_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        record("ln_unknownline", "sms", 1),
    ]
    result = app_module.ingest_usage(sqs_event(*bad, good), None)
    assert result == {"batchItemFailures": []}  # retrying a bad record would not fix it
    assert _used(api, enrolled, line_id, "sms") == 4


def test_a_late_record_counts_in_the_cycle_it_occurred_in(api, app_module, with_line):
    enrolled, line_id = with_line()
    last_cycle = datetime.now(UTC) - timedelta(days=35)
    app_module.ingest_usage(sqs_event(record(line_id, "data", 4096, at=last_cycle)), None)
    assert _used(api, enrolled, line_id) == 0  # not this cycle
    cycles = [
        i
        for i in Item.query(
            customer_pk(enrolled.customer["customer_id"]), Item.SK.startswith(f"LINE#{line_id}#C#")
        )
        if isinstance(i, CycleUsage)
    ]
    assert len(cycles) == 1 and cycles[0].data_kb == 4096
    assert cycles[0].cycle_start < datetime.now(UTC).date().isoformat()


def test_writes_scale_with_line_days_not_with_records(app_module, with_line):
    from bench.common import calls, count_dynamodb_calls

    if not getattr(count_dynamodb_calls, "_installed", False):
        count_dynamodb_calls()
        count_dynamodb_calls._installed = True  # type: ignore[attr-defined]
    _, line_id = with_line()
    today = datetime.now(UTC) - timedelta(minutes=1)
    records = [record(line_id, "data", 10, at=today) for _ in range(40)] + [
        record(line_id, "sms", 1, at=today - timedelta(days=1)) for _ in range(40)
    ]
    with calls() as seen:
        app_module.ingest_usage(sqs_event(*records), None)
    assert seen["TransactWriteItems"] == 2  # two (line, day) pairs, 80 records


def test_thresholds_raise_one_alert_each_per_cycle_even_when_replayed(api, app_module, with_line, stream):
    enrolled, line_id = with_line()
    cid = enrolled.customer["customer_id"]
    big = [record(line_id, "data", int(25600 * 0.5) * 1024) for _ in range(2)]  # 50 %, then 100 %
    app_module.ingest_usage(sqs_event(big[0]), None)
    assert _alerts(cid) == []
    event = sqs_event(*big)
    app_module.ingest_usage(event, None)
    app_module.ingest_usage(event, None)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(lambda _: app_module.ingest_usage(sqs_event(record(line_id, "data", 1)), None), range(4))
        )
    kinds = sorted(a.kind for a in _alerts(cid))
    assert kinds == ["usage.threshold_100", "usage.threshold_80"]
    fr = next(a for a in _alerts(cid) if a.kind == "usage.threshold_80")
    assert (
        "80 %" in fr.body
        and "+33600000001" in fr.body
        and fr.deep_link == f"selfcare://lines/{line_id}/usage"
    )


def test_a_pace_alert_warns_before_the_allowance_runs_out(app_module, with_line):
    # The cycle began 10 days ago; 60 % used already: at this pace it runs out around day 17 of ~30.
    import pytest

    anchor = (datetime.now(UTC) - timedelta(days=10)).day
    if anchor > 28:
        pytest.skip("anchor days stop at 28: no cycle began exactly 10 days ago")
    enrolled, line_id = with_line(anchor_day=anchor)
    cid = enrolled.customer["customer_id"]
    app_module.ingest_usage(sqs_event(record(line_id, "data", int(25600 * 0.6) * 1024)), None)
    pace = [a for a in _alerts(cid) if a.kind == "usage.pace"]
    assert len(pace) == 1 and pace[0].data["runs_out_on"]
    app_module.ingest_usage(sqs_event(record(line_id, "data", 1024)), None)
    assert len([a for a in _alerts(cid) if a.kind == "usage.pace"]) == 1


def test_sqs_message_bodies_may_be_one_record_or_a_list(api, app_module, with_line):
    enrolled, line_id = with_line()
    app_module.ingest_usage(
        sqs_event(
            record(line_id, "sms", 1), json.dumps([record(line_id, "sms", 1), record(line_id, "sms", 1)])
        ),
        None,
    )
    assert _used(api, enrolled, line_id, "sms") == 3


def test_daily_items_keep_only_hashed_record_ids(app_module, with_line):
    enrolled, line_id = with_line()
    r = record(line_id, "sms", 1, event_id="mediation-secret-id-123")
    app_module.ingest_usage(sqs_event(r), None)
    day = DailyUsage.get(
        customer_pk(enrolled.customer["customer_id"]), f"USAGEDAY#{line_id}#{r['occurred_at'][:10]}"
    )
    assert day.sms == 1 and "mediation-secret-id-123" not in json.dumps(sorted(day.counted))
