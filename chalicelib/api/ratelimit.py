"""Rate limits at the edge: fixed windows counted in DynamoDB (one conditional UpdateItem per
request, shared by every Lambda container), answered 429 with Retry-After.

Sign-in routes are limited per client (the source IP API Gateway saw: the caller is not known
yet); money routes per customer. Limits are settings (`RATE_LIMITS`, see config.py).
"""

from __future__ import annotations

import ipaddress
import time

from chalicelib.config import get_settings
from chalicelib.errors import TooManyAttempts
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store import windows


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


def check(name: str, key: str) -> None:
    """Count this request against limit `name` for `key`; TooManyAttempts once over it."""
    limit, window_s = get_settings().rate_limits[name]
    try:
        windows.count(name=name, subject=key, limit=limit, window_s=window_s, moment=time.time())
    except windows.WindowFull as full:
        log_event("rate_limited", limit=name, retry_after=full.retry_after_s)
        emit("RateLimited")
        raise TooManyAttempts(
            f"Too many requests: try again in {full.retry_after_s} seconds.",
            retry_after_s=full.retry_after_s,
            code="rate_limited",
        ) from None
