"""Domain errors become HTTP responses here and nowhere else."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chalice.app import Request, Response

from chalicelib.api import language
from chalicelib.api.messages import in_language
from chalicelib.errors import (
    Conflict,
    DomainError,
    Expired,
    NotFound,
    PaymentFailed,
    ServiceMisconfigured,
    TemporarilyUnavailable,
    TooManyAttempts,
    Unauthenticated,
    Unprocessable,
    ValidationFailed,
)
from chalicelib.observability.log import log_event
from chalicelib.store.db import is_transient

STATUS: dict[type[DomainError], int] = {
    ValidationFailed: 400,
    Unauthenticated: 401,
    PaymentFailed: 402,
    NotFound: 404,
    Conflict: 409,
    Expired: 410,
    Unprocessable: 422,
    TooManyAttempts: 429,
    ServiceMisconfigured: 500,
    TemporarilyUnavailable: 503,
}

# Chalice's own error codes (405, 415, 400, 500 it builds itself) → ours.
_CHALICE_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "BadRequest": "bad_request",
    "BadRequestError": "bad_request",
    "InternalServerError": "internal_error",
}

# Our words for them: Chalice's messages repeat what the client sent (`Unsupported media type: <its
# Content-Type>`), and no library text reaches a client.
_CHALICE_MESSAGES = {
    "method_not_allowed": "This method is not allowed on this route.",
    "unsupported_media_type": "Send the body as JSON (Content-Type: application/json).",
    "bad_request": "The request could not be read.",
    "internal_error": "The service had a problem; please try again.",
}

F = TypeVar("F", bound=Callable[..., Any])


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str | list[str]] | None = None,
    translations: Mapping[str, str] | None = None,
) -> Response:
    """The one error body, its message in the request's language (chalicelib/api/messages.py)."""
    return Response(
        body={"error": {"code": code, "message": in_language(code, message, translations)}},
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def from_domain_error(error: DomainError) -> Response:
    status = next((s for cls, s in STATUS.items() if isinstance(error, cls)), 500)
    headers: dict[str, str] = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    elif isinstance(error, TemporarilyUnavailable):
        headers["Retry-After"] = "2"
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(status, error.code, error.message, headers, error.translations)


def handled(view: F) -> F:
    """Every view is wrapped in this: domain errors map to their status, anything else is a 500
    whose body says nothing of the cause (the log has it)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DomainError as error:
            return from_domain_error(error)
        except Exception as error:  # noqa: BLE001 - the edge of the service: nothing escapes unshaped
            import traceback

            if is_transient(error):
                # DynamoDB throttled, failed or conflicted past every retry: a moment's trouble, not
                # a fault of ours or of the request. 503 tells the app to retry (same key).
                log_event(
                    "dependency_unavailable",
                    level=logging.WARNING,
                    view=view.__name__,
                    error=type(error).__name__,
                )
                return from_domain_error(
                    TemporarilyUnavailable("The service is busy; please try again in a moment.")
                )

            # One JSON line, like every other; the frames say where, the type what (no locals).
            where = [
                f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}"
                for f in traceback.extract_tb(error.__traceback__)
            ][-5:]
            log_event(
                "unhandled_error",
                level=logging.ERROR,
                view=view.__name__,
                error=type(error).__name__,
                where=where,
            )
            return error_response(500, "internal_error", "The service had a problem; please try again.")

    wrapper.__selfcare_handled__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=body, status_code=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def no_content() -> Response:
    return Response(body="", status_code=204)


def normalise_chalice_error(response: Response) -> Response:
    """Chalice answers some requests itself (`{"Code", "Message"}`): give them our error shape."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body and "error" not in body:
        code = _CHALICE_CODES.get(
            str(body["Code"]), "bad_request" if response.status_code < 500 else "internal_error"
        )
        message = _CHALICE_MESSAGES["internal_error" if response.status_code >= 500 else code]
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
        return error_response(response.status_code, code, message, headers)
    return response


# Documents anyone may fetch and cache (each route sets its own Cache-Control, or none).
PUBLIC_PREFIX = "/.well-known/"


def apply_cache_policy(route: str | None, response: Response) -> Response:
    """Nothing personal is kept by a cache (the app's HTTP stack, a proxy, a CDN): every answer is
    `no-store`, errors included, except the public .well-known documents when they succeed, which
    keep whatever caching their route chose."""
    if response.status_code < 400 and (route or "").startswith(PUBLIC_PREFIX):
        return response
    headers = {k: v for k, v in (response.headers or {}).items() if k.lower() != "cache-control"}
    headers["Cache-Control"] = "no-store"
    response.headers = headers
    return response


def access_log_middleware(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """One structured line per request: route, status, latency, caller (hashed), request id; and
    the cache policy, set here once for every route; and the language of error messages."""
    started = time.perf_counter()
    context = request.context or {}
    chosen = language.use(language.language_of(request.headers.get("accept-language")))
    try:
        response = apply_cache_policy(
            context.get("resourcePath"), normalise_chalice_error(get_response(request))
        )
    finally:
        language.reset(chosen)
    authorizer = context.get("authorizer") or {}
    log_event(
        "http_request",
        method=request.method,
        route=context.get("resourcePath"),
        status=response.status_code,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        request_id=context.get("requestId"),
        customer_id=authorizer.get("principalId"),
    )
    return response


def json_dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))
