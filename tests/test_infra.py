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


BUCKETS = ("HelpBucket", "CaseDocumentsBucket")


def test_the_buckets_are_private_encrypted_and_reached_over_tls_only():
    """Mutations: drop one of the four public-access blocks, the default encryption, the
    bucket-owner-enforced ownership (ACLs back), or the TLS-only deny (or narrow it to the objects)."""
    policies = {
        r["Properties"]["Bucket"]["Ref"]: r["Properties"]["PolicyDocument"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::S3::BucketPolicy"
    }
    for name in BUCKETS:
        bucket = RESOURCES[name]
        assert bucket["Type"] == "AWS::S3::Bucket"
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        [deny] = [s for s in policies[name]["Statement"] if s["Effect"] == "Deny"]
        assert deny["Principal"] == "*" and deny["Action"] == "s3:*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [{"Fn::GetAtt": [name, "Arn"]}, {"Fn::Sub": f"${{{name}.Arn}}/*"}]
        assert not [s for s in policies[name]["Statement"] if s["Effect"] == "Allow"]  # IAM grants only


def test_the_index_is_not_versioned_and_the_documents_are_kept():
    """The index is derived data, written once per build under a new key: no versions to pay for.
    The customers' documents are case evidence: kept if the stack goes, as the table is, and an
    object replaced or deleted stays a while as a previous version."""
    assert RESOURCES["HelpBucket"]["Properties"].get("VersioningConfiguration", {}).get("Status") != "Enabled"
    documents = RESOURCES["CaseDocumentsBucket"]
    assert documents["DeletionPolicy"] == documents["UpdateReplacePolicy"] == "Retain"
    assert documents["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    [rule] = documents["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and 1 <= rule["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 90
    assert "ExpirationInDays" not in rule and "Prefix" not in rule  # current documents never expire


def test_the_functions_find_the_buckets_the_stack_creates_and_no_bucket_has_a_fixed_name():
    """Each stage's functions get their own stack's buckets (references, as for the table), named
    by CloudFormation after the stack (selfcare-<stage>-...): two stages never share one, and no
    name can be taken by another AWS account first. Mutation: `BucketName: selfcare-help-index`."""
    variables = json.loads((ROOT / "infra" / "resources.json").read_text())["Globals"]["Function"][
        "Environment"
    ]["Variables"]
    assert variables["HELP_BUCKET"] == {"Ref": "HelpBucket"}
    assert variables["CASE_DOCUMENTS_BUCKET"] == {"Ref": "CaseDocumentsBucket"}
    for name in BUCKETS:
        fixed = RESOURCES[name]["Properties"].get("BucketName")
        assert fixed is None or "${Stage}" in json.dumps(fixed), fixed


def test_the_functions_that_rebuild_the_help_index_have_the_time_a_large_build_takes():
    """A 5,000-article build took about 13 s locally: far beyond the default 10 s. Every change
    that rebuilds (section, publish, unpublish, rebuild) gets 60 s and 1 GB (more CPU for tantivy);
    the report reads up to 93 days of counters (744 Queries). Mutation: drop AdminHelpPublish."""
    for function in (
        "AdminHelpUpsertSection",
        "AdminHelpPublish",
        "AdminHelpUnpublish",
        "AdminHelpRebuildIndex",
    ):
        properties = RESOURCES[function]["Properties"]
        assert properties["Timeout"] >= 60 and properties["MemorySize"] >= 1024, function
    assert RESOURCES["AdminHelpReport"]["Properties"]["Timeout"] >= 60


def test_the_logical_ids_are_those_chalice_gives_the_functions(app_module):
    """infra/ completes functions by their logical id: one that names no function of app.py would
    add a function without code (and the setting would be lost silently)."""
    app = app_module.app
    names = {f.name for f in app.event_sources} | {f.name for f in app.pure_lambda_functions}
    functions = {k for k, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions <= {_logical_id(n) for n in names}, functions - {_logical_id(n) for n in names}
