"""Transactions on the table, on one lazily created connection (per Lambda container).

pynamodb submits a TransactWrite's actions grouped by kind (condition checks, deletes, puts,
updates), not in the order they were added, and DynamoDB reports cancellation reasons by position.
`transaction()` lets each conditional action carry a label and reports the labels whose
condition failed, so callers never reason about positions.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

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


class Transaction:
    _ORDER = ("check", "delete", "put", "update")  # the order pynamodb sends them in

    def __init__(self, tx: TransactWrite) -> None:
        self._tx = tx
        self._labels: dict[str, list[str | None]] = {kind: [] for kind in self._ORDER}

    def save(self, model: Model, condition: Condition | None = None, *, label: str | None = None) -> None:
        self._tx.save(model, condition=condition)
        self._labels["put"].append(label)

    def update(self, model: Model, actions: list[Any], condition: Condition | None = None, *, label: str | None = None) -> None:
        self._tx.update(model, actions=actions, condition=condition)
        self._labels["update"].append(label)

    def delete(self, model: Model, condition: Condition | None = None, *, label: str | None = None) -> None:
        self._tx.delete(model, condition=condition)
        self._labels["delete"].append(label)

    def check(self, model_cls: type[Model], hash_key: str, range_key: str, condition: Condition, *, label: str) -> None:
        self._tx.condition_check(model_cls, hash_key, range_key, condition=condition)
        self._labels["check"].append(label)

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
    """All or nothing. `idempotency_token` (ClientRequestToken) makes a retry within 10 min a no-op.

    Raises ConditionsFailed (with the labels) when conditions fail; other errors propagate.
    """
    tx = Transaction(TransactWrite(connection=connection(), client_request_token=idempotency_token))
    try:
        with tx._tx:
            yield tx
    except TransactWriteError as error:
        failed = tx.failed(error)
        if failed:
            raise ConditionsFailed(failed) from None
        raise
