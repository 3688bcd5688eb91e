"""The window a request is counted in, made in one place (`windows.window`) for both ways of counting:
`windows.count` (its own UpdateItem) and `ratelimit.pending` (a count inside the service's own
transaction). Both must land on the same item, or the two forms would each have a full budget."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.api import ratelimit
from chalicelib.config import get_settings
from chalicelib.store import windows
from chalicelib.store.models import RateWindow

MOMENT = 1_800_000_123.4


def test_pending_takes_its_window_from_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: compute the key, TTL or Retry-After in `ratelimit.pending` again → fails."""
    made = windows.Window(pk="RATE#x#made", sk="W#1#2", expires_at=3, retry_after_s=4)
    asked: list[dict[str, object]] = []

    def window(**kwargs: object) -> windows.Window:
        asked.append(kwargs)
        return made

    monkeypatch.setattr(windows, "window", window)
    monkeypatch.setattr(ratelimit.time, "time", lambda: MOMENT)
    pending = ratelimit.pending("sign_in_client", "203.0.113.9")
    limit, window_s = get_settings().rate_limits["sign_in_client"]
    assert asked == [
        {"name": "sign_in_client", "subject": "203.0.113.9", "window_s": window_s, "moment": MOMENT}
    ]
    assert (pending.pk, pending.sk, pending.expires_at, pending.retry_after_s) == (
        "RATE#x#made",
        "W#1#2",
        3,
        4,
    )
    assert pending.limit == limit


def test_the_window_hashes_the_subject_and_counts_from_its_start() -> None:
    current = windows.window(name="n", subject="203.0.113.9", window_s=60, moment=MOMENT)
    start = int(MOMENT // 60 * 60)
    assert current.pk.startswith("RATE#n#") and "203.0.113.9" not in current.pk
    assert current.sk == f"W#60#{start}"
    assert current.expires_at == start + 60 + 60
    assert current.retry_after_s == int(start + 60 - MOMENT) + 1


def test_count_lands_on_the_window_item() -> None:
    """Mutation: make `count` build its key apart from `window` (another hash length) → fails."""
    subject = f"subject-{uuid.uuid4()}"
    counted = windows.count(name="parity", subject=subject, limit=5, window_s=3600, moment=MOMENT)
    current = windows.window(name="parity", subject=subject, window_s=3600, moment=MOMENT)
    assert (counted.pk, counted.sk) == (current.pk, current.sk)
    stored = RateWindow.get(current.pk, current.sk, consistent_read=True)
    assert (int(stored.hits), int(stored.expires_at)) == (1, current.expires_at)
