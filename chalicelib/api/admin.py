"""The edge of the admin Lambda functions: validate the console's JSON event, run, answer JSON.

Admins read the answer in the console's Test pane, so errors are returned as `{"error": {...}}`
(not raised) with a message that says what to fix.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.common.strict import describe_validation_error
from chalicelib.errors import DomainError
from chalicelib.observability.log import log_event

E = TypeVar("E", bound=BaseModel)


def run_admin(action: Callable[[E], dict[str, Any]], event_model: type[E], event: Any) -> dict[str, Any]:
    name = getattr(action, "__name__", "admin")
    try:
        parsed = event_model.model_validate(event if isinstance(event, dict) else {})
        result = action(parsed)
    except ValidationError as error:
        result = {"error": {"code": "validation_error", "message": describe_validation_error(error)}}
    except DomainError as error:
        result = {"error": {"code": error.code, "message": error.message}}
    log_event("admin_action", action=name, ok="error" not in result, error=result.get("error", {}).get("code"))
    return result
