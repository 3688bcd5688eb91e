"""The payment provider's webhook: a verified event about one of our bill payments settles it at
once, through the same settlement code as the request and the sweeper (so the provider's charge is
checked against the payment, and a charge for a payment that failed meanwhile is refunded).

- Signature (and age, 5 minutes) checked by the gateway's adapter: a bad or absent signature is a
  400, never a 5xx (the provider would retry it for days), and changes nothing.
- `payment_intent.succeeded` / `payment_intent.payment_failed` about a bill payment (our metadata
  says `kind=bill_payment` and where the payment is) are settled; every other event is answered
  200 and ignored.
- A replayed event is harmless: settling is idempotent (conditional writes, one refund per attempt).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from chalicelib.billing import settlement
from chalicelib.billing.gateway import EventRejected, GatewayTimeout, get_gateway
from chalicelib.billing.settlement import ChargeMismatch
from chalicelib.errors import TemporarilyUnavailable, ValidationFailed
from chalicelib.observability.log import log_event
from chalicelib.store.models import Payment, customer_pk

SETTLING = {"payment_intent.succeeded", "payment_intent.payment_failed"}
_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def handle(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    try:
        event = get_gateway().parse_event(payload=payload, signature=signature)
    except EventRejected as rejected:
        log_event("provider_webhook_refused", level=logging.WARNING, reason=str(rejected))
        raise ValidationFailed(
            "The event's signature could not be verified.", code="invalid_signature"
        ) from None
    meta = event.metadata
    if event.kind not in SETTLING or event.charge is None or meta.get("kind") != settlement.BILL_PAYMENT:
        log_event("provider_webhook_ignored", event_id=event.event_id, type=event.kind)
        return {"received": True, "handled": False}
    customer_id, bill_id, reference = (
        meta.get("customer_id", ""),
        meta.get("bill_id", ""),
        event.charge.reference or "",
    )
    if not all(_ID.match(v) for v in (customer_id, bill_id, reference)):
        log_event(
            "provider_webhook_unknown_payment",
            level=logging.WARNING,
            event_id=event.event_id,
            type=event.kind,
        )
        return {"received": True, "handled": False}
    try:
        payment = Payment.get(
            customer_pk(customer_id), f"BILL#{bill_id}#PAY#{reference}", consistent_read=True
        )
    except Payment.DoesNotExist:  # another environment's payment on the same account, or deleted
        log_event(
            "provider_webhook_unknown_payment",
            level=logging.WARNING,
            event_id=event.event_id,
            type=event.kind,
        )
        return {"received": True, "handled": False}
    try:
        settled = settlement.settle(payment, event.charge, via="webhook")
    except ChargeMismatch:  # logged and counted there; the payment stays as it was
        return {"received": True, "handled": False}
    except GatewayTimeout:
        raise TemporarilyUnavailable("The payment provider did not answer; send the event again.") from None
    log_event(
        "provider_webhook_settled",
        customer_id=payment.customer_id,
        payment=payment.payment_id,
        type=event.kind,
        status=settled.status,
        refunded=bool(settled.refund_id),
    )
    return {"received": True, "handled": True}
