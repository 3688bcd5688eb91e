"""Provider webhooks (unauthenticated routes whose callers prove themselves by signature)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api import validation
from chalicelib.api.responses import handled, ok
from chalicelib.billing import provider_events

blueprint = Blueprint(__name__)


@blueprint.route("/webhooks/stripe", methods=["POST"])
@handled
def stripe_webhook() -> Response:
    request = blueprint.current_request
    # The raw bytes, as signed: never re-serialised JSON.
    return ok(
        provider_events.handle(
            payload=validation.body_bytes(request.raw_body), signature=request.headers.get("stripe-signature")
        )
    )
