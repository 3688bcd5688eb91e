"""Transactions on the table, on one lazily created connection (per Lambda container).

pynamodb submits a TransactWrite's actions grouped by kind (condition checks, deletes, puts,
updates), not in the order they were added, and DynamoDB reports cancellation reasons by position.
`transaction()` lets each conditional action carry a label and reports the labels whose
condition failed, so callers never reason about positions.

In AWS, two transactions touching one item at the same moment cancel one of them with
`TransactionConflict` (DynamoDB Local serialises writes and never does). That is not an answer but
a collision: `transaction()` records the actions and, on a conflict alone, sends them again after a
short jittered wait, a bounded number of times (`CONFLICT_RETRIES`), in this one place for every
caller (inbox counters, usage line-days, payments, bids, clearing).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.store.models import Item


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


CONFLICT_RETRIES = 8
CONFLICT_BASE_S = 0.02
CONFLICT_MAX_WAIT_S = 0.5  # eight waits stay well under the Lambda timeout


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
        """Send the actions; on a TransactionConflict alone, again (bounded, jittered)."""
        for attempt in range(CONFLICT_RETRIES + 1):
            write = TransactWrite(connection=connection(), client_request_token=idempotency_token)
            try:
                with write:
                    for add in self._actions:
                        add(write)
                return
            except TransactWriteError as error:
                failed = self.failed(error)
                if failed:
                    raise ConditionsFailed(failed) from None
                if not _conflict(error) or attempt == CONFLICT_RETRIES:
                    raise
            time.sleep(
                random.uniform(0, min(CONFLICT_MAX_WAIT_S, CONFLICT_BASE_S * 2**attempt))  # noqa: S311 - jitter
            )  # full jitter

    def failed(self, error: TransactWriteError) -> set[str]:
        positions = [label for kind in self._ORDER for label in self._labels[kind]]
        reasons = error.cancellation_reasons or []
        return {
            positions[i] or f"action-{i}"
            for i, reason in enumerate(reasons)
            if reason is not None and reason.code == "ConditionalCheckFailed" and i < len(positions)
        }


def _conflict(error: TransactWriteError) -> bool:
    if error.cause_response_code == "TransactionConflictException":
        return True
    return any(
        reason is not None and reason.code == "TransactionConflict"
        for reason in (error.cancellation_reasons or [])
    )


@contextmanager
def transaction(*, idempotency_token: str | None = None) -> Iterator[Transaction]:
    """All or nothing. `idempotency_token` (ClientRequestToken) makes a retry within 10 min a no-op.

    The block only records actions; they are sent when it ends (not at all if it raises).
    Raises ConditionsFailed (with the labels) when conditions fail; other errors propagate.
    """
    tx = Transaction()
    yield tx
    tx.commit(idempotency_token=idempotency_token)
