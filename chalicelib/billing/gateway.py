"""The payment provider, behind a small port. A real provider (Stripe PaymentIntents, Adyen...) is
one new module implementing PaymentGateway; the sandbox serves local runs and tests with
deterministic test tokens:

| token | behaviour |
|---|---|
| `tok_visa` (or any `tok_visa_*`) | charges succeed |
| `tok_card_declined` | charges are declined: `card_declined` |
| `tok_insufficient_funds` | charges are declined: `insufficient_funds` |
| `tok_timeout` | the charge succeeds at the provider but the call times out (a crash between their charge and our write) |
"""
from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass

from pynamodb.exceptions import PutError

from chalicelib.config import get_settings
from chalicelib.errors import ServiceMisconfigured, ValidationFailed
from chalicelib.store.models import SandboxCharge


@dataclass(frozen=True)
class MethodInfo:
    provider_ref: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Charge:
    charge_id: str
    status: str  # succeeded | declined
    decline_code: str | None = None


class GatewayTimeout(Exception):
    """The provider did not answer: the charge may or may not exist; ask again with get_charge."""


class PaymentGateway(abc.ABC):
    @abc.abstractmethod
    def create_method(self, *, provider_token: str) -> MethodInfo:
        """Turn the app's one-time token into a reusable method; details come from the provider."""

    @abc.abstractmethod
    def charge(self, *, provider_ref: str, amount: int, currency: str, idempotency_key: str) -> Charge:
        """Charge once per idempotency key: a second call with the key returns the first charge."""

    @abc.abstractmethod
    def get_charge(self, *, idempotency_key: str) -> Charge | None:
        """The charge made with this key, if any."""


_TEST_CARDS = {
    "tok_visa": ("visa", "4242", None),
    "tok_card_declined": ("visa", "0002", "card_declined"),
    "tok_insufficient_funds": ("mastercard", "9995", "insufficient_funds"),
    "tok_timeout": ("visa", "0119", "timeout"),
}


class SandboxGateway(PaymentGateway):
    def create_method(self, *, provider_token: str) -> MethodInfo:
        base = "tok_visa" if provider_token.startswith("tok_visa") else provider_token
        if base not in _TEST_CARDS:
            raise ValidationFailed("The payment provider does not know this token.", code="invalid_provider_token")
        brand, last4, _ = _TEST_CARDS[base]
        ref = "pm_sandbox_" + base.removeprefix("tok_") + "_" + hashlib.sha256(provider_token.encode()).hexdigest()[:8]
        return MethodInfo(provider_ref=ref, brand=brand, last4=last4, exp_month=12, exp_year=2030)

    def charge(self, *, provider_ref: str, amount: int, currency: str, idempotency_key: str) -> Charge:
        behaviour = next((b for t, (_, _, b) in _TEST_CARDS.items() if provider_ref.startswith("pm_sandbox_" + t.removeprefix("tok_"))), None)
        status = "declined" if behaviour in ("card_declined", "insufficient_funds") else "succeeded"
        charge = SandboxCharge(
            f"SANDBOX#CHARGE#{idempotency_key}",
            "CHARGE",
            charge_id="ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20],
            status=status,
            amount=amount,
            currency=currency,
            decline_code=behaviour if status == "declined" else None,
        )
        try:
            charge.save(condition=SandboxCharge.PK.does_not_exist())  # the provider's own idempotency
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            # This key was charged before (a retry, a resumed payment, a concurrent call): answer
            # that charge, never a new one; and no timeout this time.
            return self.get_charge(idempotency_key=idempotency_key) or Charge(charge.charge_id, status, charge.decline_code)
        if behaviour == "timeout":
            raise GatewayTimeout("the sandbox provider timed out (after charging)")
        return Charge(charge_id=charge.charge_id, status=status, decline_code=charge.decline_code)

    def get_charge(self, *, idempotency_key: str) -> Charge | None:
        try:
            found = SandboxCharge.get(f"SANDBOX#CHARGE#{idempotency_key}", "CHARGE", consistent_read=True)
        except SandboxCharge.DoesNotExist:
            return None
        return Charge(charge_id=found.charge_id, status=found.status, decline_code=found.decline_code)


_gateway: PaymentGateway | None = None


def get_gateway() -> PaymentGateway:
    global _gateway
    if _gateway is None:
        name = get_settings().payment_gateway
        if name != "sandbox":
            raise ServiceMisconfigured(f"Unknown PAYMENT_GATEWAY {name!r}: add its adapter module.")
        _gateway = SandboxGateway()
    return _gateway
