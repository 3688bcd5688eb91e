"""Usage ingestion from SQS: every record counts once, in its own cycle; bad records never block
good ones; writes scale with the batch (a few transactions of many line-days), not with the
records, the lines or the days; a failed transaction retries only its messages; one alert per
threshold."""

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


def _counting() -> None:
    from bench.common import count_dynamodb_calls

    if not getattr(count_dynamodb_calls, "_installed", False):
        count_dynamodb_calls()
        count_dynamodb_calls._installed = True  # type: ignore[attr-defined]


def _used_of(customer_id: str, line_id: str, day: str) -> DailyUsage:
    return DailyUsage.get(customer_pk(customer_id), f"USAGEDAY#{line_id}#{day}", consistent_read=True)


def test_writes_scale_with_the_batch_not_with_lines_days_or_records(app_module, with_line, account_clock):
    """Two lines, two days each, 160 records: one transaction for the whole batch, no Query, one
    BatchGetItem of the owners and one of the lines and cycles (alerts and as_of read from it).
    A second batch of older records writes as_of nowhere. Mutations: one transaction per line-day
    (LINE_PARTS = 1, TX_ACTIONS = 2) → 4 → fails; `as_of` written without looking at what was read → UpdateItem in
    the second batch → fails."""
    from bench.common import calls

    _counting()
    (_, a), (_, b) = with_line(), with_line()
    at = account_clock - timedelta(minutes=1)
    records = [
        record(line, kind, 10, at=moment)
        for line in (a, b)
        for kind, moment in (("data", at), ("sms", at - timedelta(days=1)))
        for _ in range(40)
    ]
    with calls() as seen:
        assert app_module.ingest_usage(sqs_event(*records), None) == {"batchItemFailures": []}
    assert seen["TransactWriteItems"] == 1 and seen["Query"] == 0 and seen["BatchGetItem"] == 2
    older = [record(line, "data", 10, at=at - timedelta(hours=1)) for line in (a, b)]
    with calls() as seen:
        app_module.ingest_usage(sqs_event(*older), None)
    assert seen["TransactWriteItems"] == 1 and seen["UpdateItem"] == 0, dict(seen)


def test_a_failed_transaction_leaves_the_other_lines_counted_and_only_its_messages_retried(
    api, app_module, with_line, monkeypatch
):
    """Line b's items conflict past every retry (as in AWS when other writers hold them): the
    batch's one transaction fails, then each line is sent alone: a's commits, b's fails. Only the
    messages with a record of b are reported failed; SQS redelivers them: b's records count, a's
    record among them is a duplicate. Mutations: a failed write's messages not added to the
    failures → [] reported → b's usage lost → fails; no split per line (`_write_isolating` returns
    the error) → m2 (a alone) failed too → fails."""
    from chalicelib.account import ingestion
    from chalicelib.store import db
    from tests.support.faults import _conflict, _payload

    (enrolled_a, a), (enrolled_b, b) = with_line(), with_line()
    a1, a2, b1, b2 = record(a, "sms", 1), record(a, "sms", 2), record(b, "sms", 4), record(b, "sms", 8)
    messages = [("m1", json.dumps([a1, b1])), ("m2", json.dumps(a2)), ("m3", json.dumps(b2))]
    monkeypatch.setattr(db, "CONFLICT_RETRIES", 1)

    def conflict_on_b(request, **_):
        if f"USAGEDAY#{b}#".encode() in (request.body or b""):
            return _conflict(request, "TransactWriteItems", _payload(request))
        return None

    events = db.connection().client.meta.events
    events.register("before-send.dynamodb.TransactWriteItems", conflict_on_b)
    try:
        first = ingestion.ingest(messages)
    finally:
        events.unregister("before-send.dynamodb.TransactWriteItems", conflict_on_b)
    assert first.failed_messages == ["m1", "m3"] and first.counted == 2
    assert (_used(api, enrolled_a, a, "sms"), _used(api, enrolled_b, b, "sms")) == (3, 0)
    again = ingestion.ingest([m for m in messages if m[0] in first.failed_messages])  # SQS redelivery
    assert (again.failed_messages, again.counted, again.duplicates) == ([], 2, 1)
    assert (_used(api, enrolled_a, a, "sms"), _used(api, enrolled_b, b, "sms")) == (3, 12)


def test_a_batch_with_records_counted_before_counts_only_the_new_ones(api, app_module, with_line):
    """Check and split: the transaction is cancelled by the line-day that already holds some of
    the batch's records; that day is re-read (one consistent BatchGetItem) and the transaction
    sent again with the others, the other line's new records included. Mutations: drop the whole
    conflicted day on a failed condition → a's new record lost → fails; keep the counted ones →
    cancelled until MAX_RETRIES → messages failed → fails."""
    from bench.common import calls
    from chalicelib.account import ingestion

    _counting()
    (enrolled_a, a), (enrolled_b, b) = with_line(), with_line()
    old = [record(a, "voice", 60) for _ in range(3)]
    assert ingestion.ingest([("m1", json.dumps(old))]).counted == 3
    mixed = [*old[:2], record(a, "voice", 7), record(b, "voice", 5)]
    with calls() as seen:
        result = ingestion.ingest([("m2", json.dumps(mixed))])
    assert (result.counted, result.duplicates, result.failed_messages) == (2, 2, [])
    assert seen["TransactWriteItems"] == 2  # cancelled once, then committed
    assert _used(api, enrolled_a, a, "voice") == 4  # minutes: 187 s → 3.1 → shown rounded up
    day = old[0]["occurred_at"][:10]
    assert _used_of(enrolled_a.customer["customer_id"], a, day).voice_s == 187
    assert _used_of(enrolled_b.customer["customer_id"], b, day).voice_s == 5


def test_a_line_day_beyond_one_chunk_of_records_takes_several_transactions(api, app_module, with_line):
    """120 records of one line-day (CHUNK is 50) and one of the day before: three rounds, each
    writing the day item once (a transaction may not write one item twice), all counted once.
    Mutation: every chunk in the first round → DynamoDB refuses the transaction → fails."""
    from bench.common import calls

    _counting()
    enrolled, line_id = with_line()
    at = datetime.now(UTC) - timedelta(minutes=1)
    records = [record(line_id, "sms", 1, at=at) for _ in range(120)]
    records.append(record(line_id, "sms", 1, at=at - timedelta(days=1)))
    with calls() as seen:
        assert app_module.ingest_usage(sqs_event(*records), None) == {"batchItemFailures": []}
    assert seen["TransactWriteItems"] == 3
    day = _used_of(enrolled.customer["customer_id"], line_id, at.date().isoformat())
    assert day.sms == 120 and len(day.counted) == 120


def test_a_replay_fills_each_transaction_and_counts_once(api, app_module, with_line, account_clock):
    """A replayed file: 9 lines, one record a day over 10 days, in one batch. Transactions are
    filled up to DynamoDB's 100 actions (a line's 10 day items and its cycles kept together): 108
    actions in 2 transactions (99 in one when each line's days fall in one cycle), where 25
    line-days a transaction took 4. Replayed, the batch counts nothing again: days and cycles keep
    their totals. Mutations: TX_ACTIONS = 50 → 3 transactions → fails; the cycles left out of a
    transaction's cost → 108 actions, DynamoDB refuses, each line sent alone → 10 calls → fails;
    the replay's `not_counted` condition dropped → totals doubled → fails."""
    from bench.common import calls
    from chalicelib.account import cycles

    _counting()
    made = [with_line() for _ in range(9)]
    at = account_clock - timedelta(minutes=1)
    days = [at - timedelta(days=n) for n in range(10)]
    records = [record(line_id, "voice", 60, at=day) for _, line_id in made for day in days]
    anchor = min(28, account_clock.day)
    in_cycles = len({cycles.cycle_start(d.date(), anchor) for d in days})
    event = sqs_event(*records)
    with calls() as seen:
        assert app_module.ingest_usage(event, None) == {"batchItemFailures": []}
    assert seen["TransactWriteItems"] == (1 if 9 * (10 + in_cycles) <= 100 else 2), dict(seen)

    def totals() -> list[tuple[int, int]]:
        found = []
        for enrolled, line_id in made:
            cid = enrolled.customer["customer_id"]
            per_day = sum(int(_used_of(cid, line_id, d.date().isoformat()).voice_s) for d in days)
            per_cycle = sum(
                int(i.voice_s or 0)
                for i in Item.query(customer_pk(cid), Item.SK.startswith(f"LINE#{line_id}#C#"))
                if isinstance(i, CycleUsage)
            )
            found.append((per_day, per_cycle))
        return found

    assert totals() == [(600, 600)] * 9
    assert app_module.ingest_usage(event, None) == {"batchItemFailures": []}  # the file replayed
    assert totals() == [(600, 600)] * 9


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
