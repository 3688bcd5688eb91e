"""infra/resources.json completes what `chalice package` generates: these settings are the
difference between a stream that recovers and one that retries a bad record forever."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]


def _logical_id(function_name: str) -> str:
    """Chalice names a function's CloudFormation resource in CamelCase."""
    return "".join(part.capitalize() for part in function_name.split("_"))


def test_the_stream_consumer_reports_partial_failures_and_gives_up_finitely(app_module):
    names = {f.name for f in app_module.app.event_sources}
    assert "table_stream" in names
    source = RESOURCES[_logical_id("table_stream")]["Properties"]["Events"]["TableStreamDynamodbEventSource"][
        "Properties"
    ]
    assert source["Stream"] == {"Fn::GetAtt": ["AppTable", "StreamArn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 <= source["MaximumRetryAttempts"] <= 10_000 and source["MaximumRetryAttempts"] != -1
    assert 60 <= source["MaximumRecordAgeInSeconds"] <= 604_800
    assert source["BisectBatchOnFunctionError"] is True
    assert source["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["TableStreamDeadLetters", "Arn"]
    }


def test_the_stream_filters_let_through_what_the_handler_acts_on():
    source = RESOURCES["TableStream"]["Properties"]["Events"]["TableStreamDynamodbEventSource"]["Properties"]
    patterns = [json.loads(f["Pattern"]) for f in source["FilterCriteria"]["Filters"]]
    inserted = next(p for p in patterns if p["eventName"] == ["INSERT"])
    assert set(inserted["dynamodb"]["NewImage"]["type"]["S"]) == {"inbox_item", "security_event"}
    removed = next(p for p in patterns if p["eventName"] == ["REMOVE"])
    assert removed["userIdentity"]["principalId"] == ["dynamodb.amazonaws.com"]


def test_the_table_has_streams_ttl_and_recovery():
    table = RESOURCES["AppTable"]["Properties"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_the_usage_queue_has_a_dead_letter_queue_and_partial_batch_responses(app_module):
    assert "ingest_usage" in {f.name for f in app_module.app.event_sources}
    queue = RESOURCES["UsageRecordsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    assert queue["VisibilityTimeout"] >= 6 * RESOURCES["IngestUsage"]["Properties"]["Timeout"]  # AWS's advice
    source = RESOURCES["IngestUsage"]["Properties"]["Events"]["IngestUsageSqsEventSource"]["Properties"]
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Chalice names the queue by USAGE_QUEUE_NAME (Fn::Sub); infra creates that queue first, under
    # the same stage-scoped name (tests/deploy checks both sides in the packaged templates).
    assert "Queue" not in source and RESOURCES["IngestUsage"]["DependsOn"] == ["UsageRecordsQueue"]
    assert queue["QueueName"] == {"Fn::Sub": "selfcare-${Stage}-usage-records"}
    stages = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
    assert {s: stages[s]["environment_variables"]["USAGE_QUEUE_NAME"] for s in stages} == {
        s: f"selfcare-{s}-usage-records" for s in stages
    }


def test_the_clearing_function_has_the_time_its_budget_assumes():
    from chalicelib.bidding.closing import BUDGET_S, LEASE_S

    timeout = RESOURCES["ClearOffers"]["Properties"]["Timeout"]
    assert timeout >= BUDGET_S + LEASE_S  # a run stops (and releases) before Lambda kills it
