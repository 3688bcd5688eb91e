"""The Chalice app: routes and event handlers only. Each parses its input, calls one service
function in `chalicelib/`, and shapes the response; `chalicelib.api.responses.handled` turns domain
errors into JSON errors. The customer id always comes from the verified access token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import AuthRequest, Chalice, DynamoDBEvent, Rate, Request, Response, SQSEvent

# First of ours: the service modules become lazy (run on first use), every item kind registered.
from chalicelib import startup  # noqa: F401
from chalicelib.account import catalog, ingestion, lines, plan_change, profile, views
from chalicelib.account import schemas as account_schemas
from chalicelib.api import admin as admin_edge
from chalicelib.api import arrangements as arrangement_routes
from chalicelib.api import cases as case_routes
from chalicelib.api import confirmed, guard, ratelimit, validation, webhooks
from chalicelib.api import help as help_routes
from chalicelib.api import lines as line_routes
from chalicelib.api import principal as auth_edge
from chalicelib.api import privacy as privacy_routes
from chalicelib.api import purchases as purchase_routes
from chalicelib.api import roaming as roaming_routes
from chalicelib.api.responses import access_log_middleware, from_domain_error, handled, no_content, ok
from chalicelib.auth import keys, passkeys, security_events, sessions, stepup, tokens, wellknown
from chalicelib.auth import schemas as auth_schemas
from chalicelib.bidding import bids, closing, engagement, grants, offers
from chalicelib.bidding import schemas as bidding_schemas
from chalicelib.billing import arrangements, bills, methods, overdue, payments, settlement
from chalicelib.billing import schemas as billing_schemas
from chalicelib.cases import admin as case_admin
from chalicelib.common.pan import redact_pans
from chalicelib.config import get_settings
from chalicelib.customers import admin as customer_admin
from chalicelib.errors import ServiceMisconfigured
from chalicelib.help import admin as help_admin
from chalicelib.notifications import announcements, delivery, devices, inbox, preferences
from chalicelib.notifications import schemas as notification_schemas
from chalicelib.notifications import stream as table_stream
from chalicelib.observability import snapstart  # noqa: F401 - registers the SnapStart hooks
from chalicelib.observability.log import logged_handler
from chalicelib.privacy import erasure
from chalicelib.purchases import feed

if TYPE_CHECKING:  # annotations only: the tokens module (PyJWT) loads with the first check of a token
    from chalicelib.auth.tokens import Principal

app = Chalice(app_name="selfcare")
app.register_blueprint(webhooks.blueprint)
app.register_blueprint(help_routes.blueprint)


@app.middleware("all")
def _fail_closed(event: Any, get_response: Any) -> Any:
    """A deployed stage with local stand-ins serves nothing (see chalicelib/api/guard.py)."""
    if guard.problems():
        if isinstance(event, Request):
            return from_domain_error(
                ServiceMisconfigured("The service is temporarily unavailable.", code="service_misconfigured")
            )
        guard.refuse_if_unsafe()
    return get_response(event)


@app.middleware("http")
def _access_log(request: Request, get_response: Any) -> Response:
    return access_log_middleware(request, get_response)


# ttl 0: every request is checked, so a token is never accepted past its `exp` from a cache.
@app.authorizer(ttl_seconds=0)
def access_token(auth_request: AuthRequest) -> Any:
    return auth_edge.authorize(auth_request, refuse_all=bool(guard.problems()))


# Built around the authorizer above: its routes need it.
app.register_blueprint(case_routes.blueprint(access_token))
app.register_blueprint(purchase_routes.blueprint(access_token))
app.register_blueprint(line_routes.blueprint(access_token))
app.register_blueprint(roaming_routes.blueprint(access_token))
app.register_blueprint(privacy_routes.blueprint(access_token))
app.register_blueprint(arrangement_routes.blueprint(access_token))  # payment arrangements


def _request() -> Request:
    request = app.current_request
    if request is None:  # only a route handler calls this: a request is in hand
        raise RuntimeError("no current request")
    return request


def _body() -> bytes:
    """The request's body, as sent (for parse_body)."""
    return validation.body_bytes(_request().raw_body)


def _live() -> Principal:
    return auth_edge.live_principal(_request())


def _confirmed(
    me: Principal, action: str, params: dict[str, Any], confirmation: confirmed.Confirmation | None
) -> None:
    """This exact change was confirmed with a passkey on this session, which the caller has just
    checked is live (`_live()`; see auth/stepup.py)."""
    if confirmation is None:
        raise confirmed.step_up_required(action)
    stepup.confirm(
        customer_id=me.customer_id,
        session_id=me.session_id,
        action=action,
        params=params,
        challenge_id=confirmation.challenge_id,
        credential=confirmation.credential,
    )


def _device() -> str | None:
    """The User-Agent, kept on the session for the customer's list of devices (a card number a
    client put there is masked: it is stored and shown again)."""
    agent = _request().headers.get("user-agent")
    return redact_pans(agent) if agent else None


def _client() -> str:
    """The caller as API Gateway saw it (not a header the client could set): its IPv4 address or
    its IPv6 /64."""
    return ratelimit.client_key(
        str(((_request().context or {}).get("identity") or {}).get("sourceIp") or "unknown")
    )


# --- well-known documents --------------------------------------------------------------------------


@app.route("/.well-known/jwks.json", methods=["GET"])
@handled
def jwks() -> Response:
    return ok(keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


@app.route("/.well-known/assetlinks.json", methods=["GET"])
@handled
def assetlinks() -> Response:
    return ok(wellknown.assetlinks())


@app.route("/.well-known/apple-app-site-association", methods=["GET"])
@handled
def apple_app_site_association() -> Response:
    return ok(wellknown.apple_app_site_association())


# --- passkey enrolment and sign-in -----------------------------------------------------------------


@app.route("/auth/passkeys/register/options", methods=["POST"])
@handled
def register_options() -> Response:
    ratelimit.check("sign_in_client", _client())
    body = validation.parse_body(confirmed.RegisterOptionsBody, _body())
    if body.activation_code is not None:
        ratelimit.check("activation_client", _client())
    authorization = _request().headers.get("authorization")  # present when adding another passkey
    signed_in = tokens.principal_from_header(authorization) if authorization else None
    body.check_for(signed_in=signed_in is not None)
    if signed_in is not None:  # another passkey: a stolen token alone must not add one
        sessions.require_live(customer_id=signed_in.customer_id, session_id=signed_in.session_id)
        _confirmed(signed_in, "passkey.add", {}, body.confirmation)
    options = passkeys.registration_options(
        customer_id=signed_in.customer_id if signed_in else None,
        enrolment_handle=body.enrolment_handle,
        activation_code=body.activation_code,
    )
    return ok(options.to_wire())


@app.route("/auth/passkeys/register/verify", methods=["POST"])
@handled
def register_verify() -> Response:
    ratelimit.check("sign_in_client", _client())
    body = validation.parse_body(auth_schemas.RegisterVerifyBody, _body())
    tokens = passkeys.register(
        challenge_id=body.challenge_id, credential=body.credential, name=body.name, device=_device()
    )
    return ok(tokens.to_wire(), status=201)


@app.route("/auth/passkeys/login/options", methods=["POST"])
@handled
def login_options() -> Response:
    validation.parse_body(auth_schemas.EmptyBody, _body())
    # Counted in the challenge's own write: one DynamoDB call (issue 17).
    return ok(passkeys.login_options(limit=ratelimit.pending("sign_in_client", _client())).to_wire())


@app.route("/auth/passkeys/login/verify", methods=["POST"])
@handled
def login_verify() -> Response:
    body = validation.parse_body(auth_schemas.CredentialBody, _body())
    # Counted in the sign-in's own transaction (a refusal: with its challenge spent): one call
    # fewer than counting first. A malformed body, refused before any call, is not counted.
    return ok(
        passkeys.login(
            challenge_id=body.challenge_id,
            credential=body.credential,
            device=_device(),
            limit=ratelimit.pending("sign_in_client", _client()),
        ).to_wire()
    )


@app.route("/auth/token/refresh", methods=["POST"])
@handled
def refresh_token() -> Response:
    ratelimit.check("sign_in_client", _client())
    body = validation.parse_body(auth_schemas.RefreshBody, _body())
    return ok(sessions.refresh(refresh_token=body.refresh_token).to_wire())


@app.route("/auth/logout", methods=["POST"], authorizer=access_token)
@handled
def logout() -> Response:
    validation.parse_body(auth_schemas.EmptyBody, _body())
    me = auth_edge.principal(_request())
    sessions.revoke(customer_id=me.customer_id, session_id=me.session_id, reason="logout")
    return no_content()


# --- the customer's passkeys and sessions ----------------------------------------------------------


@app.route("/me/passkeys", methods=["GET"], authorizer=access_token)
@handled
def list_passkeys() -> Response:
    me = _live()
    return ok({"passkeys": passkeys.list_passkeys(customer_id=me.customer_id)})


@app.route("/me/passkeys/{passkey_id}", methods=["PATCH"], authorizer=access_token)
@handled
def rename_passkey(passkey_id: str) -> Response:
    me = _live()
    body = validation.parse_body(auth_schemas.RenamePasskeyBody, _body())
    passkey_id = validation.path_id(passkey_id, pattern=auth_schemas.PASSKEY_ID, what="passkey")
    return ok(passkeys.rename(customer_id=me.customer_id, passkey_id=passkey_id, name=body.name))


@app.route("/me/passkeys/{passkey_id}", methods=["DELETE"], authorizer=access_token)
@handled
def delete_passkey(passkey_id: str) -> Response:
    me = _live()
    passkey_id = validation.path_id(passkey_id, pattern=auth_schemas.PASSKEY_ID, what="passkey")
    passkeys.name_of(
        customer_id=me.customer_id, passkey_id=passkey_id
    )  # 404 for anyone else's, before the body
    body = validation.parse_body(confirmed.ConfirmedBody, _body())
    _confirmed(me, "passkey.remove", {"passkey_id": passkey_id}, body.confirmation)
    passkeys.remove(customer_id=me.customer_id, passkey_id=passkey_id)
    return no_content()


@app.route("/me/step-up", methods=["POST"], authorizer=access_token)
@handled
def begin_step_up() -> Response:
    me = _live()
    body = validation.parse_body(confirmed.StepUpBody, _body())
    return ok(
        stepup.begin(
            customer_id=me.customer_id,
            session_id=me.session_id,
            action=body.root.action,
            params=body.params(),
        ).to_wire()
    )


@app.route("/me/sessions", methods=["GET"], authorizer=access_token)
@handled
def list_sessions() -> Response:
    me = _live()
    return ok(
        {"sessions": sessions.list_sessions(customer_id=me.customer_id, current_session_id=me.session_id)}
    )


@app.route("/me/sessions/{session_id}", methods=["DELETE"], authorizer=access_token)
@handled
def end_session(session_id: str) -> Response:
    me = _live()
    session_id = validation.path_id(session_id, pattern=auth_schemas.SESSION_ID, what="session")
    sessions.revoke(customer_id=me.customer_id, session_id=session_id, reason="ended_by_customer")
    return no_content()


# --- account and consumption ----------------------------------------------------------------------


@app.route("/me", methods=["GET"], authorizer=access_token)
@handled
def get_me() -> Response:
    me = auth_edge.principal(_request())
    return ok(views.get_me(customer_id=me.customer_id))


@app.route("/me", methods=["PATCH"], authorizer=access_token)
@handled
def patch_me() -> Response:
    me = _live()
    changes = validation.parse_body(confirmed.ConfirmedProfilePatch, _body())
    contact = confirmed.contact_params(changes)
    if contact is not None:
        _confirmed(me, "profile.update", contact, changes.confirmation)
    return ok(profile.patch(customer_id=me.customer_id, changes=changes))


def _line_id(line_id: str) -> str:
    return validation.path_id(line_id, pattern=account_schemas.LINE_ID, what="line")


@app.route("/lines/{line_id}", methods=["GET"], authorizer=access_token)
@handled
def get_line(line_id: str) -> Response:
    me = auth_edge.principal(_request())
    return ok(views.line_view(customer_id=me.customer_id, line_id=_line_id(line_id)))


@app.route("/lines/{line_id}/usage", methods=["GET"], authorizer=access_token)
@handled
def get_line_usage(line_id: str) -> Response:
    me = auth_edge.principal(_request())
    return ok(views.usage_view(customer_id=me.customer_id, line_id=_line_id(line_id)))


@app.route("/lines/{line_id}/usage/daily", methods=["GET"], authorizer=access_token)
@handled
def get_line_daily_usage(line_id: str) -> Response:
    me = auth_edge.principal(_request())
    query = validation.parse_query(account_schemas.DailyQuery, _request().query_params)
    return ok(
        views.daily_usage(
            customer_id=me.customer_id, line_id=_line_id(line_id), start=query.from_, end=query.to
        )
    )


@app.route("/lines/{line_id}/plan-change/preview", methods=["GET"], authorizer=access_token)
@handled
def preview_plan_change(line_id: str) -> Response:
    me = auth_edge.principal(_request())
    query = validation.parse_query(account_schemas.PreviewQuery, _request().query_params)
    return ok(
        plan_change.preview(customer_id=me.customer_id, line_id=_line_id(line_id), plan_id=query.plan_id)
    )


@app.route("/lines/{line_id}/plan-change", methods=["POST"], authorizer=access_token)
@handled
def request_plan_change(line_id: str) -> Response:
    me = _live()
    body = validation.parse_body(account_schemas.PlanChangeBody, _body())
    return ok(
        plan_change.request(
            customer_id=me.customer_id,
            line_id=_line_id(line_id),
            plan_id=body.plan_id,
            preview_token=body.preview_token,
        ),
        status=201,
    )


@app.route("/me/requests", methods=["GET"], authorizer=access_token)
@handled
def list_requests() -> Response:
    me = auth_edge.principal(_request())
    return ok({"requests": plan_change.list_requests(customer_id=me.customer_id)})


# --- bills, payment methods, payments ---------------------------------------------------------------


def _bill_id(bill_id: str) -> str:
    return validation.path_id(bill_id, pattern=billing_schemas.BILL_ID, what="bill")


@app.route("/bills", methods=["GET"], authorizer=access_token)
@handled
def list_bills() -> Response:
    me = auth_edge.principal(_request())
    query = validation.parse_query(billing_schemas.BillsQuery, _request().query_params)
    return ok(
        bills.list_bills(
            customer_id=me.customer_id, status=query.status, cursor=query.cursor, limit=query.limit
        )
    )


@app.route("/bills/{bill_id}", methods=["GET"], authorizer=access_token)
@handled
def get_bill(bill_id: str) -> Response:
    me = auth_edge.principal(_request())
    bill, paid = bills.get_bill(customer_id=me.customer_id, bill_id=_bill_id(bill_id))
    return ok(bills.bill_to_wire(bill, paid))


@app.route("/me/payment-methods", methods=["POST"], authorizer=access_token)
@handled
def add_payment_method() -> Response:
    me = _live()
    body = validation.parse_body(confirmed.ConfirmedAddMethodBody, _body())
    _confirmed(me, "payment_method.add", {"provider_token": body.provider_token}, body.confirmation)
    added = methods.add(customer_id=me.customer_id, provider_token=body.provider_token, label=body.label)
    security_events.account_changed(me.customer_id, "payment_method_added")
    return ok(added, status=201)


@app.route("/me/payment-methods", methods=["GET"], authorizer=access_token)
@handled
def list_payment_methods() -> Response:
    me = _live()
    return ok(methods.list_methods(customer_id=me.customer_id))


@app.route("/me/payment-methods/{payment_method_id}", methods=["DELETE"], authorizer=access_token)
@handled
def delete_payment_method(payment_method_id: str) -> Response:
    me = _live()
    method_id = validation.path_id(
        payment_method_id, pattern=billing_schemas.METHOD_ID, what="payment method"
    )
    methods.get_owned(me.customer_id, method_id)  # 404 for anyone else's, before the body
    body = validation.parse_body(confirmed.ConfirmedBody, _body())
    _confirmed(me, "payment_method.remove", {"payment_method_id": method_id}, body.confirmation)
    methods.remove(customer_id=me.customer_id, method_id=method_id)
    security_events.account_changed(me.customer_id, "payment_method_removed")
    return no_content()


@app.route("/me/payment-methods/{payment_method_id}/default", methods=["POST"], authorizer=access_token)
@handled
def default_payment_method(payment_method_id: str) -> Response:
    me = _live()
    method_id = validation.path_id(
        payment_method_id, pattern=billing_schemas.METHOD_ID, what="payment method"
    )
    methods.get_owned(me.customer_id, method_id)  # 404 for anyone else's, before the body
    body = validation.parse_body(confirmed.ConfirmedBody, _body())
    _confirmed(me, "payment_method.default", {"payment_method_id": method_id}, body.confirmation)
    result = methods.set_default(customer_id=me.customer_id, method_id=method_id)
    security_events.account_changed(me.customer_id, "payment_method_default")
    return ok(result)


@app.route("/me/autopay", methods=["PUT"], authorizer=access_token)
@handled
def put_autopay() -> Response:
    me = _live()
    body = validation.parse_body(confirmed.ConfirmedAutopayBody, _body())
    _confirmed(me, "autopay.set", {"enabled": body.enabled}, body.confirmation)
    result = methods.set_autopay(customer_id=me.customer_id, enabled=body.enabled)
    security_events.account_changed(me.customer_id, "autopay_on" if body.enabled else "autopay_off")
    return ok(result)


@app.route("/bills/{bill_id}/payments/challenge", methods=["POST"], authorizer=access_token)
@handled
def payment_challenge(bill_id: str) -> Response:
    me = _live()
    ratelimit.check("payment_customer", me.customer_id)
    body = validation.parse_body(billing_schemas.ChallengeBody, _body())
    return ok(
        payments.challenge(
            customer_id=me.customer_id,
            bill_id=_bill_id(bill_id),
            amount=body.amount,
            method_id=body.payment_method_id,
        )
    )


@app.route("/bills/{bill_id}/payments", methods=["POST"], authorizer=access_token)
@handled
def pay_bill(bill_id: str) -> Response:
    # The session is checked live by the payment itself, in the read that fetches the bill, the
    # challenge and the passkey (one call less than `_live()`), before anything else it does.
    me = auth_edge.principal(_request())
    key = validation.parse_idempotency_key(
        _request().headers.get("idempotency-key"), pattern=billing_schemas.IDEMPOTENCY_KEY
    )
    body = validation.parse_body(billing_schemas.PayBody, _body())
    request = payments.PaymentRequest(
        customer_id=me.customer_id,
        bill_id=_bill_id(bill_id),
        idempotency_key=key,
        amount=body.amount,
        method_id=body.payment_method_id,
        challenge_id=body.challenge_id,
        credential=body.credential,
    )
    # The rate limit is counted in the payment's own transaction: a retry of a finished payment
    # answers its first outcome without counting it, even once the limit is spent.
    limit = ratelimit.pending("payment_customer", me.customer_id)
    return ok(payments.pay(**request, limit=limit, session_id=me.session_id), status=201)


# --- upgrade bidding -----------------------------------------------------------------------------------


def _offer_id(offer_id: str) -> str:
    return validation.path_id(offer_id, pattern=bidding_schemas.OFFER_ID, what="offer")


@app.route("/offers", methods=["GET"], authorizer=access_token)
@handled
def list_offers() -> Response:
    me = auth_edge.principal(_request())
    validation.parse_query(auth_schemas.EmptyBody, _request().query_params)
    return ok(offers.list_offers(customer_id=me.customer_id))


@app.route("/offers/{offer_id}", methods=["GET"], authorizer=access_token)
@handled
def get_offer(offer_id: str) -> Response:
    me = auth_edge.principal(_request())
    ratelimit.check("offer_view_customer", me.customer_id)
    validation.parse_query(bidding_schemas.OfferQuery, _request().query_params)
    return ok(bids.offer_view(customer_id=me.customer_id, offer_id=_offer_id(offer_id)))


@app.route("/offers/{offer_id}/bid/challenge", methods=["POST"], authorizer=access_token)
@handled
def bid_challenge(offer_id: str) -> Response:
    me = _live()
    ratelimit.check("bid_customer", me.customer_id)
    body = validation.parse_body(bidding_schemas.BidChallengeBody, _body())
    return ok(
        bids.challenge(
            customer_id=me.customer_id,
            offer_id=_offer_id(offer_id),
            amount=body.amount,
            method_id=body.payment_method_id,
            line_id=body.line_id,
        )
    )


@app.route("/offers/{offer_id}/bid", methods=["PUT"], authorizer=access_token)
@handled
def place_bid(offer_id: str) -> Response:
    me = _live()
    ratelimit.check("bid_customer", me.customer_id)
    body = validation.parse_body(bidding_schemas.PlaceBidBody, _body())
    bid, created = bids.place(
        customer_id=me.customer_id,
        offer_id=_offer_id(offer_id),
        amount=body.amount,
        method_id=body.payment_method_id,
        challenge_id=body.challenge_id,
        credential=body.credential,
        line_id=body.line_id,
    )
    return ok(bid, status=201 if created else 200)


@app.route("/offers/{offer_id}/bid", methods=["DELETE"], authorizer=access_token)
@handled
def withdraw_bid(offer_id: str) -> Response:
    me = _live()
    ratelimit.check("bid_customer", me.customer_id)
    bids.withdraw(customer_id=me.customer_id, offer_id=_offer_id(offer_id))
    return no_content()


@app.route("/me/receipts", methods=["GET"], authorizer=access_token)
@handled
def list_receipts() -> Response:
    me = auth_edge.principal(_request())
    query = validation.parse_query(bidding_schemas.ReceiptsQuery, _request().query_params)
    return ok(grants.list_receipts(customer_id=me.customer_id, cursor=query.cursor, limit=query.limit))


# --- devices, notification preferences, inbox -----------------------------------------------------


@app.route("/me/devices/{installation_id}", methods=["PUT"], authorizer=access_token)
@handled
def register_device(installation_id: str) -> Response:
    me = _live()
    body = validation.parse_body(notification_schemas.DeviceBody, _body())
    installation_id = validation.path_id(
        installation_id, pattern=notification_schemas.INSTALLATION_ID, what="installation"
    )
    return ok(
        devices.register(
            customer_id=me.customer_id,
            session_id=me.session_id,
            installation_id=installation_id,
            **body.model_dump(),
        )
    )


@app.route("/me/devices/{installation_id}", methods=["DELETE"], authorizer=access_token)
@handled
def unregister_device(installation_id: str) -> Response:
    me = _live()
    installation_id = validation.path_id(
        installation_id, pattern=notification_schemas.INSTALLATION_ID, what="installation"
    )
    devices.unregister(customer_id=me.customer_id, installation_id=installation_id)
    return no_content()


@app.route("/me/devices", methods=["GET"], authorizer=access_token)
@handled
def list_devices() -> Response:
    me = _live()
    return ok({"devices": devices.list_devices(customer_id=me.customer_id, current_session=me.session_id)})


@app.route("/me/notification-preferences", methods=["GET"], authorizer=access_token)
@handled
def get_notification_preferences() -> Response:
    me = auth_edge.principal(_request())
    return ok(preferences.load(me.customer_id).to_wire())


@app.route("/me/notification-preferences", methods=["PUT"], authorizer=access_token)
@handled
def put_notification_preferences() -> Response:
    me = auth_edge.principal(_request())
    body = validation.parse_body(notification_schemas.PreferencesBody, _body())
    quiet = body.quiet_hours.model_dump() if body.quiet_hours else None
    return ok(
        preferences.save(
            customer_id=me.customer_id, categories=body.categories.model_dump(), quiet_hours=quiet
        ).to_wire()
    )


@app.route("/me/inbox", methods=["GET"], authorizer=access_token)
@handled
def list_inbox() -> Response:
    me = auth_edge.principal(_request())
    query = validation.parse_query(notification_schemas.InboxQuery, _request().query_params)
    return ok(inbox.list_inbox(customer_id=me.customer_id, cursor=query.cursor, limit=query.limit))


@app.route("/me/inbox/unread-count", methods=["GET"], authorizer=access_token)
@handled
def inbox_unread_count() -> Response:
    me = auth_edge.principal(_request())
    return ok({"unread": inbox.unread_count(customer_id=me.customer_id)})


@app.route("/me/inbox/{alert_id}/read", methods=["POST"], authorizer=access_token)
@handled
def read_alert(alert_id: str) -> Response:
    me = auth_edge.principal(_request())
    validation.parse_body(auth_schemas.EmptyBody, _body())
    alert_id = validation.path_id(alert_id, pattern=notification_schemas.ALERT_ID, what="alert")
    return ok(inbox.mark_read(customer_id=me.customer_id, alert_id=alert_id))


@app.route("/me/inbox/read-all", methods=["POST"], authorizer=access_token)
@handled
def read_all_alerts() -> Response:
    me = auth_edge.principal(_request())
    validation.parse_body(auth_schemas.EmptyBody, _body())
    return ok({"marked": inbox.mark_all_read(customer_id=me.customer_id)})


# --- event handlers --------------------------------------------------------------------------------


@app.on_dynamodb_record(stream_arn=get_settings().table_stream_arn, batch_size=100, name="table_stream")
@logged_handler("table_stream")
def on_table_stream(event: DynamoDBEvent) -> dict[str, Any]:
    failed = table_stream.handle_records(event.to_dict()["Records"])
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


@app.on_sqs_message(queue=get_settings().usage_queue_name, batch_size=100, name="ingest_usage")
@logged_handler("ingest_usage")
def ingest_usage(event: SQSEvent) -> dict[str, Any]:
    result = ingestion.ingest([(record.to_dict()["messageId"], record.body) for record in event])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in result.failed_messages]}


@app.schedule(Rate(1, unit=Rate.DAYS), name="apply_plan_changes")
@logged_handler("apply_plan_changes")
def apply_plan_changes(event: Any) -> dict[str, Any]:
    return {"applied": plan_change.apply_due()}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="sweep_pending_payments")
@logged_handler("sweep_pending_payments")
def sweep_pending_payments(event: Any) -> dict[str, Any]:
    return {"settled": settlement.sweep()}


@app.schedule(Rate(1, unit=Rate.DAYS), name="daily_billing")
@logged_handler("daily_billing")
def daily_billing(event: Any) -> dict[str, Any]:
    return {
        "autopay": payments.autopay(),
        "reminders": bills.remind_due(),
        # Instalments first (a break resumes the overdue flow), then overdue reminders and warnings.
        "arrangements": arrangements.run(),
        "overdue": overdue.run(),
    }


@app.schedule(Rate(1, unit=Rate.MINUTES), name="clear_offers")
@logged_handler("clear_offers")
def clear_offers(event: Any) -> dict[str, Any]:
    return {"offers": closing.run()}


@app.schedule(Rate(1, unit=Rate.HOURS), name="expire_upgrades")
@logged_handler("expire_upgrades")
def expire_upgrades(event: Any) -> dict[str, Any]:
    return grants.expire()


@app.schedule(Rate(5, unit=Rate.MINUTES), name="engage_bidders")
@logged_handler("engage_bidders")
def engage_bidders(event: Any) -> dict[str, Any]:
    return {"offers": engagement.run()}


@app.schedule(Rate(1, unit=Rate.DAYS), name="erase_closed_accounts")
@logged_handler("erase_closed_accounts")
def erase_closed_accounts(event: Any) -> dict[str, Any]:
    """Account closure: closures past their effective date erased (resumable: chalicelib/privacy/erasure.py)."""
    return erasure.run()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="deliver_deferred_alerts")
@logged_handler("deliver_deferred_alerts")
def deliver_deferred_alerts(event: Any) -> dict[str, Any]:
    statuses = delivery.deliver_due()
    return {"processed": len(statuses), "statuses": statuses}


# --- admin functions (AWS console → Lambda → Test, or `make invoke`) -------------------------------
# Their modules are deferred like every service (chalicelib/startup.py): a function runs only its own.


@app.lambda_function(name="admin_create_customer")
def admin_create_customer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(
        customer_admin.create_customer, customer_admin.CreateCustomerEvent, event, context=context
    )


@app.lambda_function(name="admin_upsert_catalog")
def admin_upsert_catalog(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(catalog.upsert, catalog.UpsertCatalogEvent, event, context=context)


@app.lambda_function(name="admin_set_line")
def admin_set_line(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # run_admin checks `operator` and keeps it out of the model; the line's request records it.
    operator = event.get("operator") if isinstance(event, dict) else None
    return admin_edge.run_admin(lines.set_line_by(operator), lines.SetLineEvent, event, context=context)


@app.lambda_function(name="import_bills")
def import_bills(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(bills.import_bills, bills.ImportBillsEvent, event, context=context)


@app.lambda_function(name="admin_pending_charges")
def admin_pending_charges(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The billing system's feed: charges of options bought in the app that no bill took yet."""
    return admin_edge.run_admin(feed.pending_charges, feed.PendingChargesEvent, event, context=context)


@app.lambda_function(name="admin_list_arrangements")
def admin_list_arrangements(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Customers who cannot pay: payment arrangements by status (active, completed, broken, cancelled), newest first."""
    return admin_edge.run_admin(
        arrangements.admin_list, arrangements.ListArrangementsEvent, event, context=context
    )


@app.lambda_function(name="admin_list_closures")
def admin_list_closures(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Account closure: account closures by status (scheduled, erasing, closed, cancelled), with their counts."""
    return admin_edge.run_admin(erasure.admin_list, erasure.ListClosuresEvent, event, context=context)


@app.lambda_function(name="admin_cancel_arrangement")
def admin_cancel_arrangement(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Customers who cannot pay: end an active arrangement (the overdue flow resumes); the operator is recorded on it."""
    operator = event.get("operator") if isinstance(event, dict) else None
    return admin_edge.run_admin(
        arrangements.cancel_by(operator), arrangements.CancelArrangementEvent, event, context=context
    )


@app.lambda_function(name="admin_issue_activation_code")
def admin_issue_activation_code(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(
        customer_admin.issue_activation_code, customer_admin.IssueActivationCodeEvent, event, context=context
    )


@app.lambda_function(name="admin_create_offer")
def admin_create_offer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(offers.create_offer, offers.CreateOfferEvent, event, context=context)


@app.lambda_function(name="admin_cancel_offer")
def admin_cancel_offer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(offers.cancel_offer, offers.CancelOfferEvent, event, context=context)


@app.lambda_function(name="admin_offer_result")
def admin_offer_result(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(offers.offer_result, offers.OfferResultEvent, event, context=context)


@app.lambda_function(name="admin_reset_passkeys")
def admin_reset_passkeys(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(
        customer_admin.reset_passkeys, customer_admin.CustomerRefEvent, event, context=context
    )


@app.lambda_function(name="admin_revoke_sessions")
def admin_revoke_sessions(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(
        customer_admin.revoke_sessions, customer_admin.CustomerRefEvent, event, context=context
    )


@app.lambda_function(name="admin_set_segments")
def admin_set_segments(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(
        customer_admin.set_segments, customer_admin.SetSegmentsEvent, event, context=context
    )


@app.lambda_function(name="admin_send_announcement")
def admin_send_announcement(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin_edge.run_admin(announcements.send, announcements.AnnouncementEvent, event, context=context)


# Help content, managed from the console (infra/admin-events/admin_help_*.json).


@app.lambda_function(name="admin_help_upsert_section")
def admin_help_upsert_section(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return help_admin.upsert_section(event, context)


@app.lambda_function(name="admin_help_save_draft")
def admin_help_save_draft(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return help_admin.save_draft(event, context)


@app.lambda_function(name="admin_help_publish")
def admin_help_publish(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return help_admin.publish(event, context)


@app.lambda_function(name="admin_help_unpublish")
def admin_help_unpublish(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return help_admin.unpublish(event, context)


@app.lambda_function(name="admin_help_rebuild_index")
def admin_help_rebuild_index(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return help_admin.rebuild_index(event, context)


@app.lambda_function(name="admin_help_report")
def admin_help_report(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return help_admin.report(event, context)


# Cases, worked from the console by agents (infra/admin-events/admin_case_*.json).


@app.lambda_function(name="admin_case_list")
def admin_case_list(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return case_admin.case_list(event, context)


@app.lambda_function(name="admin_case_context")
def admin_case_context(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return case_admin.case_context(event, context)


@app.lambda_function(name="admin_case_reply")
def admin_case_reply(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return case_admin.case_reply(event, context)


@app.lambda_function(name="admin_case_request_document")
def admin_case_request_document(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return case_admin.case_request_document(event, context)


@app.lambda_function(name="admin_case_resolve")
def admin_case_resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return case_admin.case_resolve(event, context)


@app.lambda_function(name="admin_case_lost_phone")
def admin_case_lost_phone(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return case_admin.case_lost_phone(event, context)


@app.lambda_function(name="admin_call_code_verify")
def admin_call_code_verify(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return case_admin.call_code_verify(event, context)
