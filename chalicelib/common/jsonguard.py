"""Untrusted JSON is measured before anything else touches it: size first, then nesting depth,
then parsing. Nothing here recurses, so no input can overflow the stack, and the work is linear in
a size already bounded."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from chalicelib.common.limits import MAX_JSON_DEPTH

# The only characters that matter to nesting: brackets, and what starts, escapes or ends a string.
_STRUCTURAL = re.compile(r'[\[\]{}"\\]')
_END = object()


class JsonRefused(ValueError):
    """Why a JSON text or value is not accepted; `reason` is "too_large", "too_deep" or "invalid"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def nesting_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays/objects in `text` nest deeper than `limit`, brackets inside strings aside.

    A scan of the structural characters only (one regex pass, then a loop over those characters),
    stopping at the first level too deep. Malformed text is left to the parser to refuse."""
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURAL.finditer(text):
        at = match.start()
        if at == escaped_at:
            continue
        char = match.group()
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_bounded(raw: bytes, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`raw` parsed, after its size and nesting were checked. UTF-8 only (RFC 8259 §8.1); NaN and
    Infinity, which Python's json accepts, are refused."""
    if len(raw) > max_bytes:
        raise JsonRefused("too_large", f"The request body is larger than {max_bytes} bytes.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JsonRefused("invalid", "The request body is not valid JSON (UTF-8).") from None
    if nesting_exceeds(text, max_depth):
        raise JsonRefused(
            "too_deep", f"The request body nests arrays and objects deeper than {max_depth} levels."
        )
    try:
        return json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise JsonRefused("invalid", "The request body is not valid JSON.") from None


class _Key(str):
    """A dict key met while walking a value (so that it is costed, and checked to be a string)."""


def _entries(mapping: dict[Any, Any]) -> Iterator[Any]:
    for key, child in mapping.items():
        if not isinstance(key, str):
            raise JsonRefused("invalid", "The event is not JSON: every key must be a string.")
        yield _Key(key)
        yield child


def check_value(value: Any, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Check an already-parsed value (an admin event: Lambda parsed it) without recursing: only
    JSON types, string keys, nesting at most `max_depth`, and at most about `max_bytes` once
    serialised. Containers are walked lazily and the walk stops at the first excess, so a huge,
    deep or cyclic value costs no more than the limit."""
    budget = max_bytes
    # One iterator per open container: the stack's height is the nesting depth.
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
            continue
        if isinstance(item, _Key):
            budget -= len(item) + 3
        elif isinstance(item, str):
            budget -= len(item) + 2
        elif item is None or isinstance(item, bool):
            budget -= 5
        elif isinstance(item, int):
            budget -= item.bit_length() // 3 + 1  # about its decimal digits, without str() of a huge int
        elif isinstance(item, float):
            budget -= 24
        elif isinstance(item, (dict, list)):
            if len(stack) > max_depth:
                raise JsonRefused(
                    "too_deep", f"The event nests arrays and objects deeper than {max_depth} levels."
                )
            budget -= 2 + len(item)  # brackets and separators, before looking inside
            stack.append(_entries(item) if isinstance(item, dict) else iter(item))
        else:
            raise JsonRefused("invalid", "The event is not JSON: it holds a value that JSON cannot express.")
        if budget < 0:
            raise JsonRefused("too_large", f"The event is larger than {max_bytes} bytes.")
