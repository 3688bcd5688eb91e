"""The sandbox payment provider (local runs and tests only: `unsafe_for_deployment` refuses it for a
deployed stage). Deterministic test tokens:

| token | behaviour |
|---|---|
| `tok_visa` (or any `tok_visa_*`), `tok_mastercard` | charges succeed |
| `tok_card_declined` | declined: `card_declined` |
| `tok_insufficient_funds` | declined: `insufficient_funds` |
| `tok_expired_card` | declined: `expired_card` |
| `tok_authentication_required` | the bank wants 3-D Secure: `requires_action` / `authentication_required` |
| `tok_timeout` | the charge succeeds at the provider but the answer is lost (GatewayTimeout) |
| `tok_unreachable` | the call never reaches the provider (GatewayTimeout, nothing charged) |

Its memory of charges is in the table (SandboxCharge), as a real provider's is on its side, so its
idempotency holds across containers: the same key with the same parameters answers the first
charge; with other parameters it is refused. Every call is also counted in `attempts` /
`refund_attempts` (this process), so tests count what was asked where it was asked, not only what
the keys deduplicated.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from chalicelib.billing.gateway import (
    Charge,
    ChargeStatus,
    EventRejected,
    GatewayRejected,
    GatewayTimeout,
    MethodInfo,
    MethodRejected,
    PaymentGateway,
    ProviderEvent,
    Refund,
)
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import SandboxCharge

_TEST_CARDS: dict[str, tuple[str, str, str | None]] = {
    "visa": ("visa", "4242", None),
    "mastercard": ("mastercard", "4444", None),
    "card_declined": ("visa", "0002", "card_declined"),
    "insufficient_funds": ("mastercard", "9995", "insufficient_funds"),
    "expired_card": ("visa", "0069", "expired_card"),
    "authentication_required": ("visa", "3184", "authentication_required"),
    "timeout": ("visa", "0119", "timeout"),
    "unreachable": ("visa", "0127", "unreachable"),
}
_DECLINES = ("card_declined", "insufficient_funds", "expired_card")


@dataclass(frozen=True)
class Attempt:
    """One call to `charge` or `refund`, as asked."""

    idempotency_key: str
    amount: int
    currency: str | None = None
    reference: str | None = None
    provider_ref: str | None = None
    charge_id: str | None = None


def _card(provider_ref: str) -> str:
    return provider_ref.removeprefix("pm_sandbox_").rsplit("_", 1)[0]


def _to_charge(item: SandboxCharge) -> Charge:
    return Charge(
        charge_id=item.charge_id,
        status=cast(ChargeStatus, item.status),  # written by charge() below from the same literals
        amount=int(item.amount),
        currency=item.currency,
        reference=item.reference,
        decline_code=item.decline_code,
    )


class SandboxGateway(PaymentGateway):
    name = "sandbox"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts: deque[Attempt] = deque(maxlen=100_000)
        self.refund_attempts: deque[Attempt] = deque(maxlen=100_000)

    def attempts_for(self, reference: str) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.reference == reference]

    def create_method(self, *, provider_token: str, customer_id: str, customer_ref: str | None) -> MethodInfo:
        name = "visa" if provider_token.startswith("tok_visa") else provider_token.removeprefix("tok_")
        if not provider_token.startswith("tok_") or name not in _TEST_CARDS:
            raise MethodRejected("the sandbox does not know this token")
        brand, last4, _ = _TEST_CARDS[name]
        ref = f"pm_sandbox_{name}_" + hashlib.sha256(provider_token.encode()).hexdigest()[:8]
        return MethodInfo(provider_ref=ref, brand=brand, last4=last4, exp_month=12, exp_year=2030)

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
        with self._lock:
            self.attempts.append(
                Attempt(
                    idempotency_key=idempotency_key,
                    amount=amount,
                    currency=currency,
                    reference=reference,
                    provider_ref=provider_ref,
                )
            )
        behaviour = _TEST_CARDS.get(_card(provider_ref), (None, None, None))[2]
        if behaviour == "unreachable":
            raise GatewayTimeout("the sandbox provider was not reached")
        status: ChargeStatus = "succeeded"
        code: str | None = None
        if behaviour in _DECLINES:
            status, code = "declined", behaviour
        elif behaviour == "authentication_required":
            status, code = "requires_action", behaviour

        def record(pk: str, sk: str) -> SandboxCharge:
            return SandboxCharge(
                pk,
                sk,
                charge_id="ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20],
                status=status,
                amount=amount,
                currency=currency,
                decline_code=code,
                reference=reference,
                idempotency_key=idempotency_key,
                provider_ref=provider_ref,
            )

        first = record(f"SANDBOX#CHARGE#{idempotency_key}", "CHARGE")
        try:
            with transaction() as tx:
                tx.save(first, condition=SandboxCharge.PK.does_not_exist(), label="key")
                tx.save(record(f"SANDBOX#CHARGE#{reference}", f"REF#{idempotency_key}"))
        except ConditionsFailed:
            # This key was used before (a retry, a resumed payment, a concurrent call).
            earlier = SandboxCharge.get(first.PK, "CHARGE", consistent_read=True)
            if (int(earlier.amount), earlier.currency, earlier.reference, earlier.provider_ref) != (
                amount,
                currency,
                reference,
                provider_ref,
            ):
                raise GatewayRejected(
                    "the idempotency key was first used with other parameters", code="idempotency_key_reused"
                ) from None
            return _to_charge(earlier)  # the first charge, and no timeout this time
        if behaviour == "timeout":
            raise GatewayTimeout("the sandbox provider timed out (after charging)")
        return _to_charge(first)

    def get_charge(
        self, *, reference: str | None = None, idempotency_key: str | None = None
    ) -> Charge | None:
        if idempotency_key is not None:
            try:
                return _to_charge(
                    SandboxCharge.get(f"SANDBOX#CHARGE#{idempotency_key}", "CHARGE", consistent_read=True)
                )
            except SandboxCharge.DoesNotExist:
                return None
        if reference is None:
            raise ValueError("get_charge needs a reference or an idempotency key")
        found = [
            _to_charge(i)
            for i in SandboxCharge.query(
                f"SANDBOX#CHARGE#{reference}", SandboxCharge.SK.startswith("REF#"), consistent_read=True
            )
        ]
        return next((c for c in found if c.status == "succeeded"), found[0] if found else None)

    def refund(self, *, charge_id: str, amount: int, idempotency_key: str) -> Refund:
        with self._lock:
            self.refund_attempts.append(
                Attempt(idempotency_key=idempotency_key, amount=amount, charge_id=charge_id)
            )
        refund = SandboxCharge(
            f"SANDBOX#REFUND#{idempotency_key}",
            "REFUND",
            charge_id="re_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20],
            status="succeeded",
            amount=amount,
            currency="XXX",
            reference=charge_id,
            idempotency_key=idempotency_key,
        )
        try:
            refund.save(condition=SandboxCharge.PK.does_not_exist())
        except Exception:  # noqa: BLE001 - a condition failure (a replay) or an ambiguous write: read what is there
            try:
                refund = SandboxCharge.get(refund.PK, "REFUND", consistent_read=True)
            except SandboxCharge.DoesNotExist:
                raise GatewayTimeout("the sandbox provider did not record the refund") from None
            if refund.reference != charge_id or int(refund.amount) != amount:
                raise GatewayRejected(
                    "the idempotency key was first used with other parameters", code="idempotency_key_reused"
                ) from None
        return Refund(
            refund_id=refund.charge_id, charge_id=charge_id, amount=int(refund.amount), status=refund.status
        )

    def parse_event(self, *, payload: bytes, signature: str | None) -> ProviderEvent:
        raise EventRejected("the sandbox provider sends no webhooks")
