"""The API Gateway authorizer's decision, and reading its result in a route."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chalice.app import AuthRequest, AuthResponse, Request

from chalicelib.auth import sessions, tokens
from chalicelib.errors import TemporarilyUnavailable, Unauthenticated
from chalicelib.observability.log import log_event

if TYPE_CHECKING:
    from chalicelib.auth.tokens import Principal


def authorize(auth_request: AuthRequest, *, refuse_all: bool = False) -> AuthResponse | dict[str, Any]:
    """Allow the request with the token's customer and session, or deny it explicitly.

    API Gateway answers a deny with 401 (the gateway responses in infra/ give it our JSON error
    shape); the route then never runs. `refuse_all`: a deployed stage with unsafe settings.

    A token we cannot check because our own keys are unreadable is neither allowed nor denied
    (a 401 would sign the customer out for our outage): TemporarilyUnavailable propagates, the
    authorizer function fails, and API Gateway answers its authorizer-failure response, a 503
    `temporarily_unavailable` with Retry-After (infra/resources.json). A token that is bad on its
    face (malformed, another algorithm or type) is still denied without reading any key.
    """
    try:
        if refuse_all:
            raise Unauthenticated(
                "The service refuses to run with these settings.", code="service_misconfigured"
            )
        principal = tokens.principal_from_header(auth_request.token)
    except TemporarilyUnavailable as unavailable:
        log_event("access_unverifiable", level=logging.ERROR, reason=unavailable.code)
        raise
    except Unauthenticated as refused:
        log_event("access_refused", reason=refused.code)
        return {
            "principalId": "anonymous",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [auth_request.method_arn]}
                ],
            },
        }
    return AuthResponse(
        routes=["*"], principal_id=principal.customer_id, context={"session_id": principal.session_id}
    )


def principal(request: Request) -> Principal:
    """The caller, as the authorizer proved it: the only source of a route's customer id."""
    authorizer = (request.context or {}).get("authorizer") or {}
    customer_id, session_id = authorizer.get("principalId"), authorizer.get("session_id")
    if not customer_id or not session_id or customer_id == "anonymous":
        raise Unauthenticated("A valid access token is required.")
    return tokens.Principal(customer_id=str(customer_id), session_id=str(session_id))


def live_principal(request: Request) -> Principal:
    """The caller, on a session that has not ended (one consistent read): factor, session, contact
    and money routes use this; read-only views rely on the access token's 15-minute expiry."""
    me = principal(request)
    sessions.require_live(customer_id=me.customer_id, session_id=me.session_id)
    return me
