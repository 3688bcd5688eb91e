"""The customer's security history (new passkey, passkey removed, new session, suspicious use).

Events are items of their own so that they can join the transaction of the change they describe,
and so that the notifications worker can turn them into alerts from the table's stream.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.common.clock import epoch, iso, now
from chalicelib.common.secrets import new_id
from chalicelib.store.models import SecurityEvent, customer_pk

RETENTION = timedelta(days=365)

PASSKEY_ADDED = "passkey_added"
PASSKEY_REMOVED = "passkey_removed"
NEW_SESSION = "new_session"
SIGN_COUNT_REGRESSION = "sign_count_regression"
REFRESH_TOKEN_REUSE = "refresh_token_reuse"


def security_event(customer_id: str, kind: str, detail: dict[str, Any] | None = None) -> SecurityEvent:
    """A new event item, to be saved on its own or inside the transaction of its change."""
    moment = now()
    return SecurityEvent(
        customer_pk(customer_id),
        f"SECEVENT#{iso(moment)}#{new_id('evt', 6)}",
        kind=kind,
        occurred_at=iso(moment),
        detail=detail or {},
        expires_at=epoch(moment + RETENTION),
    )
