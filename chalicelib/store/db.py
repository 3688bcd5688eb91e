"""Transactions on the table, on one lazily created connection (per Lambda container)."""
from __future__ import annotations

from functools import lru_cache

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.store.models import Item


@lru_cache(maxsize=1)
def connection() -> Connection:
    meta = Item.Meta
    return Connection(
        region=meta.region,
        host=meta.host,
        max_retry_attempts=meta.max_retry_attempts,
        connect_timeout_seconds=meta.connect_timeout_seconds,
        read_timeout_seconds=meta.read_timeout_seconds,
    )


def transaction(*, idempotency_token: str | None = None) -> TransactWrite:
    """A TransactWrite; `idempotency_token` (ClientRequestToken) makes a retry within 10 min a no-op."""
    return TransactWrite(connection=connection(), client_request_token=idempotency_token)
