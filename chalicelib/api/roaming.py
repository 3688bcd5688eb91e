"""The routes of abroad (a Blueprint): a line's roaming state and tariffs, and its data spending limit
changed with a passkey confirmation bound to the line and the new limit (`roaming.limit`:
chalicelib/auth/stepup.py). Each parses its input, calls one service function of
chalicelib/account/roaming.py, and shapes the answer. app.py hands in its authorizer:
`app.register_blueprint(roaming.blueprint(access_token))`.

The change reads the session first: a money change is made on a session that has not ended.
"""

from __future__ import annotations

from chalice.app import Blueprint, ChaliceAuthorizer, Request, Response

from chalicelib.account import roaming
from chalicelib.account import schemas as account_schemas
from chalicelib.api import confirmed, validation
from chalicelib.api import principal as auth_edge
from chalicelib.api.responses import handled, ok


def blueprint(authorizer: ChaliceAuthorizer) -> Blueprint:
    routes = Blueprint(__name__)

    def request() -> Request:
        return routes.current_request

    def line(line_id: str) -> str:
        return validation.path_id(line_id, pattern=account_schemas.LINE_ID, what="line")

    @routes.route("/lines/{line_id}/roaming", methods=["GET"], authorizer=authorizer)
    @handled
    def get_line_roaming(line_id: str) -> Response:
        me = auth_edge.principal(request())
        return ok(roaming.view(customer_id=me.customer_id, line_id=line(line_id)))

    @routes.route("/lines/{line_id}/roaming/data-limit", methods=["PUT"], authorizer=authorizer)
    @handled
    def put_roaming_data_limit(line_id: str) -> Response:
        me = auth_edge.live_principal(request())
        body = validation.parse_body(
            confirmed.ConfirmedDataLimitBody, validation.body_bytes(request().raw_body)
        )
        return ok(
            roaming.set_limit(
                customer_id=me.customer_id,
                session_id=me.session_id,
                line_id=line(line_id),
                amount=body.amount,
                challenge_id=body.confirmation.challenge_id,
                credential=body.confirmation.credential,
            )
        )

    return routes
