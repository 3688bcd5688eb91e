"""Rate limits at the edge: fixed windows counted in DynamoDB (one conditional UpdateItem per
request, shared by every Lambda container), answered 429 with Retry-After.

Sign-in routes are limited per client (the source IP API Gateway saw: the caller is not known
yet); money routes per customer. Limits are settings (`RATE_LIMITS`, see config.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import time

from pynamodb.exceptions import UpdateError

from chalicelib.config import get_settings
from chalicelib.errors import TooManyAttempts
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
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


def check(name: str, key: str) -> None:
    """Count this request against limit `name` for `key`; TooManyAttempts once over it."""
    limit, window_s = get_settings().rate_limits[name]
    clock = time.time()
    start = int(clock // window_s * window_s)
    subject = hashlib.sha256(key.encode()).hexdigest()[:32]  # never an IP or id in clear
    window = RateWindow(f"RATE#{name}#{subject}", f"W#{window_s}#{start}")
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
        retry_after = max(1, int(start + window_s - clock) + 1)
        log_event("rate_limited", limit=name, retry_after=retry_after)
        emit("RateLimited")
        raise TooManyAttempts(
            f"Too many requests: try again in {retry_after} seconds.",
            retry_after_s=retry_after,
            code="rate_limited",
        ) from None
