"""Validate push messages against mobile_contract/push/<kind>.schema.json."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

PUSH = Path(__file__).resolve().parents[2] / "mobile_contract" / "push"


@lru_cache(maxsize=1)
def registry() -> Registry:
    resources = []
    for path in PUSH.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def schema_for(kind: str) -> dict[str, Any]:
    return json.loads((PUSH / f"{kind}.schema.json").read_text())


def validate_push(message: dict[str, Any]) -> None:
    kind = message["data"]["kind"]
    jsonschema.Draft202012Validator(schema_for(kind), registry=registry()).validate(message)
    assert len(json.dumps(message, ensure_ascii=False).encode()) <= 4096
