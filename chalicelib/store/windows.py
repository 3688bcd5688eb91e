"""Fixed-window counters in DynamoDB: one conditional ADD per counted request on
`RATE#<name>#<hash of the subject>`, shared by every Lambda container. The edge's rate limits
(chalicelib/api/ratelimit.py) and the cases' limits (chalicelib/cases/limits.py) count with it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from chalicelib.store.models import RateWindow

__all__ = ["Counted", "WindowFull", "count", "uncount"]


@dataclass(frozen=True)
class Counted:
    """A counted request: its window item (to give it back)."""

    pk: str
    sk: str


class WindowFull(Exception):
    """The window already holds `limit` requests; the next window starts in `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"window full, retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


def count(*, name: str, subject: str, limit: int, window_s: int, moment: float) -> Counted:
    """Count one request of `subject` against `limit` per `window_s`; WindowFull once over it."""
    start = int(moment // window_s * window_s)
    hashed = hashlib.sha256(subject.encode()).hexdigest()[:32]  # never an IP or id in clear
    window = RateWindow(f"RATE#{name}#{hashed}", f"W#{window_s}#{start}")
    try:
        window.update(
            actions=[
                RateWindow.type.set(RateWindow),
                RateWindow.hits.add(1),
                RateWindow.expires_at.set(start + window_s + 60),
            ],
            condition=RateWindow.hits.does_not_exist() | (RateWindow.hits < limit),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        raise WindowFull(max(1, int(start + window_s - moment) + 1)) from None
    return Counted(window.PK, window.SK)


def uncount(counted: Counted) -> None:
    """Give a counted request back (it turned out not to be one the limit is about)."""
    RateWindow(counted.pk, counted.sk).update(actions=[RateWindow.hits.add(-1)])
