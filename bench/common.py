"""Shared set-up for the benchmarks: their own DynamoDB Local, and counters of DynamoDB calls."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from devtools import dynamodb_local, tables


def start_stack() -> subprocess.Popen[bytes]:
    port = dynamodb_local.free_port()
    proc = dynamodb_local.start(port, in_memory=True)
    os.environ.update(
        APP_TABLE_NAME="selfcare-bench",
        DYNAMODB_ENDPOINT=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - DynamoDB Local ignores it
        AWS_DEFAULT_REGION="eu-west-3",
        AWS_REGION="eu-west-3",
        JWT_KEY_SOURCE=f"file:{tempfile.mkdtemp()}/jwt-keys.json",
        # One address plays every customer here: limits far above the load (the check itself, one
        # UpdateItem per limited request, stays in the figures as in production).
        RATE_LIMITS="sign_in_client=100000000/60,activation_client=100000000/60,payment_customer=100000000/60,bid_customer=100000000/60",
    )
    tables.create_tables(endpoint=os.environ["DYNAMODB_ENDPOINT"], table_name="selfcare-bench")
    return proc


DYNAMODB_CALLS: Counter[str] = Counter()


_COUNTING: list[bool] = []  # installed once per process: a second wrapper would count twice


def count_dynamodb_calls() -> None:
    """Count every DynamoDB API call pynamodb makes (GetItem, Query, TransactWriteItems...), from
    now on in this process (a second call changes nothing)."""
    from pynamodb.connection.base import Connection

    if _COUNTING:
        return
    _COUNTING.append(True)
    original = Connection.dispatch

    def dispatch(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        DYNAMODB_CALLS[operation_name] += 1
        return original(self, operation_name, operation_kwargs)

    Connection.dispatch = dispatch  # type: ignore[method-assign]


@contextmanager
def calls() -> Iterator[Counter[str]]:
    before = Counter(DYNAMODB_CALLS)
    seen: Counter[str] = Counter()
    yield seen
    seen.update(DYNAMODB_CALLS - before)


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 3),
        "n": len(ordered),
    }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "system": platform.platform(terse=True),
    }
