"""Requests are checked against allow-lists before any service sees them."""
from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.common.strict import describe_validation_error
from chalicelib.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 64 * 1024


def parse_body(model: type[M], raw: bytes | None) -> M:
    """The JSON body as `model`; an empty body counts as `{}`. Unknown fields are refused."""
    if raw and len(raw) > MAX_BODY_BYTES:
        raise ValidationFailed(f"The request body is larger than {MAX_BODY_BYTES} bytes.", code="body_too_large")
    try:
        data = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(describe_validation_error(error)) from None


def parse_query(model: type[M], params: dict[str, str] | None) -> M:
    """The query string as `model`; unknown parameters are refused."""
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as error:
        raise ValidationFailed(describe_validation_error(error)) from None


def path_id(value: str, *, pattern: str, what: str) -> str:
    """A path parameter checked against its id format before any lookup."""
    if not re.fullmatch(pattern, value):
        raise ValidationFailed(f"This is not a valid {what} id.", code="invalid_path_id")
    return value


def parse_idempotency_key(value: str | None, *, pattern: str) -> str:
    if not value:
        raise ValidationFailed("Send an Idempotency-Key header (a new random value per payment, the same on retries).", code="idempotency_key_required")
    if not re.fullmatch(pattern.strip("^$"), value):
        raise ValidationFailed("The Idempotency-Key must be 8 to 128 letters, digits or _:.-", code="invalid_idempotency_key")
    return value
