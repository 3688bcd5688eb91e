"""Fault injection below the AWS SDK: DynamoDB calls answered with throttling or a 500 before they
reach DynamoDB Local, transactions cancelled by a TransactionConflict (as AWS does when two touch
one item at once; DynamoDB Local never does), or sent for real with the answer lost (the write
happened, the caller saw a 500). The SDK's own retry policy (standard mode, as pynamodb configures it) sees real error
responses, so what gets through to our code is what would get through in AWS on a bad day."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.endpoint import Endpoint

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


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
        {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"},
        _Raw(body),
    )


def _conflict(request: Any) -> AWSResponse:
    """What DynamoDB answers when another transaction touched one of the items at the same moment:
    the transaction is cancelled, one reason per action, `TransactionConflict` among them."""
    body = getattr(request, "body", b"") or b"{}"
    actions = len(json.loads(body if isinstance(body, (bytes, str)) else b"{}").get("TransactItems", [])) or 1
    reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}] + [
        {"Code": "None"}
    ] * (actions - 1)
    return _error(request, 400, "TransactionCanceledException", CancellationReasons=reasons)


@contextmanager
def dynamodb_faults(
    *,
    throttle: float = 0.1,
    server_error: float = 0.05,
    lost_reply: float = 0.05,
    conflict: float = 0.0,
    seed: int = 1,
) -> Iterator[Counter[str]]:
    """Within the block, each DynamoDB call fails with these probabilities; yields the counts."""
    rng = random.Random(seed)
    lock = threading.Lock()
    counts: Counter[str] = Counter()
    original = Endpoint._send

    def send(self: Endpoint, request: object) -> AWSResponse:
        headers = getattr(request, "headers", {})
        target = str(headers.get("X-Amz-Target", b"") or b"")
        if "DynamoDB_" not in target:
            return original(self, request)
        operation = target.rsplit(".", 1)[-1].strip("'")
        with lock:
            draw = rng.random()
        counts["calls"] += 1
        if draw < throttle:
            counts["throttled"] += 1
            return _error(request, 400, "ThrottlingException")
        if draw < throttle + server_error:
            counts["server_error"] += 1
            return _error(request, 500, "InternalServerError")
        if operation == "TransactWriteItems" and draw >= 1 - conflict:
            counts["conflict"] += 1
            return _conflict(request)
        if draw < throttle + server_error + lost_reply and operation in WRITES:
            original(self, request)  # it happened...
            counts["lost_reply"] += 1
            return _error(request, 500, "InternalServerError")  # ...but the caller never knows
        return original(self, request)

    Endpoint._send = send  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        Endpoint._send = original  # type: ignore[method-assign]
