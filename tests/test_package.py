"""The deployable template's adjustments (the packaging itself runs in `make test` after pytest:
`make package` for both stages, then cfn-lint)."""
from __future__ import annotations

import json
from pathlib import Path

from devtools.package import adjust

ROOT = Path(__file__).resolve().parent.parent


def test_policies_are_pinned_to_this_stacks_resources_and_functions_run_on_python312():
    policy = json.loads((ROOT / ".chalice" / "policy-prod.json").read_text())
    template = {"Resources": {
        "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.11"}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": policy}]}},
    }}
    adjusted = adjust(template, "prod")
    assert adjusted["Resources"]["Fn"]["Properties"]["Runtime"] == "python3.12"
    assert adjusted["Parameters"]["Stage"]["Default"] == "prod"
    resources = json.dumps([s["Resource"] for s in adjusted["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]])
    assert "AppTable-*" not in resources and "TableStreamDeadLetters-*" not in resources and "usage-records" not in resources
    assert '"Fn::GetAtt": ["AppTable", "StreamArn"]' in resources


def test_alarms_and_dashboard_read_metrics_the_code_emits():
    from chalicelib.observability.metrics import METRICS

    resources = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]
    text = json.dumps({k: v for k, v in resources.items() if k.endswith("Alarm") or k == "Dashboard"})
    import re

    used = set(re.findall(r'\\"Selfcare\\",\\"(\w+)\\"', text)) | set(re.findall(r'"MetricName": "(\w+)"', text))
    custom = {m for m in used if m[0].isupper() and m not in ("5XXError", "ApproximateNumberOfMessagesVisible", "Count", "Latency", "4XXError")}
    assert custom and custom <= set(METRICS), custom - set(METRICS)
    assert resources["AppTable"]["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    for alarm in ("Api5xxRateAlarm", "UsageDeadLettersAlarm", "StreamDeadLettersAlarm", "StuckPaymentsAlarm", "PushFailureRateAlarm"):
        assert resources[alarm]["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
