"""The one exception tree of the domain.

Services raise these; they know nothing of HTTP. `chalicelib.api.responses` maps each class to a
status code in exactly one place. `code` is the stable machine-readable value the app switches on;
`message` is a sentence a person can read (never a token, key or code).
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    code = "error"
    # When set, the answer carries `Retry-After` (seconds): a 409 in progress, a 429, a 503.
    retry_after_s: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after_s: int | None = None,
        translations: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # The message in other languages ("fr" -> text), when it says more than its code's own
        # sentence (a validation error naming the field); the edge picks the request's language.
        self.translations = dict(translations or {})
        if code is not None:
            self.code = code
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class ValidationFailed(DomainError):
    code = "validation_error"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class NotFound(DomainError):
    """Unknown, or not the caller's: both look the same so ids leak nothing."""

    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class PaymentFailed(DomainError):
    """The provider refused the payment; `message` says why and what to do."""

    code = "payment_failed"


class Unprocessable(DomainError):
    code = "unprocessable"


class TemporarilyUnavailable(DomainError):
    """A dependency did not answer; the same request (same Idempotency-Key) can be retried."""

    code = "temporarily_unavailable"


class Expired(DomainError):
    code = "expired"


class TooManyAttempts(DomainError):
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code, retry_after_s=retry_after_s)


class ServiceMisconfigured(DomainError):
    """A deployment problem (missing key, bad setting): the customer can do nothing about it."""

    code = "misconfigured"
