"""The edge of the admin Lambda functions: validate the console's JSON event, run, answer JSON.

Admins read the answer in the console's Test pane, so errors are returned as `{"error": {...}}`
(not raised) with a message that says what to fix. Whatever the event holds, the answer is one of
these: the event is checked (an object, its nesting depth and size, no card number) before the
model sees it, and an unexpected failure is answered as `internal_error` with the cause in the log.

Every admin event may carry `operator` (who ran it: a name or an email); it is taken out before
the event is validated and logged with the Lambda request id, so each change names who made it.
The log line holds neither the event nor the result (which may hold an activation code).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.common.jsonguard import JsonRefused, check_value
from chalicelib.common.limits import MAX_ADMIN_EVENT_BYTES, MAX_JSON_DEPTH
from chalicelib.common.pan import refuse_card_numbers
from chalicelib.common.strict import describe_validation_error
from chalicelib.errors import DomainError, ValidationFailed
from chalicelib.observability.log import log_event

E = TypeVar("E", bound=BaseModel)

OPERATOR_FIELD = "operator"
MAX_OPERATOR_CHARS = 120
_EVENT_CODES = {"too_large": "event_too_large", "too_deep": "invalid_event", "invalid": "invalid_event"}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _checked(event: Any) -> tuple[dict[str, Any], str | None]:
    """The event's fields without `operator`, and the operator; refused (ValidationFailed) when the
    event is not a JSON object, too deep, too large, or holds a card number or a bad operator."""
    if not isinstance(event, dict):
        raise ValidationFailed(
            'The event must be a JSON object, e.g. {"customer_number": "C-1001"}.', code="invalid_event"
        )
    try:
        check_value(event, max_bytes=MAX_ADMIN_EVENT_BYTES, max_depth=MAX_JSON_DEPTH)
    except JsonRefused as refused:
        raise ValidationFailed(refused.message, code=_EVENT_CODES[refused.reason]) from None
    refuse_card_numbers(event)
    operator = event.get(OPERATOR_FIELD)
    if operator is not None and not (
        isinstance(operator, str) and 0 < len(operator.strip()) <= MAX_OPERATOR_CHARS
    ):
        raise ValidationFailed(
            f"operator: who runs this (a name or an email), at most {MAX_OPERATOR_CHARS} characters."
        )
    fields = {name: value for name, value in event.items() if name != OPERATOR_FIELD}
    return fields, operator.strip() if operator else None


def run_admin(
    action: Callable[[E], dict[str, Any]], event_model: type[E], event: Any, *, context: Any = None
) -> dict[str, Any]:
    name = getattr(action, "__name__", "admin")
    operator: str | None = None
    try:
        fields, operator = _checked(event)
        parsed = event_model.model_validate(fields)
        result = action(parsed)
    except ValidationError as error:
        result = _error("validation_error", describe_validation_error(error))
    except DomainError as error:
        result = _error(error.code, error.message)
    except Exception as error:  # noqa: BLE001 - the console gets a JSON answer, never a stack trace
        where = [
            f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in traceback.extract_tb(error.__traceback__)
        ][-5:]
        log_event("unhandled_error", level=logging.ERROR, view=name, error=type(error).__name__, where=where)
        result = _error(
            "internal_error",
            "The function had a problem; see its log (search for the request id) and try again.",
        )
    failure = result.get("error") if isinstance(result, dict) else None
    log_event(
        "admin_action",
        action=name,
        ok=failure is None,
        error=failure.get("code") if isinstance(failure, dict) else None,
        operator=operator,
        request_id=getattr(context, "aws_request_id", None),
    )
    return result
