"""Stripe, through the official `stripe` library (a StripeClient of our own: no module-level global
state, no private attribute). Imported only when PAYMENT_GATEWAY=stripe (or by tests).

- Methods: the app's Stripe SDK creates a PaymentMethod (`pm_...`) and sends its id as the
  provider token; we retrieve it (brand, last 4 and expiry come from Stripe), attach it to the
  customer's Stripe Customer (created once, with an idempotency key derived from our customer id),
  and keep both ids.
- Charges: a PaymentIntent created and confirmed in one call, off-session, with the saved method,
  our reference and the attempt's key in its metadata, under the attempt's idempotency key.
  Card declines are Charges (`declined` with Stripe's decline code; `requires_action` with
  `authentication_required` when the bank wants 3-D Secure), not exceptions.
- Looking a charge up (`get_charge`): Stripe's Search API on the metadata (`attempt`, else
  `reference`). Search is eventually consistent (normally under a minute): a charge made seconds
  ago may not be found yet, which is why the sweeper only gives a payment up once its attempt is
  old (see settlement.py), and keeps watching it for a day in case a charge shows up after all.
- Errors: connection errors, timeouts, 409 (the same key still in flight at Stripe), 429 and 5xx
  → GatewayTimeout (the outcome is unknown); Stripe's `idempotency_error` (the key reused with
  other parameters) → GatewayRejected, logged, never a charge; other invalid requests →
  GatewayRejected with Stripe's code; bad credentials → GatewayMisconfigured.
- Webhooks: `Stripe-Signature` verified with the endpoint's signing secret by the library's
  public Webhook API, 5 minutes of tolerance.

Timeouts stay far below the API function's 10 s (connect 2 s, read 6 s) and the library does not
retry on its own: a payment that times out stays pending and is settled by the retry with the same
Idempotency-Key, the webhook or the sweeper.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import stripe

from chalicelib.billing.gateway import (
    Charge,
    ChargeStatus,
    EventRejected,
    GatewayMisconfigured,
    GatewayRejected,
    GatewayTimeout,
    MethodInfo,
    MethodRejected,
    PaymentGateway,
    ProviderEvent,
    Refund,
)
from chalicelib.observability.log import log_event

if TYPE_CHECKING:  # the library's typed request parameters: for the checker only
    from stripe.params import PaymentIntentCreateParams

WEBHOOK_TOLERANCE_S = 300
_SEARCHABLE = re.compile(r"^[A-Za-z0-9_:.-]{1,200}$")


@contextmanager
def _translated(operation: str) -> Iterator[None]:
    """Stripe's exceptions → the port's. Logs carry Stripe's codes, never its message text."""
    try:
        yield
    except stripe.IdempotencyError:
        log_event("stripe_idempotency_error", level=logging.ERROR, operation=operation)
        raise GatewayRejected(
            "Stripe refused a reused idempotency key with other parameters", code="idempotency_key_reused"
        ) from None
    except stripe.InvalidRequestError as error:
        log_event(
            "stripe_request_refused",
            level=logging.WARNING,
            operation=operation,
            code=error.code,
            status=error.http_status,
        )
        raise GatewayRejected(
            f"Stripe refused the request ({error.code})", code=error.code or "invalid_request"
        ) from None
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        log_event(
            "stripe_credentials_refused", level=logging.ERROR, operation=operation, status=error.http_status
        )
        raise GatewayMisconfigured("Stripe refused our credentials") from None
    except stripe.StripeError as error:  # connection, timeout, 409 in flight, 429, 5xx: outcome unknown
        log_event(
            "stripe_unavailable",
            level=logging.WARNING,
            operation=operation,
            error=type(error).__name__,
            status=error.http_status,
        )
        raise GatewayTimeout(f"Stripe did not answer ({type(error).__name__})") from None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as plain dicts and lists (StripeObject is not a dict; to_dict is its public way)."""
    if obj is None:
        return {}
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeGateway(PaymentGateway):
    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str | None,
        api_base: str | None = None,
        timeout_s: float | tuple[float, float] = (2.0, 6.0),
    ) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.RequestsClient(timeout=timeout_s),
            max_network_retries=0,  # our own layers retry with the same key, within our time budget
        )
        self._webhook_secret = webhook_secret

    def __repr__(self) -> str:  # never the keys
        return "StripeGateway()"

    # --- methods ---------------------------------------------------------------------------------

    def create_method(self, *, provider_token: str, customer_id: str, customer_ref: str | None) -> MethodInfo:
        if not provider_token.startswith("pm_"):
            raise MethodRejected("Stripe payment methods are pm_... ids from the app's Stripe SDK")
        try:
            with _translated("retrieve_payment_method"):
                method = _plain(self._client.v1.payment_methods.retrieve(provider_token))
        except GatewayRejected:
            raise MethodRejected("Stripe does not know this payment method") from None
        if method.get("type") != "card" or not method.get("card"):
            raise MethodRejected("only cards can be saved")
        if customer_ref is None:
            with _translated("create_customer"):
                customer_ref = str(
                    self._client.v1.customers.create(
                        params={"metadata": {"customer_id": customer_id}},
                        options={"idempotency_key": f"customer_{customer_id}"},
                    ).id
                )
        attached = method.get("customer")
        attached_id = attached.get("id") if isinstance(attached, Mapping) else attached
        if attached_id is None:
            try:
                with _translated("attach_payment_method"):
                    method = _plain(
                        self._client.v1.payment_methods.attach(
                            method["id"],
                            params={"customer": customer_ref},
                            options={"idempotency_key": f"attach_{customer_id}_{method['id']}"},
                        )
                    )
            except GatewayRejected:
                raise MethodRejected("Stripe could not attach this payment method") from None
        elif attached_id != customer_ref:
            raise MethodRejected("this payment method belongs to another Stripe customer")
        card = method["card"]
        return MethodInfo(
            provider_ref=str(method["id"]),
            brand=str(card["brand"]),
            last4=str(card["last4"]),
            exp_month=int(card["exp_month"]),
            exp_year=int(card["exp_year"]),
            customer_ref=customer_ref,
        )

    # --- charges ---------------------------------------------------------------------------------

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
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": provider_ref,
            # Cards only. Since API version 2026-09-30.endive (stripe 16 pins 2026-10-28.endive),
            # `payment_method_types` is refused (400 payment_method_types_no_longer_supported).
            "allowed_payment_method_types": ["card"],
            "confirm": True,
            "off_session": True,
            "metadata": {**(metadata or {}), "reference": reference, "attempt": idempotency_key},
        }
        if customer_ref:
            params["customer"] = customer_ref
        try:
            with _translated("create_payment_intent"):
                try:
                    intent = _plain(
                        self._client.v1.payment_intents.create(
                            params=params, options={"idempotency_key": idempotency_key}
                        )
                    )
                except stripe.CardError as error:
                    return self._declined(error, amount=amount, currency=currency, reference=reference)
        except GatewayRejected as rejected:
            if rejected.code in ("resource_missing", "payment_method_unexpected_state"):
                # The saved method is gone or unusable at Stripe: nothing was charged; a decline.
                return Charge(
                    charge_id=None,
                    status="declined",
                    amount=amount,
                    currency=currency.upper(),
                    reference=reference,
                    decline_code="payment_method_unusable",
                )
            raise
        if intent.get("status") == "processing":
            # A replay answers the first response: ask for the intent as it is now.
            try:
                with _translated("retrieve_payment_intent"):
                    intent = _plain(self._client.v1.payment_intents.retrieve(intent["id"]))
            except GatewayTimeout:
                pass
        return self.charge_from_intent(intent)

    @staticmethod
    def _declined(error: stripe.CardError, *, amount: int, currency: str, reference: str) -> Charge:
        detail = _plain(error.error)
        code = detail.get("code") or error.code or "card_declined"
        decline = detail.get("decline_code") or code
        status: ChargeStatus = "requires_action" if code == "authentication_required" else "declined"
        intent = detail.get("payment_intent")
        if intent:
            return Charge(
                charge_id=intent.get("id"),
                status=status,
                amount=int(intent.get("amount", amount)),
                currency=str(intent.get("currency", currency)).upper(),
                reference=_text((intent.get("metadata") or {}).get("reference")),
                decline_code=decline,
            )
        return Charge(
            charge_id=None,
            status=status,
            amount=amount,
            currency=currency.upper(),
            reference=reference,
            decline_code=decline,
        )

    @staticmethod
    def charge_from_intent(intent: Mapping[str, Any]) -> Charge:
        status = intent.get("status")
        last_error = intent.get("last_payment_error") or {}
        decline = last_error.get("decline_code") or last_error.get("code")
        mapped: ChargeStatus
        if status == "succeeded":
            mapped, decline = "succeeded", None
        elif status in ("processing", "requires_capture"):
            mapped, decline = "processing", None
        elif status in ("requires_action", "requires_confirmation"):
            mapped, decline = "requires_action", decline or "authentication_required"
        elif status == "canceled":
            mapped, decline = "declined", decline or "canceled"
        else:  # requires_payment_method: the attempt failed
            mapped = "requires_action" if decline == "authentication_required" else "declined"
            decline = decline or "card_declined"
        return Charge(
            charge_id=_text(intent.get("id")),
            status=mapped,
            amount=int(intent.get("amount") or 0),
            currency=str(intent.get("currency") or "").upper(),
            reference=_text((intent.get("metadata") or {}).get("reference")),
            decline_code=decline,
        )

    def get_charge(
        self, *, reference: str | None = None, idempotency_key: str | None = None
    ) -> Charge | None:
        field, value = (
            ("attempt", idempotency_key) if idempotency_key is not None else ("reference", reference)
        )
        if value is None or not _SEARCHABLE.match(value):
            raise ValueError("get_charge needs a reference or an idempotency key made of [A-Za-z0-9_:.-]")
        with _translated("search_payment_intents"):
            found = self._client.v1.payment_intents.search(
                params={"query": f"metadata['{field}']:'{value}'", "limit": 10}
            )
        charges = [self.charge_from_intent(intent) for intent in _plain(found).get("data", [])]
        return next((c for c in charges if c.status == "succeeded"), charges[0] if charges else None)

    def refund(self, *, charge_id: str, amount: int, idempotency_key: str) -> Refund:
        with _translated("create_refund"):
            refund = _plain(
                self._client.v1.refunds.create(
                    params={"payment_intent": charge_id, "amount": amount},
                    options={"idempotency_key": idempotency_key},
                )
            )
        return Refund(
            refund_id=str(refund["id"]),
            charge_id=charge_id,
            amount=int(refund.get("amount") or amount),
            status=str(refund.get("status")),
        )

    # --- webhooks --------------------------------------------------------------------------------

    def parse_event(self, *, payload: bytes, signature: str | None) -> ProviderEvent:
        if not self._webhook_secret:
            log_event("stripe_webhook_secret_missing", level=logging.ERROR)
            raise EventRejected("no webhook signing secret is configured")
        if not signature:
            raise EventRejected("no Stripe-Signature header")
        try:
            event = _plain(
                self._client.construct_event(
                    payload, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_S
                )
            )
        except stripe.SignatureVerificationError:
            raise EventRejected(
                "the signature does not match, or the event is older than the tolerance"
            ) from None
        except ValueError:  # not UTF-8, not JSON
            raise EventRejected("the body is not a JSON event") from None
        try:
            kind = str(event["type"])
            obj = event["data"]["object"]
            charge, metadata = None, {}
            if kind.startswith("payment_intent.") and obj.get("object") == "payment_intent":
                charge = self.charge_from_intent(obj)
                metadata = {str(k): str(v) for k, v in (obj.get("metadata") or {}).items()}
            return ProviderEvent(event_id=str(event["id"]), kind=kind, charge=charge, metadata=metadata)
        except (KeyError, TypeError, AttributeError):
            raise EventRejected("the event is not shaped as Stripe's events are") from None
