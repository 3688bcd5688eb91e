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
REFRESH_TOKEN_REUSE = "refresh_token_reuse"  # noqa: S105 - an event name, not a secret
ACCOUNT_CHANGED = "account_changed"

# What changed, as the alert says it (fr, en). Every device and the inbox are told.
CHANGES: dict[str, tuple[str, str]] = {
    "email": ("votre adresse e-mail a été modifiée", "your email address was changed"),
    "phone": ("votre numéro de téléphone a été modifié", "your phone number was changed"),
    "postal_address": ("votre adresse postale a été modifiée", "your postal address was changed"),
    "payment_method_added": ("une carte de paiement a été ajoutée", "a payment card was added"),
    "payment_method_removed": ("une carte de paiement a été supprimée", "a payment card was removed"),
    "payment_method_default": (
        "votre carte de paiement par défaut a changé",
        "your default payment card changed",
    ),
    "autopay_on": ("le paiement automatique a été activé", "automatic payment was turned on"),
    "autopay_off": ("le paiement automatique a été désactivé", "automatic payment was turned off"),
}


# The User-Agent is whatever the caller sent, so an alert never quotes it: it names the kind of
# device only (a push must never carry free text that a stranger chose).
_DEVICE_LABELS = (
    ("iphone", "iPhone"),
    ("ipad", "iPad"),
    ("android", "Android"),
    ("macintosh", "Mac"),
    ("mac os", "Mac"),
    ("windows", "Windows"),
    ("cros", "Chromebook"),
    ("linux", "Linux"),
)


def device_label(user_agent: str | None) -> str:
    ua = (user_agent or "").lower()
    return next((label for marker, label in _DEVICE_LABELS if marker in ua), "?")


def account_changed(customer_id: str, change: str, *, old: str | None = None) -> None:
    """Record a factor, contact or payment change (the stream turns it into an alert on every
    device). `old`: the previous contact detail, masked, so the owner can tell what was replaced."""
    if change not in CHANGES:
        raise ValueError(f"unknown account change {change!r}")
    security_event(customer_id, ACCOUNT_CHANGED, {"change": change, **({"old": old} if old else {})}).save()


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
