"""Opaque pagination cursors over DynamoDB's LastEvaluatedKey.

A cursor carries the key attributes the client has no business reading; decoding checks that the
fixed ones (the caller's partition, the index partition) are the caller's, so a cursor can only
move within the caller's own items.

Decoding also checks that the cursor is exactly a key DynamoDB would accept as ExclusiveStartKey
for that query, so that nothing a client sends can turn into a DynamoDB ValidationException (a 500):
the table's key (PK, SK) and, for a query on an index, that index's key pair too, each a non-empty
string no longer than a key may be. Anything else is `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from chalicelib.errors import ValidationFailed

# Far above any key we write (a cursor of ours is about 150 characters), far below anything costly.
MAX_CURSOR_CHARS = 2048
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_TABLE_KEY = ("PK", "SK")
# An index partition attribute (GSI1PK) names the index whose sort key (GSI1SK) the key also holds.
_INDEX_PARTITION = re.compile(r"(GSI\d+)PK")
MAX_KEY_VALUE_BYTES = 1024  # DynamoDB's limit for a sort key; a partition key's is 2048


def encode(key: dict[str, Any]) -> str:
    plain = {name: value["S"] for name, value in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode().rstrip("=")


def _expected_attributes(fixed: dict[str, str]) -> set[str]:
    expected = set(_TABLE_KEY)
    for name in fixed:
        index = _INDEX_PARTITION.fullmatch(name)
        if index:
            expected |= {name, f"{index.group(1)}SK"}
    return expected


def _invalid() -> ValidationFailed:
    return ValidationFailed("The cursor is not valid; start again without it.", code="invalid_cursor")


def decode(cursor: str, *, fixed: dict[str, str], sk_prefix: str, sk_attr: str = "SK") -> dict[str, Any]:
    """The key to resume from; `fixed` attributes must hold exactly these values."""
    if (
        not isinstance(cursor, str)
        or not 0 < len(cursor) <= MAX_CURSOR_CHARS
        or not _BASE64URL.fullmatch(cursor)
    ):
        raise _invalid()
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _invalid() from None
    if not (
        isinstance(plain, dict)
        and set(plain) == _expected_attributes(fixed) | set(fixed) | {sk_attr}
        and all(_key_value(v) for v in plain.values())
        and all(plain.get(name) == value for name, value in fixed.items())
        and plain[sk_attr].startswith(sk_prefix)
    ):
        raise _invalid()
    return {name: {"S": value} for name, value in plain.items()}


def _key_value(value: Any) -> bool:
    """A string DynamoDB takes as a key value: not empty, not too long, valid UTF-8 (JSON's
    `\\ud800` escapes decode to lone surrogates, which have no UTF-8 form)."""
    if not isinstance(value, str):
        return False
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return 0 < size <= MAX_KEY_VALUE_BYTES
