"""The agents' console: Lambda functions run from the AWS console (samples in infra/admin-events/),
each `(event, context) -> dict` so that app.py's wrapper is one line.

Every event goes through `run_admin` (checked, no card number, errors as `{"error": ...}`). The
steps an agent takes are in the case's timeline with who took them: the event's `operator` (a name
or an email, required for every change; shown to agents, never to the customer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from chalicelib.api.admin import OPERATOR_FIELD, run_admin
from chalicelib.cases import callcodes, schemas, service
from chalicelib.errors import ValidationFailed

E = TypeVar("E", bound=BaseModel)


def _operator(event: Any) -> str:
    """Who runs a change; run_admin has checked its format before the action runs."""
    operator = event.get(OPERATOR_FIELD) if isinstance(event, dict) else None
    if not isinstance(operator, str) or not operator.strip():
        raise ValidationFailed(
            'operator: who runs this (a name or an email) is required: it goes in the case\'s timeline, e.g. "operator": "camille.n2"'
        )
    return operator.strip()


def _with_operator(
    name: str, action: Callable[[E, str], dict[str, Any]], event: Any
) -> Callable[[E], dict[str, Any]]:
    def run(parsed: E) -> dict[str, Any]:
        return action(parsed, _operator(event))

    run.__name__ = name  # run_admin logs the action by this name
    return run


def case_list(event: Any, context: Any = None) -> dict[str, Any]:
    """Open cases by age (oldest first) and topic: `{"topic"?, "status"?, "limit"?}`."""

    def admin_case_list(parsed: schemas.CaseListEvent) -> dict[str, Any]:
        return service.queue(topic=parsed.topic, status=parsed.status, limit=parsed.limit)

    return run_admin(admin_case_list, schemas.CaseListEvent, event, context=context)


def case_context(event: Any, context: Any = None) -> dict[str, Any]:
    """Everything about a case and its customer, in one read: `{"customer_id", "case_id"}`."""

    def admin_case_context(parsed: schemas.CaseRefEvent) -> dict[str, Any]:
        return service.agent_context(customer_id=parsed.customer_id, case_id=parsed.case_id)

    return run_admin(admin_case_context, schemas.CaseRefEvent, event, context=context)


def case_reply(event: Any, context: Any = None) -> dict[str, Any]:
    """`{"customer_id", "case_id", "message", "operator"}`: the customer gets a push and an inbox item."""

    def reply(parsed: schemas.CaseReplyEvent, operator: str) -> dict[str, Any]:
        return service.agent_reply(
            customer_id=parsed.customer_id, case_id=parsed.case_id, message=parsed.message, operator=operator
        )

    return run_admin(
        _with_operator("admin_case_reply", reply, event), schemas.CaseReplyEvent, event, context=context
    )


def case_request_document(event: Any, context: Any = None) -> dict[str, Any]:
    """`{"customer_id", "case_id", "what", "operator"}`: ask the customer for a document."""

    def ask(parsed: schemas.CaseRequestDocumentEvent, operator: str) -> dict[str, Any]:
        return service.request_document(
            customer_id=parsed.customer_id, case_id=parsed.case_id, what=parsed.what, operator=operator
        )

    return run_admin(
        _with_operator("admin_case_request_document", ask, event),
        schemas.CaseRequestDocumentEvent,
        event,
        context=context,
    )


def case_resolve(event: Any, context: Any = None) -> dict[str, Any]:
    """`{"customer_id", "case_id", "reason", "operator"}`: resolved, with the reason the customer reads."""

    def resolve(parsed: schemas.CaseResolveEvent, operator: str) -> dict[str, Any]:
        return service.resolve(
            customer_id=parsed.customer_id, case_id=parsed.case_id, reason=parsed.reason, operator=operator
        )

    return run_admin(
        _with_operator("admin_case_resolve", resolve, event), schemas.CaseResolveEvent, event, context=context
    )


def call_code_verify(event: Any, context: Any = None) -> dict[str, Any]:
    """`{"code", "operator"}`: the caller and their case, or `call_code_invalid` / `call_codes_locked`."""

    def verify(parsed: schemas.CallCodeVerifyEvent, operator: str) -> dict[str, Any]:
        return callcodes.verify(code=parsed.code, operator=operator)

    return run_admin(
        _with_operator("admin_call_code_verify", verify, event),
        schemas.CallCodeVerifyEvent,
        event,
        context=context,
    )


def case_lost_phone(event: Any, context: Any = None) -> dict[str, Any]:
    """`{"customer_id", "line_id", "reason", "identity_check", "reset_passkeys"?, "operator"}`: the
    customer lost their only phone (cases/lost_phone.py): a case, the line suspended, sessions ended,
    and with `reset_passkeys` a new activation letter (shown once)."""
    from chalicelib.cases import lost_phone

    return run_admin(
        _with_operator("admin_case_lost_phone", lost_phone.report_lost_phone, event),
        lost_phone.LostPhoneEvent,
        event,
        context=context,
    )
