"""Fixed-window counters in DynamoDB: one conditional ADD per counted request on
`RATE#<name>#<hash of the subject>`, shared by every Lambda container. The edge's rate limits
(chalicelib/api/ratelimit.py) and the cases' limits (chalicelib/cases/limits.py) count with it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from chalicelib.store.models import RateWindow

__all__ = ["Counted", "Window", "WindowFull", "count", "uncount", "window"]


@dataclass(frozen=True)
class Counted:
    """A counted request: its window item (to give it back)."""

    pk: str
    sk: str


@dataclass(frozen=True)
class Window:
    """The window item `moment` falls in, for `subject` under limit `name`: its key, its TTL, and
    how long until the next window starts."""

    pk: str
    sk: str
    expires_at: int
    retry_after_s: int


class WindowFull(Exception):
    """The window already holds `limit` requests; the next window starts in `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"window full, retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


def window(*, name: str, subject: str, window_s: int, moment: float) -> Window:
    """The one place a window's key is made: `count` and the edge's `ratelimit.pending` (a count
    made inside the caller's transaction) must land on the same item to share one budget."""
    start = int(moment // window_s * window_s)
    hashed = hashlib.sha256(subject.encode()).hexdigest()[:32]  # never an IP or id in clear
    return Window(
        pk=f"RATE#{name}#{hashed}",
        sk=f"W#{window_s}#{start}",
        expires_at=start + window_s + 60,
        retry_after_s=max(1, int(start + window_s - moment) + 1),
    )


def count(*, name: str, subject: str, limit: int, window_s: int, moment: float) -> Counted:
    """Count one request of `subject` against `limit` per `window_s`; WindowFull once over it."""
    current = window(name=name, subject=subject, window_s=window_s, moment=moment)
    try:
        RateWindow(current.pk, current.sk).update(
            actions=[
                RateWindow.type.set(RateWindow),
                RateWindow.hits.add(1),
                RateWindow.expires_at.set(current.expires_at),
            ],
            condition=RateWindow.hits.does_not_exist() | (RateWindow.hits < limit),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        raise WindowFull(current.retry_after_s) from None
    return Counted(current.pk, current.sk)


def uncount(counted: Counted) -> None:
    """Give a counted request back (it turned out not to be one the limit is about)."""
    RateWindow(counted.pk, counted.sk).update(actions=[RateWindow.hits.add(-1)])
