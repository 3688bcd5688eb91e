"""What the billing batch jobs (the payment sweeper, autopay, reminders) share: items read raw from
an index, so that one malformed item cannot stop the read of the others, and each item handled on
its own (an item that fails is logged and counted, and the job goes on with the next)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

from pynamodb.connection import Connection

from chalicelib.observability import metrics
from chalicelib.observability.log import log_event
from chalicelib.store.db import connection
from chalicelib.store.models import Item, Payment

Raw = dict[str, Any]


def count(name: str, value: float = 1) -> None:
    """A metric, once declared in observability/metrics.py (until then, a log line says so): a
    billing event must never fail for want of its metric's declaration."""
    if name in metrics.METRICS:
        metrics.emit(name, value)
    else:
        log_event("metric_not_declared", level=logging.WARNING, metric=name, value=value)


@lru_cache(maxsize=1)
def _described() -> Connection:
    """Our connection, with the table's key schema learnt once per container (a raw Query by index
    needs the index's key names)."""
    conn = connection()
    conn.describe_table(Item.Meta.table_name)
    return conn


def index_items(partition: str, *, below: str | None = None) -> Iterator[Raw]:
    """Every item under GSI1 `partition` (sort key < `below` if given), raw (DynamoDB JSON), page
    by page: the caller turns each into a model inside its own error handling."""
    condition = (
        below > Payment.GSI1SK if below is not None else None
    )  # any GSI1 item's sort key: the path is all it takes
    start: Raw | None = None
    while True:
        page = _described().query(
            Item.Meta.table_name,
            partition,
            range_key_condition=condition,
            index_name="GSI1",
            exclusive_start_key=start,
        )
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def text(raw: Raw, name: str) -> str | None:
    value = raw.get(name)
    return value.get("S") if isinstance(value, dict) else None


def each(
    job: str,
    items: Iterable[Raw],
    handle: Callable[[Raw], str | None],
    *,
    key: Callable[[Raw], str | None],
    into: dict[str, str],
    skip: set[str] | None = None,
) -> dict[str, str]:
    """`into[key(item)] = handle(item)` for every item (None: nothing to report); an item that
    raises is logged (`batch_item_failed`), counted (BatchItemFailed) and reported `error`."""
    for raw in items:
        name = key(raw) or text(raw, "SK") or "?"
        if skip and name in skip:
            continue
        try:
            outcome = handle(raw)
        except Exception as error:  # noqa: BLE001 - one bad item never blocks the batch
            log_event(
                "batch_item_failed", level=logging.ERROR, job=job, item=name, error=type(error).__name__
            )
            count("BatchItemFailed")
            into[name] = "error"
            continue
        if outcome is not None:
            into[name] = outcome
    return into
