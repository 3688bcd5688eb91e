"""The purchase routes (a Blueprint): a line's catalogue, buying an option, top-up or bolt-on, and
removing a recurring option. Each parses its input, calls one service function of
chalicelib/purchases, and shapes the answer. Built around the app's authorizer, which app.py
hands in: `app.register_blueprint(purchases.blueprint(access_token))`.

Reads rely on the access token's 15-minute expiry, like the other line views; the two changes
read the session (a token of an ended session is refused at once) and carry a step-up
confirmation bound to the exact change (`option.buy`, `option.remove`: chalicelib/auth/stepup.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, ChaliceAuthorizer, Request, Response

from chalicelib.account import schemas as account_schemas
from chalicelib.api import confirmed, ratelimit, validation
from chalicelib.api import principal as auth_edge
from chalicelib.api.responses import handled, ok
from chalicelib.billing import schemas as billing_schemas
from chalicelib.purchases import schemas, service

if TYPE_CHECKING:  # annotations only: the tokens module (PyJWT) loads with the first check of a token
    from chalicelib.auth.tokens import Principal


def blueprint(authorizer: ChaliceAuthorizer) -> Blueprint:
    routes = Blueprint(__name__)

    def request() -> Request:
        return routes.current_request

    def caller() -> Principal:
        return auth_edge.principal(request())

    def live() -> Principal:
        return auth_edge.live_principal(request())

    def line(line_id: str) -> str:
        return validation.path_id(line_id, pattern=account_schemas.LINE_ID, what="line")

    def option(option_id: str) -> str:
        return validation.path_id(option_id, pattern=schemas.OPTION_ID, what="option")

    @routes.route("/lines/{line_id}/catalog", methods=["GET"], authorizer=authorizer)
    @handled
    def line_catalog(line_id: str) -> Response:
        me = caller()
        return ok(service.line_catalog(customer_id=me.customer_id, line_id=line(line_id)))

    @routes.route("/lines/{line_id}/options/{option_id}/preview", methods=["GET"], authorizer=authorizer)
    @handled
    def preview_option(line_id: str, option_id: str) -> Response:
        me = caller()
        # Each preview writes its single-use token, and each purchase needs a fresh one: counting
        # previews against the customer's money limit bounds both.
        ratelimit.check("payment_customer", me.customer_id)
        return ok(
            service.preview(customer_id=me.customer_id, line_id=line(line_id), option_id=option(option_id))
        )

    @routes.route("/lines/{line_id}/options", methods=["POST"], authorizer=authorizer)
    @handled
    def buy_option(line_id: str) -> Response:
        me = live()
        key = validation.parse_idempotency_key(
            request().headers.get("idempotency-key"), pattern=billing_schemas.IDEMPOTENCY_KEY
        )
        body = validation.parse_body(confirmed.ConfirmedBuyBody, validation.body_bytes(request().raw_body))
        return ok(
            service.buy(
                customer_id=me.customer_id,
                session_id=me.session_id,
                line_id=line(line_id),
                option_id=body.option_id,
                preview_token=body.preview_token,
                key=key,
                challenge_id=body.confirmation.challenge_id,
                credential=body.confirmation.credential,
            ),
            status=201,
        )

    @routes.route(
        "/lines/{line_id}/options/{option_id}/removal/preview", methods=["GET"], authorizer=authorizer
    )
    @handled
    def preview_option_removal(line_id: str, option_id: str) -> Response:
        me = caller()
        ratelimit.check("payment_customer", me.customer_id)
        return ok(
            service.removal_preview(
                customer_id=me.customer_id, line_id=line(line_id), option_id=option(option_id)
            )
        )

    @routes.route("/lines/{line_id}/options/{option_id}/removal", methods=["POST"], authorizer=authorizer)
    @handled
    def remove_option(line_id: str, option_id: str) -> Response:
        me = live()
        body = validation.parse_body(
            confirmed.ConfirmedRemovalBody, validation.body_bytes(request().raw_body)
        )
        return ok(
            service.remove(
                customer_id=me.customer_id,
                session_id=me.session_id,
                line_id=line(line_id),
                option_id=option(option_id),
                preview_token=body.preview_token,
                challenge_id=body.confirmation.challenge_id,
                credential=body.confirmation.credential,
            ),
            status=201,
        )

    return routes
