"""Create the table(s) locally from the same CloudFormation that infra/ deploys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "resources.json"

# CloudFormation properties that CreateTable takes as they are; TTL and PITR are separate calls.
_CREATE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
)


def table_definitions() -> dict[str, dict[str, Any]]:
    resources = json.loads(TEMPLATE.read_text())["Resources"]
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"}


def create_tables(*, endpoint: str, table_name: str, region: str = "eu-west-3") -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    existing = set(client.list_tables()["TableNames"])
    for _, props in table_definitions().items():
        if table_name in existing:
            continue
        args = {k: props[k] for k in _CREATE_KEYS if k in props}
        if "StreamSpecification" in args:
            args["StreamSpecification"] = {"StreamEnabled": True, **args["StreamSpecification"]}
        client.create_table(TableName=table_name, **args)
        client.get_waiter("table_exists").wait(TableName=table_name)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
