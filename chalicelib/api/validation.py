"""Requests are checked against allow-lists before any service sees them.

A body goes through, in this order and each step bounded by the one before: its size (nothing is
read past 64 KB), its nesting depth (a scan of brackets, before the parser could recurse), JSON
parsing, a card-number scan of every parsed key and value, then the model. Every refusal is a 400
whose message never repeats what was sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.common.jsonguard import JsonRefused, loads_bounded
from chalicelib.common.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH
from chalicelib.common.pan import contains_pan, refuse_card_numbers
from chalicelib.common.strict import describe_validation_error
from chalicelib.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "body_bytes",
    "parse_body",
    "parse_idempotency_key",
    "parse_query",
    "path_id",
    "read_json_body",
]

_CODES = {"too_large": "body_too_large", "too_deep": "invalid_json", "invalid": "invalid_json"}
# Query parameters whose refusal is told as the one thing the client can do about it.
_CURSOR_PARAMETER = "cursor"


def body_bytes(raw: str | bytes | None) -> bytes:
    """A request's body as the bytes that were sent. Chalice's `Request.raw_body` is typed
    `str | bytes` but gives bytes (it encodes a text body as UTF-8 itself); a text body is encoded
    the same way here, so nothing downstream ever meets a str."""
    if raw is None:
        return b""
    return raw.encode("utf-8") if isinstance(raw, str) else raw


def read_json_body(raw: bytes | None) -> Any:
    """The body as parsed JSON (an empty body is `{}`), refused before parsing when it is too
    large or nests too deep. For routes that need the JSON without a model (webhooks)."""
    if not raw:
        return {}
    try:
        return loads_bounded(raw, max_bytes=MAX_BODY_BYTES, max_depth=MAX_JSON_DEPTH)
    except JsonRefused as refused:
        raise ValidationFailed(refused.message, code=_CODES[refused.reason]) from None


def parse_body(model: type[M], raw: bytes | None) -> M:
    """The JSON body as `model`; an empty body counts as `{}`. Unknown fields are refused.

    The card-number scan covers every key and string of the body, the WebAuthn `credential`
    included: its binary members (id, rawId, clientDataJSON, authenticatorData, signature,
    attestationObject, userHandle) are base64url of at least 16 bytes, 22 characters or more with
    letters, which can never read as a standalone run of 13-19 digits, and its other members are
    short enums (`type`, `transports`); scanning it costs microseconds and keeps a card number
    smuggled there out of py_webauthn's error text and our logs."""
    data = read_json_body(raw)
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.", code="invalid_json")
    refuse_card_numbers(data)
    try:
        # strict: JSON types as sent, never coerced ("2300", true or 23.0 where a number is due,
        # "yes" or 1 where a boolean is due, are refused). Query strings, all text, are not strict.
        return model.model_validate(data, strict=True)
    except ValidationError as error:
        raise _invalid(error) from None


def _invalid(error: ValidationError) -> ValidationFailed:
    """A validation error naming the fields, in English and French (the edge picks one)."""
    return ValidationFailed(
        describe_validation_error(error),
        translations={"fr": describe_validation_error(error, language="fr")},
    )


def parse_query(model: type[M], params: Mapping[str, str] | None) -> M:
    """The query string as `model`; unknown parameters are refused, and so are card numbers."""
    values = dict(params or {})
    refuse_card_numbers(values)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        if all(issue["loc"][:1] == (_CURSOR_PARAMETER,) for issue in error.errors()):
            # Too long, or not a string: whatever it is, it is not a cursor we gave.
            raise ValidationFailed(
                "The cursor is not valid; start again without it.", code="invalid_cursor"
            ) from None
        raise _invalid(error) from None


def path_id(value: str, *, pattern: str, what: str) -> str:
    """A path parameter checked against its id format before any lookup."""
    if not re.fullmatch(pattern, value):
        raise ValidationFailed(f"This is not a valid {what} id.", code="invalid_path_id")
    return value


def parse_idempotency_key(value: str | None, *, pattern: str) -> str:
    if not value:
        raise ValidationFailed(
            "Send an Idempotency-Key header (a new random value per payment, the same on retries).",
            code="idempotency_key_required",
        )
    if not re.fullmatch(pattern.strip("^$"), value):
        raise ValidationFailed(
            "The Idempotency-Key must be 8 to 128 letters, digits or _:.-", code="invalid_idempotency_key"
        )
    if contains_pan(value):  # it is stored: never a card number, even by mistake
        raise ValidationFailed(
            "The Idempotency-Key looks like a card number: use a random value (a UUID).",
            code="card_number_refused",
        )
    return value
