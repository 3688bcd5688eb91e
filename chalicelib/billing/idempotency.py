"""Idempotency-Key, as the best payment APIs define it: the same key with the same request answers
the first outcome (waiting for it while it is still running, never running it twice); the same key
with another request is refused; keys are kept 24 h and scoped to the customer.

A retryable failure (503, or our own misconfiguration) is not an outcome: the key is freed and the
next retry resumes. The in-progress lock has a lease longer than a request can live (the API
function's 10 s timeout): if the first request died, a retry after the lease runs the operation
again, which must itself resume safely (a payment's id derives from the key, and its provider
idempotency key is stored on it: a resumed payment never charges twice).

The claim is `run_once`'s conditional PutItem, or an action of the caller's own transaction
(`new_claim`, `claim_in`: a payment claims its key in the transaction that creates it), whose
outcome the caller may write in its last transaction too (`finish_in`); `run_claimed` then records
what that did not.

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
from chalicelib.store.db import Transaction, retry_conflicts
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


def record_key(customer_id: str, key: str) -> tuple[str, str]:
    return customer_pk(customer_id), f"IDEMP#{key}"


def answered(existing: IdempotencyRecord, fingerprint: str) -> dict[str, Any] | None:
    """What a record already read says: the same key with another request is a 422; a finished
    key answers its first outcome (raised again if it was an error); None while it runs."""
    if existing.fingerprint != fingerprint:
        raise IdempotencyMismatch(
            "This Idempotency-Key was used with another request: use a new key for a new payment."
        )
    if existing.state == "done" and existing.outcome:
        return Outcome(**json.loads(existing.outcome)).replay()
    return None


def replay_finished(*, customer_id: str, key: str, fingerprint: str) -> dict[str, Any] | None:
    """The first outcome of a finished key (raised again if it was an error), without taking the
    key; None if the key is new or still running. One consistent GetItem: cheap enough to answer a
    retry before any rate limit is counted. The same key with another request is a 422 here too."""
    try:
        existing = IdempotencyRecord.get(*record_key(customer_id, key), consistent_read=True)
    except IdempotencyRecord.DoesNotExist:
        return None
    return answered(existing, fingerprint)


@dataclass
class Claim:
    """A key claimed inside the caller's own transaction (`claim_in`) rather than by `run_once`'s
    PutItem: the record as written, this run's mark, and whether the outcome was written already
    (in the caller's last transaction, `finish_in`)."""

    record: IdempotencyRecord
    run: str
    finished: bool = False


def new_claim(*, customer_id: str, key: str, fingerprint: str) -> Claim:
    record = IdempotencyRecord(*record_key(customer_id, key))
    record.fingerprint, record.state, record.locked_until = fingerprint, "in_progress", epoch(now()) + LEASE_S
    record.claimed_by, record.expires_at = secrets.token_hex(8), epoch(now() + KEEP)
    return Claim(record=record, run=record.claimed_by)


def claim_in(tx: Transaction, claim: Claim) -> None:
    """The claim as one action of `tx` (label "idempotency": the key is taken, or was by a resend
    of this very transaction, see `is_ours`)."""
    tx.save(claim.record, condition=IdempotencyRecord.PK.does_not_exist(), label="idempotency")


def refuse_in(tx: Transaction, claim: Claim, error: errors.DomainError) -> None:
    """The key taken and finished at once with this refusal (label "idempotency")."""
    claim.record.state, claim.record.outcome = "done", json.dumps({"result": None, "error": _error_of(error)})
    tx.save(claim.record, condition=IdempotencyRecord.PK.does_not_exist(), label="idempotency")


def finish_in(
    tx: Transaction, claim: Claim, *, result: dict[str, Any] | None, error: errors.DomainError | None
) -> None:
    """The outcome, written by the caller's transaction (plain SETs, as `_finish`); mark the claim
    `finished` once that transaction committed."""
    tx.update(
        claim.record,
        actions=[
            IdempotencyRecord.state.set("done"),
            IdempotencyRecord.outcome.set(
                json.dumps({"result": result, "error": _error_of(error) if error is not None else None})
            ),
        ],
    )


def is_ours(claim: Claim) -> bool:
    """Whether the key is held by this run: a transaction that failed its claim's condition may be
    the resend of one that committed (its answer lost), which wrote this run's mark."""
    try:
        existing = IdempotencyRecord.get(claim.record.PK, claim.record.SK, consistent_read=True)
    except IdempotencyRecord.DoesNotExist:
        return False
    return existing.state == "in_progress" and existing.claimed_by == claim.run


def release(claim: Claim) -> None:
    """Free a key this run may hold (lease over), best effort: after a claim whose transaction
    failed without an answer, it may or may not have been written."""
    with contextlib.suppress(Exception):
        claim.record.update(
            actions=[IdempotencyRecord.locked_until.set(0)],
            condition=(IdempotencyRecord.state == "in_progress")
            & (IdempotencyRecord.claimed_by == claim.run),
        )


def _error_of(error: errors.DomainError) -> dict[str, str]:
    return {"class": type(error).__name__, "code": error.code, "message": error.message}


def run_once(
    *, customer_id: str, key: str, fingerprint: str, operation: Callable[[bool], dict[str, Any]]
) -> dict[str, Any]:
    """Run `operation(resumed)` once for this key; `resumed` is True when an earlier run died."""
    record = IdempotencyRecord(*record_key(customer_id, key))
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
        answer = answered(existing, fingerprint)
        if answer is not None:
            return answer
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

    return run_claimed(Claim(record=record, run=run), lambda: operation(resumed))


def run_claimed(claim: Claim, operation: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `operation()` under a claim held by this run and record its outcome (unless the
    operation wrote it already: `claim.finished`). A retryable failure frees the key instead."""
    record = claim.record
    try:
        result = operation()
    except (errors.TemporarilyUnavailable, errors.ServiceMisconfigured):
        # Retryable (a slow provider; our settings, once fixed): not an outcome. Free the key
        # (lease over) so a retry resumes the operation.
        record.update(
            actions=[IdempotencyRecord.locked_until.set(0)],
            condition=IdempotencyRecord.state == "in_progress",
        )
        raise
    except errors.DomainError as error:
        if not claim.finished:
            _finish(record, Outcome(error=_error_of(error)))
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
    if not claim.finished:
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
