"""The routes of one's own data (a Blueprint): the data export (asked for, then its status and
download link), marketing consent, and closing the account (preview, passkey-confirmed closure and
its cancellation: step-ups `account.close` / `account.close_cancel`, bound to the effective date). Each parses its input, calls one service function of
chalicelib/privacy/, and shapes the answer. Built around the app's authorizer, which app.py hands
in: `app.register_blueprint(privacy.blueprint(access_token))`.

Every route reads the session first (a token of an ended session is refused at once: a stolen
phone whose session was ended must not take the customer's data with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, ChaliceAuthorizer, Request, Response

from chalicelib.api import confirmed, validation
from chalicelib.api import principal as auth_edge
from chalicelib.api.responses import handled, ok
from chalicelib.privacy import closure, consent, export

if TYPE_CHECKING:  # annotations only: the tokens module (PyJWT) loads with the first check of a token
    from chalicelib.auth.tokens import Principal

EXPORT_ID = r"^exp_[0-9a-f]{20}$"


def blueprint(authorizer: ChaliceAuthorizer) -> Blueprint:
    routes = Blueprint(__name__)

    def request() -> Request:
        return routes.current_request

    def live() -> Principal:
        return auth_edge.live_principal(request())

    @routes.route("/me/data-export", methods=["POST"], authorizer=authorizer)
    @handled
    def request_data_export() -> Response:
        me = live()
        answer, _created = export.request_export(customer_id=me.customer_id)
        # 202 either way: a second request while one is preparing answers that same export.
        return ok(answer, status=202)

    @routes.route("/me/data-export/{export_id}", methods=["GET"], authorizer=authorizer)
    @handled
    def get_data_export(export_id: str) -> Response:
        me = live()
        return ok(
            export.export_status(
                customer_id=me.customer_id,
                export_id=validation.path_id(export_id, pattern=EXPORT_ID, what="data export"),
            )
        )

    @routes.route("/me/consents", methods=["GET"], authorizer=authorizer)
    @handled
    def get_consents() -> Response:
        me = live()
        return ok(consent.get_consents(customer_id=me.customer_id))

    @routes.route("/me/consents", methods=["PUT"], authorizer=authorizer)
    @handled
    def put_consents() -> Response:
        me = live()
        body = validation.parse_body(consent.ConsentsBody, validation.body_bytes(request().raw_body))
        return ok(consent.set_consents(customer_id=me.customer_id, marketing=body.marketing))

    @routes.route("/me/closure/preview", methods=["GET"], authorizer=authorizer)
    @handled
    def preview_closure() -> Response:
        me = live()
        return ok(closure.preview(customer_id=me.customer_id))

    @routes.route("/me/closure", methods=["GET"], authorizer=authorizer)
    @handled
    def get_closure() -> Response:
        me = live()
        return ok(closure.current(customer_id=me.customer_id))

    @routes.route("/me/closure", methods=["POST"], authorizer=authorizer)
    @handled
    def close_account() -> Response:
        me = live()
        body = validation.parse_body(confirmed.ConfirmedBody, validation.body_bytes(request().raw_body))
        return ok(
            closure.close(
                customer_id=me.customer_id,
                session_id=me.session_id,
                challenge_id=body.confirmation.challenge_id,
                credential=body.confirmation.credential,
            ),
            status=201,
        )

    @routes.route("/me/closure/cancellation", methods=["POST"], authorizer=authorizer)
    @handled
    def cancel_closure() -> Response:
        me = live()
        body = validation.parse_body(confirmed.ConfirmedBody, validation.body_bytes(request().raw_body))
        return ok(
            closure.cancel(
                customer_id=me.customer_id,
                session_id=me.session_id,
                challenge_id=body.confirmation.challenge_id,
                credential=body.confirmation.credential,
            )
        )

    return routes
