"""Opaque pagination cursors over DynamoDB's LastEvaluatedKey.

A cursor carries the key attributes the client has no business reading; decoding checks that the
fixed ones (the caller's partition, the index partition) are the caller's, so a cursor can only
move within the caller's own items.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from chalicelib.errors import ValidationFailed


def encode(key: dict[str, Any]) -> str:
    plain = {name: value["S"] for name, value in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode().rstrip("=")


def decode(cursor: str, *, fixed: dict[str, str], sk_prefix: str, sk_attr: str = "SK") -> dict[str, Any]:
    """The key to resume from; `fixed` attributes must hold exactly these values."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        valid = (
            isinstance(plain, dict)
            and all(isinstance(v, str) for v in plain.values())
            and all(plain.get(name) == value for name, value in fixed.items())
            and str(plain.get(sk_attr, "")).startswith(sk_prefix)
        )
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise ValidationFailed("The cursor is not valid; start again without it.", code="invalid_cursor")
    return {name: {"S": value} for name, value in plain.items()}
