"""Fixed-window limits of the cases, counted in DynamoDB like every other limit (chalicelib/store/windows.py, as
chalicelib/api/ratelimit.py counts), with the cases' own messages and clock, and a counted attempt
can be given back (`give_back`), so the guess window counts only wrong codes while
every guess is still counted before the code is looked at.
"""

from __future__ import annotations

import time

from chalicelib.cases import settings as case_config
from chalicelib.cases.messages import text
from chalicelib.errors import TooManyAttempts
from chalicelib.observability.log import log_event
from chalicelib.store import windows

Taken = windows.Counted


def clock() -> float:
    """The limits' clock (a function, so a test can move one limit's windows alone)."""
    return time.time()


def take(name: str, subject: str, *, code: str = "rate_limited") -> Taken:
    """Count one request of `subject` against limit `name`; TooManyAttempts once over it."""
    limit, window_s = case_config.case_settings().rate_limits[name]
    try:
        return windows.count(name=name, subject=subject, limit=limit, window_s=window_s, moment=clock())
    except windows.WindowFull as full:
        log_event("rate_limited", limit=name, retry_after=full.retry_after_s)
        raise TooManyAttempts(text(code), retry_after_s=full.retry_after_s, code=code) from None


def give_back(taken: Taken) -> None:
    """Uncount a request (it turned out not to be one the limit is about)."""
    windows.uncount(taken)
