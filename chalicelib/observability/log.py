"""Structured logs: one JSON object per line, which CloudWatch Logs Insights can query.

Callers pass facts, never secrets: no token, code, key or card data goes through here. Customer ids
are hashed so that logs can be correlated without naming the customer.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from chalicelib.common.clock import iso, now

_logger = logging.getLogger("selfcare")
if not _logger.handlers:
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(_handler)
    if _logger.level == logging.NOTSET:  # a caller (the benchmarks) may have quieted it already
        _logger.setLevel(logging.INFO)
    _logger.propagate = False


def customer_ref(customer_id: str | None) -> str | None:
    return hashlib.sha256(customer_id.encode()).hexdigest()[:16] if customer_id else None


def log_event(
    event: str, *, level: int = logging.INFO, customer_id: str | None = None, **fields: Any
) -> None:
    record = {"ts": iso(now()), "event": event, **fields}
    if customer_id:
        record["customer"] = customer_ref(customer_id)
    _logger.log(level, json.dumps(record, default=str, separators=(",", ":")))


def write_line(line: str) -> None:
    """A raw line on the log stream (EMF metrics), quieted with the rest."""
    _logger.info(line)


F = TypeVar("F", bound=Callable[..., Any])


def logged_handler(name: str) -> Callable[[F], F]:
    """One line per event a non-HTTP function handles (SQS batch, stream batch, schedule): which,
    how long, the Lambda request id, and whether it raised."""

    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        def run(event: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            context = getattr(event, "context", None) or (args[0] if args else None)
            outcome = "error"
            try:
                result = handler(event, *args, **kwargs)
                outcome = "ok"
                return result
            finally:
                log_event(
                    "lambda_event",
                    function=name,
                    outcome=outcome,
                    latency_ms=round((time.perf_counter() - started) * 1000, 2),
                    request_id=getattr(context, "aws_request_id", None),
                )

        return run  # type: ignore[return-value]

    return wrap
