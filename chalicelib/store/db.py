"""Transactions on the table, raw Queries, and the one retry of write conflicts, on one lazily
created connection (per Lambda container).

pynamodb submits a TransactWrite's actions grouped by kind (condition checks, deletes, puts,
updates), not in the order they were added, and DynamoDB reports cancellation reasons by position.
`transaction()` lets each conditional action carry a label and reports the labels whose
condition failed, so callers never reason about positions.

Write conflicts. In AWS, a transaction that touches an item another transaction is writing at the
same moment is cancelled with the reason `TransactionConflict`, and a single PutItem, UpdateItem or
DeleteItem on such an item fails with `TransactionConflictException` (DynamoDB Local serialises
writes and never does either; tests/support/faults.py injects both). Neither is an answer, only a
collision in which that call wrote nothing, and botocore does not retry them. `retry_conflicts` is the
one place that does: the write again after a full-jitter wait, CONFLICT_RETRIES times at most, then
TemporarilyUnavailable (a 503 the client may retry). `transaction()` commits through it, and every
single-item write to a hot item goes through it (the inbox counter and items, devices, usage
line-days, bids, an offer's clearing). A failed condition (`ConditionalCheckFailed`) is the
database's answer, never a conflict: it is raised at once, never retried.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.errors import TemporarilyUnavailable
from chalicelib.observability.log import log_event
from chalicelib.store.models import Item

T = TypeVar("T")

CONFLICT_RETRIES = 8
CONFLICT_BASE_S = 0.02
CONFLICT_MAX_WAIT_S = 0.5  # eight waits stay well under the Lambda timeout

# The errors a write can end with: pynamodb wraps botocore's ClientError (its `cause`) in these.
_WRITE_ERRORS = (TransactWriteError, PutError, UpdateError, DeleteError)


class ConditionsFailed(Exception):
    """The transaction was cancelled because these labelled conditions did not hold."""

    def __init__(self, labels: set[str]) -> None:
        super().__init__(", ".join(sorted(labels)))
        self.labels = labels


@lru_cache(maxsize=1)
def connection() -> Connection:
    meta = Item.Meta
    return Connection(
        region=meta.region,
        host=meta.host,
        max_retry_attempts=meta.max_retry_attempts,
        connect_timeout_seconds=meta.connect_timeout_seconds,
        read_timeout_seconds=meta.read_timeout_seconds,
    )


@lru_cache(maxsize=1)
def _described() -> Connection:
    """The shared connection, with the table's key schema learnt (one DescribeTable per container):
    pynamodb's low-level Query needs the key names to build its key condition."""
    conn = connection()
    conn.describe_table(Item.Meta.table_name)
    return conn


def query_raw(
    partition: str,
    range_key_condition: Condition | None = None,
    *,
    attributes_to_get: list[str] | None = None,
    consistent_read: bool = False,
) -> Iterator[dict[str, Any]]:
    """Every item of a Query on the table, raw (DynamoDB JSON), page by page: for reads of
    thousands of items where building a pynamodb model per item would cost more than the Query."""
    start: dict[str, Any] | None = None
    while True:
        page = _described().query(
            Item.Meta.table_name,
            partition,
            range_key_condition=range_key_condition,
            attributes_to_get=attributes_to_get,
            consistent_read=consistent_read,
            exclusive_start_key=start,
        )
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


# --- write conflicts ------------------------------------------------------------------------------------


def is_conflict(error: BaseException) -> bool:
    """Whether a write failed only because a transaction held one of its items (nothing written)."""
    if not isinstance(error, _WRITE_ERRORS):
        return False
    if error.cause_response_code == "TransactionConflictException":
        return True
    return isinstance(error, TransactWriteError) and any(
        reason is not None and reason.code == "TransactionConflict"
        for reason in (error.cancellation_reasons or [])
    )


def retry_conflicts(write: Callable[[], T], *, what: str = "write") -> T:
    """`write()`, again after a short full-jitter wait while it fails with a write conflict alone,
    CONFLICT_RETRIES times at most; then TemporarilyUnavailable. Any other error (a failed
    condition, throttling past botocore's own retries) propagates at once.

    A conflict means this call wrote nothing, but it may answer botocore's resend of a call whose
    first send did write (its answer lost). So `write` must be harmless twice: plain SETs, or a
    condition that its own earlier success fails (a marker, a single-use key, `read_at` absent),
    never a bare ADD."""
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            return write()
        except _WRITE_ERRORS as error:
            if not is_conflict(error):
                raise
            if attempt == CONFLICT_RETRIES:
                log_event("write_conflicts_exhausted", level=logging.WARNING, what=what, attempts=attempt + 1)
                raise TemporarilyUnavailable(
                    "Too many changes to the same data at once: try again in a moment."
                ) from error
        time.sleep(
            random.uniform(0, min(CONFLICT_MAX_WAIT_S, CONFLICT_BASE_S * 2**attempt))  # noqa: S311 - jitter
        )
    raise AssertionError("unreachable")


_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)


def is_transient(error: BaseException) -> bool:
    """Whether a DynamoDB call failed for a reason of the moment (throttled past botocore's
    retries, a 5xx, a write conflict past our retries, the endpoint unreachable), not an answer:
    the same request may succeed in a moment, so the edge answers 503 with Retry-After, not 500."""
    if isinstance(error, TemporarilyUnavailable):
        return True
    if is_conflict(error):
        return True
    if isinstance(error, PynamoDBException):
        if error.cause_response_code in _TRANSIENT_CODES:
            return True
        cause = error.cause
        return isinstance(cause, BaseException) and cause is not error and is_transient(cause)
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) in _TRANSIENT_CODES
    return isinstance(error, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError))


# --- transactions ---------------------------------------------------------------------------------------


class Transaction:
    _ORDER = ("check", "delete", "put", "update")  # the order pynamodb sends them in

    def __init__(self) -> None:
        self._actions: list[Callable[[TransactWrite], None]] = []
        self._labels: dict[str, list[str | None]] = {kind: [] for kind in self._ORDER}

    def save(self, model: Model, condition: Condition | None = None, *, label: str | None = None) -> None:
        self._actions.append(lambda write: write.save(model, condition=condition))
        self._labels["put"].append(label)

    def update(
        self,
        model: Model,
        actions: list[Any],
        condition: Condition | None = None,
        *,
        label: str | None = None,
    ) -> None:
        self._actions.append(lambda write: write.update(model, actions=actions, condition=condition))
        self._labels["update"].append(label)

    def delete(self, model: Model, condition: Condition | None = None, *, label: str | None = None) -> None:
        self._actions.append(lambda write: write.delete(model, condition=condition))
        self._labels["delete"].append(label)

    def check(
        self, model_cls: type[Model], hash_key: str, range_key: str, condition: Condition, *, label: str
    ) -> None:
        self._actions.append(
            lambda write: write.condition_check(model_cls, hash_key, range_key, condition=condition)
        )
        self._labels["check"].append(label)

    def commit(self, *, idempotency_token: str | None) -> None:
        """Send the actions through `retry_conflicts`; failed conditions raise ConditionsFailed."""

        def send() -> None:
            write = TransactWrite(connection=connection(), client_request_token=idempotency_token)
            try:
                with write:
                    for add in self._actions:
                        add(write)
            except TransactWriteError as error:
                failed = self.failed(error)
                if failed:
                    raise ConditionsFailed(failed) from None
                raise

        retry_conflicts(send, what="transaction")

    def failed(self, error: TransactWriteError) -> set[str]:
        positions = [label for kind in self._ORDER for label in self._labels[kind]]
        reasons = error.cancellation_reasons or []
        return {
            positions[i] or f"action-{i}"
            for i, reason in enumerate(reasons)
            if reason is not None and reason.code == "ConditionalCheckFailed" and i < len(positions)
        }


@contextmanager
def transaction(*, idempotency_token: str | None = None) -> Iterator[Transaction]:
    """All or nothing. botocore gives each TransactWriteItems call a ClientRequestToken of its own
    (the API marks it an idempotency token), kept on its own resends: a resend after a lost answer
    changes nothing twice. Each retry after a conflict is a new call with a new token, which is
    right since a conflict wrote nothing; but a conflict may also answer the resend of an attempt
    that did commit, its first answer lost. So a transaction with an unconditional ADD carries a
    condition that its own earlier commit would fail (a marker, a single-use key), never a bare
    ADD. `idempotency_token`: the caller's own, sent on every attempt (rarely needed).

    The block only records actions; they are sent when it ends (not at all if it raises).
    Raises ConditionsFailed (with the labels) when conditions fail, TemporarilyUnavailable when
    write conflicts outlast the retries; other errors propagate.
    """
    tx = Transaction()
    yield tx
    tx.commit(idempotency_token=idempotency_token)
