"""The payment-arrangement routes (a Blueprint): an overdue balance paid in instalments. Each parses
its input, calls one service function of chalicelib/billing/arrangements.py, and shapes the answer.
Built around the app's authorizer, which app.py hands in:
`app.register_blueprint(arrangements.blueprint(access_token))`.

Reads rely on the access token's 15-minute expiry, like the other bill views; the confirmation
reads the session (a token of an ended session is refused at once) and carries a step-up
confirmation bound to the exact schedule (`arrangement.create`: chalicelib/auth/stepup.py).
Under `/me`, not `/bills`: `/bills/arrangements/{arrangement_id}` and `/bills/{bill_id}/payments`
would both match `/bills/arrangements/payments` (an ambiguous pair the contract linters refuse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, ChaliceAuthorizer, Request, Response

from chalicelib.api import confirmed, ratelimit, validation
from chalicelib.api import principal as auth_edge
from chalicelib.api.responses import handled, ok
from chalicelib.billing import arrangements, schemas

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

    @routes.route("/me/arrangements/preview", methods=["GET"], authorizer=authorizer)
    @handled
    def preview_arrangement() -> Response:
        me = caller()
        query = validation.parse_query(schemas.ArrangementPreviewQuery, request().query_params)
        return ok(arrangements.preview(customer_id=me.customer_id, instalments=query.instalments))

    @routes.route("/me/arrangements", methods=["POST"], authorizer=authorizer)
    @handled
    def create_arrangement() -> Response:
        me = live()
        # Money: counted against the customer's payment limit, like paying a bill.
        ratelimit.check("payment_customer", me.customer_id)
        body = validation.parse_body(
            confirmed.ConfirmedArrangementBody, validation.body_bytes(request().raw_body)
        )
        return ok(
            arrangements.create(
                customer_id=me.customer_id,
                session_id=me.session_id,
                instalments=body.instalments,
                balance=body.balance,
                challenge_id=body.confirmation.challenge_id,
                credential=body.confirmation.credential,
            ),
            status=201,
        )

    @routes.route("/me/arrangements", methods=["GET"], authorizer=authorizer)
    @handled
    def list_arrangements() -> Response:
        me = caller()
        query = validation.parse_query(schemas.ArrangementsQuery, request().query_params)
        return ok(arrangements.list_mine(customer_id=me.customer_id, cursor=query.cursor, limit=query.limit))

    @routes.route("/me/arrangements/{arrangement_id}", methods=["GET"], authorizer=authorizer)
    @handled
    def get_arrangement(arrangement_id: str) -> Response:
        me = caller()
        wanted = validation.path_id(arrangement_id, pattern=schemas.ARRANGEMENT_ID, what="arrangement")
        return ok(arrangements.get(customer_id=me.customer_id, arrangement_id=wanted))

    return routes
