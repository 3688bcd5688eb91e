"""The purchase routes (a Blueprint): a line's catalogue, buying an option, top-up or bolt-on, and
removing a recurring option. Each parses its input, calls one service function of
chalicelib/purchases, and shapes the answer. Built around the app's authorizer, which app.py
hands in: `app.register_blueprint(purchases.blueprint(access_token))`.

Reads rely on the access token's 15-minute expiry, like the other line views; the two changes
read the session (a token of an ended session is refused at once) and carry a step-up
confirmation bound to the exact change (`option.buy`, `option.remove`: chalicelib/auth/stepup.py).
"""

from __future__ import annotations

from chalice.app import Blueprint, ChaliceAuthorizer, Request, Response

from chalicelib.account import schemas as account_schemas
from chalicelib.api import principal as auth_edge
from chalicelib.api import ratelimit
from chalicelib.api.confirmed import Confirmation
from chalicelib.api.responses import handled, ok
from chalicelib.api.validation import body_bytes, parse_body, parse_idempotency_key, path_id
from chalicelib.auth.tokens import Principal
from chalicelib.billing.schemas import IDEMPOTENCY_KEY
from chalicelib.purchases import schemas, service


class BuyRequest(schemas.BuyBody):
    confirmation: Confirmation


class RemovalRequest(schemas.RemovalBody):
    confirmation: Confirmation


def blueprint(authorizer: ChaliceAuthorizer) -> Blueprint:
    routes = Blueprint(__name__)

    def request() -> Request:
        return routes.current_request

    def caller() -> Principal:
        return auth_edge.principal(request())

    def live() -> Principal:
        return auth_edge.live_principal(request())

    def line(line_id: str) -> str:
        return path_id(line_id, pattern=account_schemas.LINE_ID, what="line")

    def option(option_id: str) -> str:
        return path_id(option_id, pattern=schemas.OPTION_ID, what="option")

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
        key = parse_idempotency_key(request().headers.get("idempotency-key"), pattern=IDEMPOTENCY_KEY)
        body = parse_body(BuyRequest, body_bytes(request().raw_body))
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
        body = parse_body(RemovalRequest, body_bytes(request().raw_body))
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
