"""The packaged templates of both stages: every name is the stage's own, every function has only
the permissions it uses, and the API has a throttle and a WAF in front."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import template as tpl

ROOT = Path(__file__).resolve().parent.parent.parent
WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)


def test_no_physical_name_is_shared_between_dev_and_prod(templates: dict[str, dict[str, Any]]) -> None:
    """Two stages in one account must not fight over a queue, a topic, a dashboard, an API's
    metrics or a secret. Mutations: `QueueName: selfcare-usage-records` (or USAGE_QUEUE_NAME without
    the stage), a dashboard or WAF name without ${Stage}, prod reading /selfcare/dev/ parameters."""
    dev, prod = (tpl.physical_names(templates[s], s) for s in ("dev", "prod"))
    shared = {name: (dev[name], prod[name]) for name in dev.keys() & prod.keys()}
    assert not shared, shared
    for stage, names in (("dev", dev), ("prod", prod)):
        # Not vacuous: the kinds of names that exist are found.
        sources = " ".join(" ".join(sorted(s)) for s in names.values())
        for kind in (
            "UsageRecordsQueue.QueueName",
            "AlarmTopic.TopicName",
            "Dashboard.DashboardName",
            "ApiWebAcl.Name",
            "RestAPI title",
            "ApiName dimension",
            "SQS event source",
            "SSM parameter",
            "JWT_KEY_SOURCE",
            "FCM_PROJECT_ID",
        ):
            assert kind in sources, (stage, kind)
        for name, source in names.items():
            # The service's own domain (RP ID, issuer) is prod's without a stage in it; it still differs.
            if not all("WEBAUTHN_RP_ID" in s or "JWT_ISSUER" in s for s in source):
                assert stage in name, f"{stage}: {name!r} ({sorted(source)[:3]}) does not name its stage"


def test_the_usage_queue_the_function_listens_to_is_the_one_the_stack_creates(
    templates: dict[str, dict[str, Any]],
) -> None:
    """Chalice builds the event source from USAGE_QUEUE_NAME, infra/ creates the queue from
    `selfcare-${Stage}-usage-records`: a mismatch deploys a function listening to nothing."""
    for stage, template in templates.items():
        created = tpl.resolve(template["Resources"]["UsageRecordsQueue"]["Properties"]["QueueName"], stage)
        assert created is not None
        source = template["Resources"]["IngestUsage"]["Properties"]["Events"]["IngestUsageSqsEventSource"][
            "Properties"
        ]["Queue"]
        assert source["Fn::Sub"].endswith(f":{created}"), (stage, source, created)
        assert (
            template["Resources"]["IngestUsage"]["Properties"]["Environment"]["Variables"]["USAGE_QUEUE_NAME"]
            == created
        )


def test_a_package_refuses_to_deploy_as_another_stage(templates: dict[str, dict[str, Any]]) -> None:
    for stage, template in templates.items():
        assert template["Parameters"]["Stage"]["Default"] == stage
        [assertion] = template["Rules"]["PackagedForThisStage"]["Assertions"]
        assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "Stage"}, stage]}
        assert {f["Environment"]["Variables"]["STAGE"] for f in tpl.functions(template).values()} == {stage}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_function_has_a_role_of_its_own(templates: dict[str, dict[str, Any]], stage: str) -> None:
    """Mutation: give two functions one role (a shared `iam_role_arn`), or drop a function's
    `iam_policy_file` (it falls back on policy-<stage>.json, which only allows logs)."""
    template = templates[stage]
    roles = [p["Role"]["Fn::GetAtt"][0] for p in tpl.functions(template).values()]
    assert len(roles) == len(set(roles))
    for function_id in tpl.functions(template):
        actions = {a for s in tpl.statements(template, function_id) for a in tpl.listed(s["Action"])}
        assert actions - {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}, (
            f"{function_id} has the logs-only default policy"
        )


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_authorizer_reads_only_the_public_keys(templates: dict[str, dict[str, Any]], stage: str) -> None:
    """The function that sees every request's token can neither write the table, touch a queue,
    nor read the signing keys or any other secret. Mutation: give access_token the API's policy."""
    template = templates[stage]
    found = tpl.statements(template, tpl.function_for(template, "access_token"))
    assert not tpl.granted(found, "dynamodb") and not tpl.granted(found, "sqs")
    assert not any(tpl.allows(found, action, tpl.TABLE) for action in WRITES)
    parameters = [json.dumps(r) for r in tpl.resources_of(found, "ssm")]
    assert len(parameters) == 1 and parameters[0].endswith(
        f':parameter/selfcare/{stage}/jwt-public-keys"}}'
    ), parameters
    public = template["Resources"]["AccessToken"]["Properties"]["Environment"]["Variables"][
        "JWT_PUBLIC_KEY_SOURCE"
    ]
    assert public == f"ssm:/selfcare/{stage}/jwt-public-keys"


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_role_has_a_wildcard_on_dynamodb_or_sqs_and_secrets_are_named_one_by_one(
    templates: dict[str, dict[str, Any]], stage: str
) -> None:
    """Mutations: `"Resource": "*"` or an unpinned `table/selfcare-*` pattern on a DynamoDB or SQS
    statement, `dynamodb:*`, `parameter/selfcare/<stage>/*`."""
    template = templates[stage]
    referenced = {
        v
        for f in tpl.functions(template).values()
        for v in f["Environment"]["Variables"].values()
        if isinstance(v, str) and v.startswith("ssm:")
    }
    granted_parameters = set()
    for function_id in tpl.functions(template):
        found = tpl.statements(template, function_id)
        for service in ("dynamodb", "sqs"):
            assert not any(a.endswith(":*") or a == "*" for a in tpl.granted(found, service)), (
                function_id,
                service,
            )
            for resource in tpl.resources_of(found, service):
                assert isinstance(resource, dict), (
                    function_id,
                    resource,
                )  # a reference to this stack's own resource
                assert "*" not in json.dumps(resource).replace("/index/*", ""), (function_id, resource)
        for resource in tpl.resources_of(found, "ssm"):
            name = resource["Fn::Sub"].partition(":parameter")[2]
            assert "*" not in name and name.startswith(f"/selfcare/{stage}/"), (function_id, name)
            granted_parameters.add(f"ssm:{name}")
    # Every secret a function may read is one the stage's settings name, and each one is readable by someone.
    assert granted_parameters == referenced


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_functions_get_the_secrets_and_queues_of_their_job_only(
    templates: dict[str, dict[str, Any]], stage: str
) -> None:
    """Least privilege beyond the authorizer: the push workers alone read the Firebase account, the
    money paths alone the Stripe key, the usage consumer alone the usage queue, the stream consumer
    alone the stream, and the read-only admin function writes nothing."""
    template = templates[stage]

    def parameters(attribute: str) -> set[str]:
        found = tpl.statements(template, tpl.function_for(template, attribute))
        return {r["Fn::Sub"].rpartition("/")[2] for r in tpl.resources_of(found, "ssm")}

    expected = {
        "app": {
            "jwt-signing-keys",
            "jwt-public-keys",
            "stripe-secret-key",
            "stripe-webhook-secret",
            "call-code-pepper",
        },
        "admin_call_code_verify": {"call-code-pepper"},
        "on_table_stream": {"firebase-service-account"},
        "deliver_deferred_alerts": {"firebase-service-account"},
        "sweep_pending_payments": {"stripe-secret-key"},
        "daily_billing": {"stripe-secret-key"},
        "clear_offers": {"stripe-secret-key"},
    }
    for properties in tpl.functions(template).values():
        attribute = tpl.handler(properties)
        if attribute != "access_token":
            assert parameters(attribute) == expected.get(attribute, set()), attribute
        found = tpl.statements(template, tpl.function_for(template, attribute))
        queue_actions = tpl.granted(found, "sqs")
        stream_actions = {
            a for a in tpl.granted(found, "dynamodb") if "Stream" in a or a == "dynamodb:GetRecords"
        }
        assert bool(stream_actions) == (attribute == "on_table_stream"), attribute
        if attribute == "ingest_usage":
            assert tpl.resources_of(found, "sqs") == [{"Fn::GetAtt": ["UsageRecordsQueue", "Arn"]}] * len(
                tpl.resources_of(found, "sqs")
            )
        elif attribute == "on_table_stream":
            assert queue_actions == {"sqs:SendMessage"}  # its on-failure destination only
        else:
            assert not queue_actions, attribute
    for read_only in (
        "admin_offer_result",
        "admin_help_report",
        "admin_case_list",
        "admin_case_context",
        "admin_list_arrangements",
        "admin_list_closures",
    ):
        result = tpl.statements(template, tpl.function_for(template, read_only))
        assert not any(tpl.allows(result, action, tpl.TABLE) for action in WRITES), read_only


HELP_INDEX = {"Fn::Sub": "${HelpBucket.Arn}/help-index/*"}
DOCUMENTS = {"Fn::Sub": "${CaseDocumentsBucket.Arn}/documents/*"}
DOCUMENTS_BUCKET = {"Fn::GetAtt": ["CaseDocumentsBucket", "Arn"]}
HELP_BUCKET = {"Fn::GetAtt": ["HelpBucket", "Arn"]}
EXPORTS = {"Fn::Sub": "${ExportsBucket.Arn}/exports/*"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_functions_reach_only_their_own_objects_in_the_stacks_buckets(
    templates: dict[str, dict[str, Any]], stage: str
) -> None:
    """Exactly these S3 grants, on this stack's buckets and prefixes only: the API reads the help
    index and handles the customers' documents (the presigned POST is authorised as its role;
    ListBucket makes a document not uploaded yet a 404 rather than a 403), the help functions that
    rebuild the index write (and drop a superseded build, and list the index objects to prune the
    generations older than the previous one), the agents' case functions read documents
    (their download links are signed by their own role; the lost-phone flow answers its case with
    them), the table stream's function writes the customers' data exports and the API reads them
    (it signs their download links), the erasure job deletes a closed account's documents and
    exports, and nothing else touches a bucket.
    Mutations: `"Resource": "*"` or `arn:aws:s3:::*` on an S3 statement, s3:* anywhere, the
    documents' grant given to admin_case_list, s3:GetObject on help-index/* for the help admins,
    s3:GetObject on exports/* for the stream's function, or erasure.json with s3:GetObject."""
    template = templates[stage]
    rebuilds = {("s3:PutObject", "help"), ("s3:DeleteObject", "help"), ("s3:ListBucket", "help bucket")}
    links = {("s3:GetObject", "documents")}
    expected = {
        "app": {
            ("s3:GetObject", "help"),
            ("s3:PutObject", "documents"),
            ("s3:GetObject", "documents"),
            ("s3:DeleteObject", "documents"),
            ("s3:ListBucket", "documents bucket"),
            ("s3:GetObject", "exports"),
        },
        "on_table_stream": {("s3:PutObject", "exports")},
        "erase_closed_accounts": {("s3:DeleteObject", "documents"), ("s3:DeleteObject", "exports")},
        "admin_help_upsert_section": rebuilds,
        "admin_help_publish": rebuilds,
        "admin_help_unpublish": rebuilds,
        "admin_help_rebuild_index": rebuilds,
        "admin_case_context": links,
        "admin_case_reply": links,
        "admin_case_request_document": links,
        "admin_case_resolve": links,
        "admin_call_code_verify": links,
        "admin_case_lost_phone": links,
    }
    named = {
        json.dumps(r, sort_keys=True): n
        for r, n in ((HELP_INDEX, "help"), (DOCUMENTS, "documents"), (EXPORTS, "exports"))
    }
    named[json.dumps(DOCUMENTS_BUCKET, sort_keys=True)] = "documents bucket"
    named[json.dumps(HELP_BUCKET, sort_keys=True)] = "help bucket"
    for properties in tpl.functions(template).values():
        attribute = tpl.handler(properties)
        found = tpl.statements(template, tpl.function_for(template, attribute))
        grants = set()
        for statement in found:
            actions = [a for a in tpl.listed(statement["Action"]) if a.split(":")[0] in ("s3", "*")]
            if not actions:
                continue
            assert statement["Effect"] == "Allow" and "Condition" not in statement, (attribute, statement)
            for resource in tpl.listed(statement["Resource"]):
                where = named.get(json.dumps(resource, sort_keys=True))
                assert where is not None, (attribute, resource)  # one of this stack's buckets, pinned
                grants |= {(action, where) for action in actions}
        assert grants == expected.get(attribute, set()), attribute


def test_each_stage_names_the_buckets_its_own_stack_creates(templates: dict[str, dict[str, Any]]) -> None:
    """The functions find the buckets by HELP_BUCKET and CASE_DOCUMENTS_BUCKET, references to the
    stack's own (as APP_TABLE_NAME is to its table); CloudFormation names them after the stack
    (selfcare-<stage>-...), so the stages cannot share one, and no bucket carries a fixed name (S3
    names are global to every AWS account: a fixed one could be taken). A value for either in
    .chalice/config.json would replace the reference in every function (SAM's Globals yield to a
    function's own variables). Mutations: a BucketName without ${Stage}, HELP_BUCKET in the config."""
    for stage, template in templates.items():
        variables = template["Globals"]["Function"]["Environment"]["Variables"]
        assert variables["HELP_BUCKET"] == {"Ref": "HelpBucket"}
        assert variables["CASE_DOCUMENTS_BUCKET"] == {"Ref": "CaseDocumentsBucket"}
        assert variables["EXPORTS_BUCKET"] == {"Ref": "ExportsBucket"}  # customers' data exports
        for properties in tpl.functions(template).values():
            own = properties.get("Environment", {}).get("Variables", {})
            assert (
                not {"APP_TABLE_NAME", "HELP_BUCKET", "CASE_DOCUMENTS_BUCKET", "EXPORTS_BUCKET"} & own.keys()
            ), own.keys()
        buckets = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"}
        assert buckets.keys() == {"HelpBucket", "CaseDocumentsBucket", "ExportsBucket"}
        for logical_id, bucket in buckets.items():
            name = bucket["Properties"].get("BucketName")
            assert name is None or "${Stage}" in json.dumps(name), (stage, logical_id, name)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_api_stage_is_throttled_and_behind_a_rate_based_waf(
    templates: dict[str, dict[str, Any]], stage: str
) -> None:
    """Mutations: drop MethodSettings' throttling, the WebACL's rate-based rule, or its association."""
    resources = templates[stage]["Resources"]
    [setting] = [
        s
        for s in resources["RestAPI"]["Properties"]["MethodSettings"]
        if s["ResourcePath"] == "/*" and s["HttpMethod"] == "*"
    ]
    assert 0 < setting["ThrottlingRateLimit"] <= 10_000 and 0 < setting["ThrottlingBurstLimit"] <= 5_000
    acl = resources["ApiWebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL" and "Allow" in acl["DefaultAction"]
    [rule] = [r for r in acl["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rule["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP" and "Block" in rule["Action"]
    blocked = rule["Action"]["Block"]["CustomResponse"]
    assert blocked["ResponseCode"] == 429
    body = json.loads(acl["CustomResponseBodies"][blocked["CustomResponseBodyKey"]]["Content"])
    assert set(body) == {"error"} and set(body["error"]) == {
        "code",
        "message",
    }  # our error shape, from the WAF too
    [association] = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::WAFv2::WebACLAssociation"
    ]
    assert association["WebACLArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}
    assert association["ResourceArn"]["Fn::Sub"].endswith("/restapis/${RestAPI}/stages/${RestAPI.Stage}")
    throttled = resources["GatewayResponseThrottled"]["Properties"]
    assert (
        throttled["StatusCode"] == "429"
        and "rate_limited" in throttled["ResponseTemplates"]["application/json"]
    )


def test_the_policy_files_of_dev_and_prod_differ_by_the_stage_name_only() -> None:
    """A permission added to one stage and forgotten in the other would surface only in that stage."""
    policies = ROOT / ".chalice" / "policies"
    dev = {p.name: p.read_text() for p in (policies / "dev").glob("*.json")}
    prod = {p.name: p.read_text() for p in (policies / "prod").glob("*.json")}
    assert dev and dev.keys() == prod.keys()
    for name in dev:
        assert (
            dev[name].replace("/selfcare/dev/", "/selfcare/prod/").replace("selfcare-dev-", "selfcare-prod-")
            == prod[name]
        ), name
    stages = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
    files = {
        stage: {name: f["iam_policy_file"] for name, f in stages[stage]["lambda_functions"].items()}
        for stage in ("dev", "prod")
    }
    for stage, paths in files.items():
        assert all(
            p.startswith(f"policies/{stage}/") and (ROOT / ".chalice" / p).is_file() for p in paths.values()
        ), paths
    assert {n: p.replace("/dev/", "/") for n, p in files["dev"].items()} == {
        n: p.replace("/prod/", "/") for n, p in files["prod"].items()
    }
