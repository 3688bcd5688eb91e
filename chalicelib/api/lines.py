"""The routes of a lost or stolen phone (a Blueprint): suspend a line at once, and restore it, each
confirmed with a passkey bound to the exact change (`line.suspend` with the line and the reason,
`line.restore` with the line: chalicelib/auth/stepup.py). Each parses its input, calls one service
function of chalicelib/account/suspension.py, and shapes the answer. Built around the app's
authorizer, which app.py hands in: `app.register_blueprint(lines.blueprint(access_token))`.

Both read the session first (a token of an ended session is refused at once: ending the lost
phone's session must stop it from restoring the line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, ChaliceAuthorizer, Request, Response

from chalicelib.account import schemas as account_schemas
from chalicelib.account import suspension
from chalicelib.api import confirmed, validation
from chalicelib.api import principal as auth_edge
from chalicelib.api.responses import handled, ok

if TYPE_CHECKING:  # annotations only: the tokens module (PyJWT) loads with the first check of a token
    from chalicelib.auth.tokens import Principal


def blueprint(authorizer: ChaliceAuthorizer) -> Blueprint:
    routes = Blueprint(__name__)

    def request() -> Request:
        return routes.current_request

    def live() -> Principal:
        return auth_edge.live_principal(request())

    def line(line_id: str) -> str:
        return validation.path_id(line_id, pattern=account_schemas.LINE_ID, what="line")

    @routes.route("/lines/{line_id}/suspension", methods=["POST"], authorizer=authorizer)
    @handled
    def suspend_line(line_id: str) -> Response:
        me = live()
        body = validation.parse_body(
            confirmed.ConfirmedSuspendBody, validation.body_bytes(request().raw_body)
        )
        answer, created = suspension.suspend(
            customer_id=me.customer_id,
            session_id=me.session_id,
            line_id=line(line_id),
            reason=body.reason,
            challenge_id=body.confirmation.challenge_id,
            credential=body.confirmation.credential,
        )
        # 200: it was already suspended by the customer for this reason (a second tap, another device).
        return ok(answer, status=201 if created else 200)

    @routes.route("/lines/{line_id}/suspension/removal", methods=["POST"], authorizer=authorizer)
    @handled
    def restore_line(line_id: str) -> Response:
        me = live()
        body = validation.parse_body(confirmed.ConfirmedBody, validation.body_bytes(request().raw_body))
        return ok(
            suspension.restore(
                customer_id=me.customer_id,
                session_id=me.session_id,
                line_id=line(line_id),
                challenge_id=body.confirmation.challenge_id,
                credential=body.confirmation.credential,
            ),
            status=201,
        )

    return routes
