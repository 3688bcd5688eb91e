"""Fault injection below the AWS SDK, for what DynamoDB Local never does: calls answered with
throttling (`ThrottlingException`, `ProvisionedThroughputExceededException`) or a 5xx before they
reach DynamoDB Local, write conflicts (a transaction cancelled with a `TransactionConflict` reason,
a conditional PutItem/UpdateItem/DeleteItem refused with `TransactionConflictException`, as AWS
does when a transaction holds one of the items at that moment), or writes sent for real with the
answer lost (the write happened, the caller saw a 500). The SDK's own retry policy (standard mode,
as pynamodb configures it) sees real error responses, so what gets through to our code is what
would get through in AWS on a bad day.

The sandbox payment provider keeps its memory in the same table (`SANDBOX#...` items), but it stands
for another company's system, not our table: its calls are never faulted, so that a test counts the
attempts that reached the provider, not the provider's own bad day.

`ensure_each` (the default): the first call eligible for each kind of fault with a non-zero
probability gets it, so that every kind is injected at least once whatever the threads'
interleaving; the draws after it are seeded.

`sdk_backoff` scales the waits of the SDK's retries (not its decisions: the same calls are retried
the same number of times), so that a test is not made of 1-second throttling backoffs; 1.0 keeps
botocore's own."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.endpoint import Endpoint
from botocore.retries.standard import ExponentialBackoff

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
SINGLE_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
THROTTLES = ("ThrottlingException", "ProvisionedThroughputExceededException")
SERVER_ERRORS = {"InternalServerError": 500, "ServiceUnavailable": 503}  # code -> HTTP status
KINDS = ("throttled", "server_error", "conflict", "lost_reply")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self._body


def _error(request: Any, status: int, kind: str, **extra: Any) -> AWSResponse:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": "injected fault", **extra}
    ).encode()
    return AWSResponse(
        request.url,
        status,
        HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}),
        _Raw(body),
    )


def _payload(request: Any) -> dict[str, Any]:
    body = getattr(request, "body", b"") or b"{}"
    try:
        parsed = json.loads(body if isinstance(body, (bytes, str)) else b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _conflict(request: Any, operation: str, payload: dict[str, Any]) -> AWSResponse:
    """What DynamoDB answers when a transaction holds one of the items at that moment: for a
    transaction, a cancellation with one reason per action, `TransactionConflict` among them; for
    a single write, TransactionConflictException."""
    if operation != "TransactWriteItems":
        return _error(request, 400, "TransactionConflictException")
    actions = len(payload.get("TransactItems", [])) or 1
    reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}] + [
        {"Code": "None"}
    ] * (actions - 1)
    return _error(request, 400, "TransactionCanceledException", CancellationReasons=reasons)


def _eligible(kind: str, operation: str, payload: dict[str, Any]) -> bool:
    if kind == "conflict":
        return operation == "TransactWriteItems" or (
            operation in SINGLE_WRITES and "ConditionExpression" in payload
        )
    if kind == "lost_reply":
        return operation in WRITES
    return True


@contextmanager
def dynamodb_faults(
    *,
    throttle: float = 0.1,
    server_error: float = 0.05,
    lost_reply: float = 0.05,
    conflict: float = 0.0,
    seed: int = 1,
    ensure_each: bool = True,
    sdk_backoff: float = 0.1,
    operations: tuple[str, ...] | None = None,
    sequence: tuple[str, ...] = (),
) -> Iterator[Counter[str]]:
    """Within the block, each DynamoDB call fails with these probabilities (`conflict`: of the
    transactions and conditional single writes; `lost_reply`: of the writes; `operations`: only
    calls of these operations, e.g. ("TransactWriteItems",); `sequence`: these faults first, in
    order, each to the next call it applies to, e.g. ("lost_reply", "conflict"): a write that
    happened, then a conflict on the SDK's resend); yields the counts (`calls`, one per kind, and
    per kind and error code or operation, e.g. `conflict:UpdateItem`)."""
    rng = random.Random(seed)
    lock = threading.Lock()
    counts: Counter[str] = Counter()
    owed = [k for k, p in zip(KINDS, (throttle, server_error, conflict, lost_reply), strict=True) if p > 0]
    owed = owed if ensure_each else []
    script = list(sequence)
    original = Endpoint._send  # type: ignore[attr-defined]
    original_delay = ExponentialBackoff.delay_amount

    def delay(self: ExponentialBackoff, context: Any) -> float:
        return float(original_delay(self, context)) * sdk_backoff

    def decide(operation: str, payload: dict[str, Any]) -> tuple[str | None, str]:
        """The fault of this call (None: none) and its detail (error code), counted."""
        with lock:
            counts["calls"] += 1
            draw, pick = rng.random(), rng.random()
            kind: str | None = None
            if script and _eligible(script[0], operation, payload):
                kind = script.pop(0)
            elif draw < throttle:
                kind = "throttled"
            elif draw < throttle + server_error:
                kind = "server_error"
            elif draw >= 1 - conflict and _eligible("conflict", operation, payload):
                kind = "conflict"
            elif draw < throttle + server_error + lost_reply and _eligible("lost_reply", operation, payload):
                kind = "lost_reply"
            if kind is None:
                kind = next((k for k in owed if _eligible(k, operation, payload)), None)
            if kind is None:
                return None, ""
            if kind in owed:
                owed.remove(kind)
            detail = operation
            if kind == "throttled":
                detail = THROTTLES[int(pick * len(THROTTLES))]
            elif kind == "server_error":
                detail = list(SERVER_ERRORS)[int(pick * len(SERVER_ERRORS))]
            counts[kind] += 1
            counts[f"{kind}:{detail}"] += 1
            return kind, detail

    def send(self: Endpoint, request: Any) -> AWSResponse:
        headers = getattr(request, "headers", {})
        target = str(headers.get("X-Amz-Target", b"") or b"")
        if "DynamoDB_" not in target:
            return original(self, request)
        operation = target.rsplit(".", 1)[-1].strip("'")
        body = getattr(request, "body", b"") or b""
        if b"SANDBOX#" in (body if isinstance(body, bytes) else str(body).encode()):
            return original(self, request)  # the payment provider's own memory: not our table
        if operations is not None and operation not in operations:
            return original(self, request)
        payload = _payload(request)
        kind, detail = decide(operation, payload)
        if kind == "throttled":
            return _error(request, 400, detail)
        if kind == "server_error":
            return _error(request, SERVER_ERRORS[detail], detail)
        if kind == "conflict":
            return _conflict(request, operation, payload)
        if kind == "lost_reply":
            original(self, request)  # it happened...
            return _error(request, 500, "InternalServerError")  # ...but the caller never knows
        return original(self, request)

    Endpoint._send = send  # type: ignore[attr-defined]
    ExponentialBackoff.delay_amount = delay  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        Endpoint._send = original  # type: ignore[attr-defined]
        ExponentialBackoff.delay_amount = original_delay  # type: ignore[method-assign]
