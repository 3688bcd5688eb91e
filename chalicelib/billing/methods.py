"""Payment methods: the app tokenizes the card with the provider's SDK and sends the token (Stripe:
the PaymentMethod id); brand, last 4 and expiry come from the provider, never from the client. The
method is attached to the customer's record at the provider (created with the first method and
kept in BillingSettings). One default; autopay uses it."""

from __future__ import annotations

import secrets
import time
from typing import Any

from chalicelib.billing.gateway import (
    GatewayMisconfigured,
    GatewayRejected,
    GatewayTimeout,
    MethodRejected,
    get_gateway,
)
from chalicelib.common.clock import iso, now
from chalicelib.errors import (
    Conflict,
    NotFound,
    ServiceMisconfigured,
    TemporarilyUnavailable,
    ValidationFailed,
)
from chalicelib.store.models import BillingSettings, PaymentMethod, customer_pk

MAX_METHODS = 10


def _settings(customer_id: str) -> BillingSettings:
    try:
        return BillingSettings.get(customer_pk(customer_id), "SETTINGS#BILLING", consistent_read=True)
    except BillingSettings.DoesNotExist:
        return BillingSettings(customer_pk(customer_id), "SETTINGS#BILLING", autopay=False)


def method_to_wire(method: PaymentMethod, default_id: str | None) -> dict[str, Any]:
    return {
        "payment_method_id": method.method_id,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": int(method.exp_month),
        "exp_year": int(method.exp_year),
        "label": method.label,
        "default": method.method_id == default_id,
        "created_at": method.created_at,
    }


def _methods(customer_id: str) -> list[PaymentMethod]:
    return list(PaymentMethod.query(customer_pk(customer_id), PaymentMethod.SK.startswith("PM#")))


def add(*, customer_id: str, provider_token: str, label: str | None) -> dict[str, Any]:
    existing = _methods(customer_id)
    if len(existing) >= MAX_METHODS:
        raise Conflict(f"At most {MAX_METHODS} payment methods: remove one first.", code="too_many_methods")
    settings = _settings(customer_id)
    try:
        info = get_gateway().create_method(
            provider_token=provider_token,
            customer_id=customer_id,
            customer_ref=settings.provider_customer_ref,
        )
    except (MethodRejected, GatewayRejected):
        raise ValidationFailed(
            "The payment provider does not know this token.", code="invalid_provider_token"
        ) from None
    except GatewayTimeout:
        raise TemporarilyUnavailable(
            "The payment provider is slow to answer: try again in a moment."
        ) from None
    except GatewayMisconfigured:
        raise ServiceMisconfigured("Cards cannot be added right now; try again later.") from None
    # Sortable by creation (milliseconds first), unguessable (random tail).
    method = PaymentMethod(
        customer_pk(customer_id),
        f"PM#pm_{int(time.time() * 1000):011x}{secrets.token_hex(3)[:5]}",
        method_id="",
        provider_ref=info.provider_ref,
        provider_customer_ref=info.customer_ref,
        brand=info.brand,
        last4=info.last4,
        exp_month=info.exp_month,
        exp_year=info.exp_year,
        label=label,
        created_at=iso(now()),
    )
    method.method_id = method.SK.removeprefix("PM#")
    method.save()
    changed = False
    if info.customer_ref and settings.provider_customer_ref != info.customer_ref:
        settings.provider_customer_ref, changed = info.customer_ref, True
    if not settings.default_method_id:
        settings.default_method_id, changed = method.method_id, True
    if changed:
        settings.save()
    return method_to_wire(method, settings.default_method_id)


def list_methods(*, customer_id: str) -> dict[str, Any]:
    settings = _settings(customer_id)
    return {
        "payment_methods": [
            method_to_wire(m, settings.default_method_id)
            for m in sorted(_methods(customer_id), key=lambda m: m.method_id)
        ],
        "autopay": bool(settings.autopay),
    }


def key(customer_id: str, method_id: str) -> tuple[str, str]:
    return customer_pk(customer_id), f"PM#{method_id}"


def not_found() -> NotFound:
    return NotFound("No such payment method.", code="payment_method_not_found")


def get_owned(customer_id: str, method_id: str) -> PaymentMethod:
    try:
        return PaymentMethod.get(*key(customer_id, method_id), consistent_read=True)
    except PaymentMethod.DoesNotExist:
        raise not_found() from None


def remove(*, customer_id: str, method_id: str) -> None:
    method = get_owned(customer_id, method_id)
    settings = _settings(customer_id)
    if settings.default_method_id == method_id and settings.autopay:
        raise Conflict(
            "Autopay uses this card: choose another default or turn autopay off first.", code="method_in_use"
        )
    method.delete()
    if settings.default_method_id == method_id:
        others = sorted(_methods(customer_id), key=lambda m: m.method_id)
        settings.default_method_id = others[0].method_id if others else None
        settings.save()


def set_default(*, customer_id: str, method_id: str) -> dict[str, Any]:
    get_owned(customer_id, method_id)
    settings = _settings(customer_id)
    settings.default_method_id = method_id
    settings.save()
    return list_methods(customer_id=customer_id)


def set_autopay(*, customer_id: str, enabled: bool) -> dict[str, Any]:
    settings = _settings(customer_id)
    if enabled and not settings.default_method_id:
        raise ValidationFailed(
            "Add a payment method first: autopay pays with your default method.", code="no_default_method"
        )
    settings.autopay = enabled
    settings.save()
    return list_methods(customer_id=customer_id)
