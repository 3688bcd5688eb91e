"""The payment provider, behind a small port: one abstract class, two adapters, their own
exceptions. Services talk to `PaymentGateway` only; the provider's library never leaks past its
adapter.

- `SandboxGateway` (sandbox_gateway.py): local runs and tests, deterministic test tokens.
- `StripeGateway` (stripe_gateway.py): Stripe PaymentIntents, confirmed off-session with the saved
  card; its module (and the `stripe` library) is imported only when PAYMENT_GATEWAY=stripe.

What every adapter guarantees:
- `charge` is idempotent at the provider per `idempotency_key`: the same key with the same
  parameters answers the first charge; the same key with other parameters is refused
  (`GatewayRejected`), never charged.
- The provider keeps our `reference` (what is charged: a payment id, a bid id) with the charge,
  and every `Charge` carries back the amount, currency and reference the provider holds, so that
  settlement can check them against what we meant to charge.
- `GatewayTimeout` means the outcome is unknown: the charge may exist. Ask `get_charge` later;
  never assume either way.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from chalicelib.config import get_settings
from chalicelib.errors import ServiceMisconfigured

ChargeStatus = Literal["succeeded", "declined", "requires_action", "processing"]


@dataclass(frozen=True)
class MethodInfo:
    provider_ref: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    customer_ref: str | None = (
        None  # the provider's customer the method is attached to, if it has such a thing
    )


@dataclass(frozen=True)
class Charge:
    """What the provider holds for one charge attempt."""

    charge_id: str | None  # None when the provider refused before creating anything
    status: ChargeStatus
    amount: int  # minor units, as the provider holds it
    currency: str  # ISO 4217, upper case
    reference: str | None  # our reference, as the provider holds it
    decline_code: str | None = None  # why, when declined or requiring action


@dataclass(frozen=True)
class Refund:
    refund_id: str
    charge_id: str
    amount: int
    status: str  # succeeded | pending | failed (the provider's word)


@dataclass(frozen=True)
class ProviderEvent:
    """A verified notification from the provider."""

    event_id: str
    kind: str  # the provider's event type, e.g. payment_intent.succeeded
    charge: Charge | None  # for events about a charge
    metadata: Mapping[str, str] = field(default_factory=dict)  # what we stored with the charge


class GatewayError(Exception):
    """Base of the port's exceptions. Messages are for logs: never a key or card data."""


class GatewayTimeout(GatewayError):
    """The provider did not answer, or is still working on this key: the charge may exist."""


class GatewayRejected(GatewayError):
    """The provider refused the request itself (not a card decline): nothing was charged by it.
    `code`: `idempotency_key_reused` (the key was first used with other parameters), or the
    provider's own code."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class MethodRejected(GatewayError):
    """The token or payment method cannot be used (unknown, not a card, someone else's)."""


class EventRejected(GatewayError):
    """A webhook whose signature, age or body does not check out."""


class GatewayMisconfigured(GatewayError):
    """Our credentials or settings for the provider are wrong."""


class PaymentGateway(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    def create_method(self, *, provider_token: str, customer_id: str, customer_ref: str | None) -> MethodInfo:
        """Turn what the app's provider SDK gave (a token, a PaymentMethod id) into a reusable
        method of this customer (`customer_ref`: their record at the provider, if any yet);
        brand, last 4 and expiry come from the provider. Raises MethodRejected."""

    @abc.abstractmethod
    def charge(
        self,
        *,
        provider_ref: str,
        amount: int,
        currency: str,
        reference: str,
        idempotency_key: str,
        customer_ref: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Charge:
        """Charge the saved method, off-session, once per `idempotency_key`. `metadata` is kept
        beside the reference (it lets a provider's event find what it is about). A card decline is
        a Charge (`declined`, `requires_action`), not an exception. Raises GatewayTimeout,
        GatewayRejected, GatewayMisconfigured."""

    @abc.abstractmethod
    def get_charge(
        self, *, reference: str | None = None, idempotency_key: str | None = None
    ) -> Charge | None:
        """The charge made for `reference` with `idempotency_key` (either may be omitted, not
        both), or None when the provider has none. Never charges. Raises GatewayTimeout."""

    @abc.abstractmethod
    def refund(self, *, charge_id: str, amount: int, idempotency_key: str) -> Refund:
        """Refund (part of) a succeeded charge, once per `idempotency_key`. Raises GatewayTimeout,
        GatewayRejected."""

    @abc.abstractmethod
    def parse_event(self, *, payload: bytes, signature: str | None) -> ProviderEvent:
        """Verify a webhook's signature (and age) and read it. Raises EventRejected."""


_gateway: PaymentGateway | None = None
_lock = threading.Lock()


def get_gateway() -> PaymentGateway:
    """The configured adapter, built once per container (Stripe's keys are read then, once)."""
    global _gateway
    if _gateway is None:
        with _lock:
            if _gateway is None:
                _gateway = _build()
    return _gateway


def install_gateway(gateway: PaymentGateway | None) -> PaymentGateway | None:
    """Use this adapter from now on (tests, local tools); None goes back to the settings' choice.
    Returns the one it replaces."""
    global _gateway
    with _lock:
        previous, _gateway = _gateway, gateway
    return previous


def _build() -> PaymentGateway:
    settings = get_settings()
    if settings.payment_gateway == "sandbox":
        from chalicelib.billing.sandbox_gateway import SandboxGateway

        return SandboxGateway()
    if settings.payment_gateway == "stripe":
        from chalicelib.billing.secrets import read_secret
        from chalicelib.billing.stripe_gateway import StripeGateway

        if not settings.stripe_secret_key:
            raise ServiceMisconfigured("PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY (a secret source).")
        webhook_secret = (
            read_secret(settings.stripe_webhook_secret) if settings.stripe_webhook_secret else None
        )
        return StripeGateway(
            api_key=read_secret(settings.stripe_secret_key),
            webhook_secret=webhook_secret,
            api_base=settings.stripe_api_base,
        )
    raise ServiceMisconfigured(f"Unknown PAYMENT_GATEWAY {settings.payment_gateway!r}: sandbox or stripe.")
