"""Rate limits at the edge: fixed windows counted in DynamoDB (one conditional UpdateItem per
request, shared by every Lambda container), answered 429 with Retry-After.

Sign-in routes are limited per client (the source IP API Gateway saw: the caller is not known
yet); money routes per customer. Limits are settings (`RATE_LIMITS`, see config.py).

`pending()` is the same count to be made by the service inside its own transaction (login options:
the counter and the challenge in one TransactWriteItems, one call instead of two); the window item
is the very one `check()` counts in, so both forms share one budget.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from chalicelib.config import get_settings
from chalicelib.errors import TooManyAttempts
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store import windows
from chalicelib.store.db import Transaction
from chalicelib.store.models import RateWindow


def client_key(source_ip: str) -> str:
    """The unit a per-client limit counts: an IPv4 address, or an IPv6 /64 (one subscriber's
    prefix: a client that rotates through its 2^64 addresses is still one client)."""
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _refused(name: str, retry_after_s: int) -> TooManyAttempts:
    log_event("rate_limited", limit=name, retry_after=retry_after_s)
    emit("RateLimited")
    return TooManyAttempts(
        f"Too many requests: try again in {retry_after_s} seconds.",
        retry_after_s=retry_after_s,
        code="rate_limited",
    )


def check(name: str, key: str) -> None:
    """Count this request against limit `name` for `key`; TooManyAttempts once over it."""
    limit, window_s = get_settings().rate_limits[name]
    try:
        windows.count(name=name, subject=key, limit=limit, window_s=window_s, moment=time.time())
    except windows.WindowFull as full:
        raise _refused(name, full.retry_after_s) from None


@dataclass(frozen=True)
class Pending:
    """One request to count in the service's own transaction: the window item's key, the limit
    its condition holds, its TTL, and what to answer when the condition fails (`refused()`)."""

    name: str
    pk: str
    sk: str
    limit: int
    expires_at: int
    retry_after_s: int

    def refused(self) -> TooManyAttempts:
        return _refused(self.name, self.retry_after_s)

    # The count as one action of the caller's transaction (login options, the payment).
    def count_in(self, tx: Transaction) -> None:
        """Count this request in `tx` (label "rate_limit"): the same update as windows.count, on
        the same item; over the limit the transaction fails on that label (answer `refused()`).
        The transaction must carry a single-use condition of its own (a fresh key, a challenge):
        a retry of a commit whose answer was lost then fails instead of counting twice."""
        tx.update(
            RateWindow(self.pk, self.sk),
            actions=[
                RateWindow.type.set(RateWindow),
                RateWindow.hits.add(1),
                RateWindow.expires_at.set(self.expires_at),
            ],
            condition=RateWindow.hits.does_not_exist() | (RateWindow.hits < self.limit),
            label="rate_limit",
        )


def pending(name: str, key: str) -> Pending:
    """Limit `name` for `key`, not counted yet: the service counts it in its transaction, on the
    window item `windows.count` counts in (`windows.window` makes both keys)."""
    limit, window_s = get_settings().rate_limits[name]
    current = windows.window(name=name, subject=key, window_s=window_s, moment=time.time())
    return Pending(
        name=name,
        pk=current.pk,
        sk=current.sk,
        limit=limit,
        expires_at=current.expires_at,
        retry_after_s=current.retry_after_s,
    )
