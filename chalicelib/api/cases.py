"""The cases' routes (a Blueprint): each parses its input, calls one service function of
chalicelib/cases, and shapes the answer. Built around the app's authorizer, which app.py hands in:
`app.register_blueprint(cases.blueprint(access_token))`.

Writes read the session (a token of an ended session is refused at once) and count against the
customer's write limit; reads rely on the access token's 15-minute expiry, like the other views.
Error messages follow `Accept-Language` (fr or en), as on every route (chalicelib/api/messages.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from chalice.app import Blueprint, ChaliceAuthorizer, Request, Response

from chalicelib.api import confirmed, validation
from chalicelib.api import principal as auth_edge
from chalicelib.api.responses import handled, ok
from chalicelib.auth import sessions, stepup
from chalicelib.cases import callcodes, documents, limits, schemas, service

if TYPE_CHECKING:  # annotations only: the tokens module (PyJWT) loads with the first check of a token
    from chalicelib.auth.tokens import Principal

F = TypeVar("F", bound=Callable[..., Response])

CALL_CODE_ACTION = "call_code"


def blueprint(authorizer: ChaliceAuthorizer) -> Blueprint:
    routes = Blueprint(__name__)

    def request() -> Request:
        return routes.current_request

    def caller() -> Principal:
        return auth_edge.principal(request())

    def writer() -> Principal:
        """The caller on a live session, counted against the customer's write limit."""
        me = auth_edge.live_principal(request())
        limits.take("case_write_customer", me.customer_id)
        return me

    def raw_body() -> bytes:
        return validation.body_bytes(request().raw_body)

    def checked(case_id: str) -> str:
        return validation.path_id(case_id, pattern=schemas.CASE_ID, what="case")

    def idempotency_key() -> str:
        # The payments' check; `in_language` gives its codes the cases' French or English message.
        return validation.parse_idempotency_key(
            request().headers.get("idempotency-key"), pattern=schemas.IDEMPOTENCY_KEY
        )

    @routes.route("/me/cases", methods=["POST"], authorizer=authorizer)
    @handled
    def open_case() -> Response:
        me = writer()
        key = idempotency_key()
        body = validation.parse_body(schemas.OpenCaseBody, raw_body())
        case, created = service.open_case(
            customer_id=me.customer_id, key=key, origin=body.origin, topic=body.topic, message=body.message
        )
        return ok(case, status=201 if created else 200)

    @routes.route("/me/cases", methods=["GET"], authorizer=authorizer)
    @handled
    def list_cases() -> Response:
        me = caller()
        query = validation.parse_query(schemas.CasesQuery, request().query_params)
        return ok(
            service.list_cases(
                customer_id=me.customer_id, status=query.status, cursor=query.cursor, limit=query.limit
            )
        )

    @routes.route("/me/cases/{case_id}", methods=["GET"], authorizer=authorizer)
    @handled
    def get_case(case_id: str) -> Response:
        me = caller()
        return ok(service.get_case(customer_id=me.customer_id, case_id=checked(case_id)))

    @routes.route("/me/cases/{case_id}/messages", methods=["POST"], authorizer=authorizer)
    @handled
    def reply_to_case(case_id: str) -> Response:
        me = writer()
        body = validation.parse_body(schemas.MessageBody, raw_body())
        return ok(
            service.reply(customer_id=me.customer_id, case_id=checked(case_id), message=body.message),
            status=201,
        )

    @routes.route("/me/cases/{case_id}/close", methods=["POST"], authorizer=authorizer)
    @handled
    def close_case(case_id: str) -> Response:
        me = writer()
        body = validation.parse_body(schemas.CloseBody, raw_body())
        return ok(
            service.close(
                customer_id=me.customer_id, case_id=checked(case_id), solved=body.solved, comment=body.comment
            )
        )

    @routes.route("/me/cases/{case_id}/documents/upload", methods=["POST"], authorizer=authorizer)
    @handled
    def new_case_document_upload(case_id: str) -> Response:
        me = writer()
        body = validation.parse_body(schemas.UploadBody, raw_body())
        return ok(
            documents.new_upload(
                customer_id=me.customer_id,
                case_id=checked(case_id),
                content_type=body.content_type,
                file_name=body.file_name,
            ),
            status=201,
        )

    @routes.route("/me/cases/{case_id}/documents", methods=["POST"], authorizer=authorizer)
    @handled
    def attach_case_document(case_id: str) -> Response:
        me = writer()
        body = validation.parse_body(schemas.AttachBody, raw_body())
        return ok(
            documents.attach(customer_id=me.customer_id, case_id=checked(case_id), upload_id=body.upload_id),
            status=201,
        )

    @routes.route("/me/call-codes", methods=["POST"], authorizer=authorizer)
    @handled
    def new_call_code() -> Response:
        me = caller()
        sessions.require_live(customer_id=me.customer_id, session_id=me.session_id)
        limits.take("call_code_customer", me.customer_id)
        body = validation.parse_body(confirmed.ConfirmedCallCodeBody, raw_body())
        if body.case_id is not None:
            service.load(me.customer_id, body.case_id)  # 404 for anyone else's, before the confirmation
        if body.confirmation is None:
            raise confirmed.step_up_required(CALL_CODE_ACTION)
        params = {"case_id": body.case_id} if body.case_id else {}
        stepup.confirm(
            customer_id=me.customer_id,
            session_id=me.session_id,
            action=CALL_CODE_ACTION,
            params=params,
            challenge_id=body.confirmation.challenge_id,
            credential=body.confirmation.credential,
        )
        return ok(callcodes.issue(customer_id=me.customer_id, case_id=body.case_id), status=201)

    return routes
