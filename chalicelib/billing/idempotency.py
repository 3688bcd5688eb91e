"""Idempotency-Key, as the best payment APIs define it: the same key with the same request answers
the first outcome (waiting for it while it is still running, never running it twice); the same key
with another request is refused; keys are kept 24 h and scoped to the customer.

A retryable failure (503, or our own misconfiguration) is not an outcome: the key is freed and the
next retry resumes. The in-progress lock has a lease longer than a request can live (the API
function's 10 s timeout): if the first request died, a retry after the lease runs the operation
again, which must itself resume safely (a payment's id derives from the key, and its provider
idempotency key is stored on it: a resumed payment never charges twice).

A request that finds its key still running waits at most WAIT_S (well under the function's
timeout), then answers 409 `request_in_progress` with Retry-After: the app retries with the key.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib import errors
from chalicelib.common.clock import epoch, now
from chalicelib.store.db import retry_conflicts
from chalicelib.store.models import IdempotencyRecord, customer_pk

KEEP = timedelta(hours=24)
LEASE_S = 15  # > the API function's 10 s timeout: a live run never loses its lease
WAIT_S = 2.0
RETRY_AFTER_S = 2


class IdempotencyMismatch(errors.Unprocessable):
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class Outcome:
    """What the first run answered: a result, or a domain error to raise again."""

    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    def replay(self) -> dict[str, Any]:
        if self.error is not None:
            cls = getattr(errors, self.error["class"], errors.DomainError)
            raise (
                cls(self.error["message"], code=self.error["code"])
                if cls is not errors.TooManyAttempts
                else cls(self.error["message"], retry_after_s=60, code=self.error["code"])
            )
        return self.result or {}


def replay_finished(*, customer_id: str, key: str, fingerprint: str) -> dict[str, Any] | None:
    """The first outcome of a finished key (raised again if it was an error), without taking the
    key; None if the key is new or still running. One consistent GetItem: cheap enough to answer a
    retry before any rate limit is counted. The same key with another request is a 422 here too."""
    try:
        existing = IdempotencyRecord.get(customer_pk(customer_id), f"IDEMP#{key}", consistent_read=True)
    except IdempotencyRecord.DoesNotExist:
        return None
    if existing.fingerprint != fingerprint:
        raise IdempotencyMismatch(
            "This Idempotency-Key was used with another request: use a new key for a new payment."
        )
    if existing.state == "done" and existing.outcome:
        return Outcome(**json.loads(existing.outcome)).replay()
    return None


def run_once(
    *, customer_id: str, key: str, fingerprint: str, operation: Callable[[bool], dict[str, Any]]
) -> dict[str, Any]:
    """Run `operation(resumed)` once for this key; `resumed` is True when an earlier run died."""
    record = IdempotencyRecord(customer_pk(customer_id), f"IDEMP#{key}")
    # This run's mark on the claim: if botocore resends a claim whose first send was written (its
    # answer lost), the resend's failed condition finds our own mark, not another run's.
    run = secrets.token_hex(8)
    deadline = time.monotonic() + WAIT_S
    resumed = tried_take_over = False
    while True:
        moment = epoch(now())
        try:
            record.fingerprint, record.state, record.locked_until, record.claimed_by = (
                fingerprint,
                "in_progress",
                moment + LEASE_S,
                run,
            )
            record.expires_at = epoch(now() + KEEP)
            retry_conflicts(
                lambda: record.save(condition=IdempotencyRecord.PK.does_not_exist()), what="idempotency_claim"
            )
            break  # ours to run
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
        existing = IdempotencyRecord.get(record.PK, record.SK, consistent_read=True)
        if existing.state == "in_progress" and existing.claimed_by == run:
            resumed = tried_take_over  # our own claim or take-over, written by a send whose answer was lost
            break
        if existing.fingerprint != fingerprint:
            raise IdempotencyMismatch(
                "This Idempotency-Key was used with another request: use a new key for a new payment."
            )
        if existing.state == "done" and existing.outcome:
            return Outcome(**json.loads(existing.outcome)).replay()
        tried_take_over = tried_take_over or existing.locked_until < moment
        if existing.locked_until < moment and _take_over(record, existing.locked_until, moment, run):
            resumed = True  # the first run died (or freed the key on a 503): resume it
            break
        if time.monotonic() > deadline:
            raise errors.Conflict(
                "This payment is still being processed: retry with the same key in a moment.",
                code="request_in_progress",
                retry_after_s=RETRY_AFTER_S,
            )
        time.sleep(0.1)

    try:
        result = operation(resumed)
    except (errors.TemporarilyUnavailable, errors.ServiceMisconfigured):
        # Retryable (a slow provider; our settings, once fixed): not an outcome. Free the key
        # (lease over) so a retry resumes the operation.
        record.update(
            actions=[IdempotencyRecord.locked_until.set(0)],
            condition=IdempotencyRecord.state == "in_progress",
        )
        raise
    except errors.DomainError as error:
        _finish(
            record,
            Outcome(error={"class": type(error).__name__, "code": error.code, "message": error.message}),
        )
        raise
    except Exception:
        # Our own failure (DynamoDB unavailable after the SDK's retries...): not an outcome either.
        # Free the key at once so the client's retry resumes now rather than after the lease.
        # Best effort: if this fails too, the lease frees the key in LEASE_S.
        with contextlib.suppress(Exception):
            record.update(
                actions=[IdempotencyRecord.locked_until.set(0)],
                condition=IdempotencyRecord.state == "in_progress",
            )
        raise errors.TemporarilyUnavailable(
            "Something failed on our side before the payment finished: retry with the same Idempotency-Key; "
            "you will not be charged twice."
        ) from None
    _finish(record, Outcome(result=result))
    return result


def _take_over(record: IdempotencyRecord, seen_lock: float, moment: int, run: str) -> bool:
    try:
        retry_conflicts(
            lambda: record.update(
                actions=[
                    IdempotencyRecord.locked_until.set(moment + LEASE_S),
                    IdempotencyRecord.claimed_by.set(run),
                ],
                condition=(IdempotencyRecord.state == "in_progress")
                & (IdempotencyRecord.locked_until == seen_lock),
            ),
            what="idempotency_take_over",
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _finish(record: IdempotencyRecord, outcome: Outcome) -> None:
    # Plain SETs: harmless if a resend writes them twice.
    retry_conflicts(
        lambda: record.update(
            actions=[
                IdempotencyRecord.state.set("done"),
                IdempotencyRecord.outcome.set(json.dumps({"result": outcome.result, "error": outcome.error})),
            ]
        ),
        what="idempotency_finish",
    )
