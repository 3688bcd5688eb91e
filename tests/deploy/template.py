"""Reading a packaged template (dist/<stage>/sam.json): functions, their roles' statements, and the
physical names the stack would create or use."""

from __future__ import annotations

import fnmatch
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

TABLE: dict[str, Any] = {"Fn::GetAtt": ["AppTable", "Arn"]}
INDEX: dict[str, Any] = {"Fn::Sub": "${AppTable.Arn}/index/*"}
# Resource properties that name a resource account-wide (two stacks cannot both own one).
NAME_PROPERTIES = (
    "QueueName",
    "TopicName",
    "DashboardName",
    "AlarmName",
    "FunctionName",
    "RoleName",
    "TableName",
    "LogGroupName",
    "StateMachineName",
    "BucketName",
    "RuleName",
)
# Settings that name something outside the stack: a queue, a Firebase project, who we are to passkeys.
NAME_SETTINGS = ("USAGE_QUEUE_NAME", "FCM_PROJECT_ID", "WEBAUTHN_RP_ID", "JWT_ISSUER")


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id → properties of every Lambda function."""
    return {
        k: r["Properties"]
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def handler(properties: dict[str, Any]) -> str:
    """`app.admin_create_customer` → `admin_create_customer`: the attribute Lambda calls in app.py."""
    module, _, attribute = properties["Handler"].partition(".")
    assert module == "app", properties["Handler"]
    return attribute


def function_for(template: dict[str, Any], attribute: str) -> str:
    [logical_id] = [k for k, p in functions(template).items() if handler(p) == attribute]
    return logical_id


def statements(template: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    """Every statement of the function's own role (roles are per function, named by GetAtt)."""
    role = functions(template)[function_id]["Role"]["Fn::GetAtt"][0]
    return [
        s
        for p in template["Resources"][role]["Properties"].get("Policies", [])
        for s in p["PolicyDocument"]["Statement"]
    ]


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(found: list[dict[str, Any]], action: str, resource: Any) -> bool:
    """Whether an Allow statement grants `action` on exactly `resource` (or on "*")."""
    for statement in found:
        if statement.get("Effect") != "Allow":
            continue
        if any(fnmatch.fnmatchcase(action, pattern) for pattern in listed(statement["Action"])) and any(
            r == "*" or r == resource for r in listed(statement["Resource"])
        ):
            return True
    return False


def granted(found: list[dict[str, Any]], service: str) -> set[str]:
    """The actions of one service (`dynamodb`, `sqs`...) that the statements allow, as written."""
    return {
        a
        for s in found
        if s.get("Effect") == "Allow"
        for a in listed(s["Action"])
        if a.split(":")[0] in (service, "*")
    }


def resources_of(found: list[dict[str, Any]], service: str) -> list[Any]:
    return [
        r
        for s in found
        if s.get("Effect") == "Allow"
        and any(a.startswith(f"{service}:") or a == "*" for a in listed(s["Action"]))
        for r in listed(s["Resource"])
    ]


def resolve(value: Any, stage: str) -> str | None:
    """A name as CloudFormation would make it for this stage (Stage substituted; other references
    kept as written, which is enough to compare two stages); None for a reference to a resource of
    the stack (its name is the one that resource got)."""
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"].replace("${Stage}", stage)
    if value == {"Ref": "Stage"}:
        return stage
    if isinstance(value, dict) and ("Ref" in value or "Fn::GetAtt" in value):
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def physical_names(template: dict[str, Any], stage: str) -> dict[str, set[str]]:
    """name → where it comes from, for every name the stack creates or uses outside itself."""
    names: dict[str, set[str]] = defaultdict(set)
    title = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"]
    names[title].add("RestAPI title (the ApiName of its metrics)")
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        found = [(properties[key], f"{logical_id}.{key}") for key in NAME_PROPERTIES if key in properties]
        if resource["Type"].startswith("AWS::WAFv2::") and "Name" in properties:
            found.append((properties["Name"], f"{logical_id}.Name"))
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            found += [
                (d["Value"], f"{logical_id} ApiName dimension")
                for d in properties.get("Dimensions", [])
                if d["Name"] == "ApiName"
            ]
        for value, source in found:
            name = resolve(value, stage)
            if name is not None:
                names[name].add(source)
        if resource["Type"] == "AWS::Serverless::Function":
            for key, value in properties.get("Environment", {}).get("Variables", {}).items():
                if not isinstance(value, str):
                    continue
                if key in NAME_SETTINGS:
                    names[value].add(f"{logical_id} {key}")
                for scheme in ("ssm:", "secretsmanager:"):
                    if value.startswith(scheme):
                        names[value.removeprefix(scheme)].add(f"{logical_id} {key}")
            for event in properties.get("Events", {}).values():
                queue = event["Properties"].get("Queue")
                if event["Type"] == "SQS" and isinstance(queue, dict) and "Fn::Sub" in queue:
                    names[queue["Fn::Sub"].rpartition(":")[2]].add(f"{logical_id} SQS event source")
        if resource["Type"] == "AWS::IAM::Role":
            for node in _walk(properties.get("Policies", [])):
                text = (
                    node["Fn::Sub"]
                    if isinstance(node, dict) and isinstance(node.get("Fn::Sub"), str)
                    else node
                )
                if isinstance(text, str) and ":parameter/" in text:
                    names[text.partition(":parameter")[2]].add(f"{logical_id} SSM parameter")
    return dict(names)
