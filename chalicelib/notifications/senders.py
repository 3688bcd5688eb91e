"""Push senders: the PushSender port, Firebase Cloud Messaging, and a console stand-in.

firebase_admin is imported (and its app created) on the first send only: it costs ~400 ms, which
the API's cold start must not pay. Its defaults are tightened: a 10 s timeout instead of 120 s (the
app's public `httpTimeout` option), a connection pool as large as a batch, one quick retry on
500/503 that never sleeps on Retry-After (the caller reschedules instead: a Lambda must not wait
minutes). Tests and local runs send to a fake of the FCM v1 API (`FCM_ENDPOINT`). firebase_admin
has no public setting for either the transport or the endpoint: `_messaging_session` is the one
place that reaches its HTTP session, and both are done there with requests' public API (adapters
mounted on this app's session only; nothing global is patched).
"""

from __future__ import annotations

import abc
import json
import threading
from dataclasses import dataclass
from typing import Any

from chalicelib.config import get_settings
from chalicelib.errors import ServiceMisconfigured
from chalicelib.observability.log import log_event

BATCH = 500  # FCM's send_each limit

SENT = "sent"
UNREGISTERED = "unregistered"  # the token/installation is gone: remove the device
RETRY = "retry"  # transient (UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED): try again later
REJECTED = "rejected"  # our message is wrong: do not retry, look at the logs
NOT_SENT = "not_sent"  # the console sender (local runs): printed, never counted as sent


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_after_s: int | None = None
    detail: str | None = None


class PushSender(abc.ABC):
    @abc.abstractmethod
    def send(self, messages: list[dict[str, Any]]) -> list[Outcome]:
        """Send FCM v1 messages (payloads.message_for); one outcome per message, in order."""


class ConsoleSender(PushSender):
    """Without Firebase credentials (local runs and tests only; a deployed stage refuses to start
    without them, see chalicelib/api/guard.py): print what would be sent. Nothing reaches a phone,
    so nothing is counted as sent."""

    def send(self, messages: list[dict[str, Any]]) -> list[Outcome]:
        for message in messages:
            print("PUSH (console sender, not sent) " + json.dumps(message, ensure_ascii=False), flush=True)
        return [Outcome(NOT_SENT, detail="console sender: printed, not sent") for _ in messages]


class FcmSender(PushSender):
    def __init__(self, *, project_id: str, credentials_source: str, endpoint: str | None) -> None:
        self._project_id = project_id
        self._credentials_source = credentials_source
        self._endpoint = endpoint
        self._app: Any = None
        self._lock = threading.Lock()

    def _firebase_app(self) -> Any:
        with self._lock:
            if self._app is None:
                import firebase_admin

                app = firebase_admin.initialize_app(
                    _credential(self._credentials_source),
                    {"projectId": self._project_id, "httpTimeout": 10},
                    name=f"selfcare-{id(self)}",
                )
                _tune_transport(_messaging_session(app), self._endpoint)
                self._app = app
            return self._app

    def send(self, messages: list[dict[str, Any]]) -> list[Outcome]:
        from firebase_admin import messaging

        app = self._firebase_app()
        outcomes: list[Outcome] = []
        shared: dict[int, Any] = {}  # one alert's messages share their parts: converted once
        for start in range(0, len(messages), BATCH):
            chunk = [_to_firebase(m, shared) for m in messages[start : start + BATCH]]
            batch = messaging.send_each(chunk, app=app)
            outcomes.extend(_outcome(r) for r in batch.responses)
        return outcomes


def _outcome(response: Any) -> Outcome:
    from firebase_admin import exceptions, messaging

    if response.success:
        return Outcome(SENT)
    error = response.exception
    if isinstance(error, (messaging.UnregisteredError, messaging.SenderIdMismatchError)):
        return Outcome(UNREGISTERED, detail=error.code)
    if isinstance(error, exceptions.InvalidArgumentError):
        # INVALID_ARGUMENT names a dead token only when FCM says so in an FcmError detail;
        # otherwise our payload is wrong, and removing the device would hide the bug.
        if _fcm_error_code(error) in {"INVALID_ARGUMENT", "UNREGISTERED"}:
            return Outcome(UNREGISTERED, detail="INVALID_ARGUMENT")
        return Outcome(REJECTED, detail=str(error)[:200])
    if isinstance(error, messaging.QuotaExceededError):
        return Outcome(RETRY, retry_after_s=max(60, _retry_after(error) or 0), detail="QUOTA_EXCEEDED")
    if isinstance(
        error,
        (
            exceptions.UnavailableError,
            exceptions.InternalError,
            exceptions.DeadlineExceededError,
            exceptions.UnknownError,
        ),
    ):
        return Outcome(RETRY, retry_after_s=_retry_after(error), detail=error.code)
    if isinstance(
        error,
        (messaging.ThirdPartyAuthError, exceptions.UnauthenticatedError, exceptions.PermissionDeniedError),
    ):
        return Outcome(
            RETRY, retry_after_s=300, detail=error.code
        )  # our credentials: fixable, not the device's fault
    return Outcome(REJECTED, detail=str(error)[:200])


def _fcm_error_code(error: Any) -> str | None:
    response = getattr(error, "http_response", None)
    try:
        details = response.json()["error"].get("details", []) if response is not None else []
    except (ValueError, KeyError, AttributeError):
        return None
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.firebase.fcm.v1.FcmError"):
            code = detail.get("errorCode")
            return str(code) if code is not None else None
    return None


def _retry_after(error: Any) -> int | None:
    response = getattr(error, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _to_firebase(message: dict[str, Any], shared: dict[int, Any] | None = None) -> Any:
    """firebase_admin's Message of one of our messages. `shared`: the parts already converted in
    this send, by the identity of their dict (payloads.messages_for gives an alert's messages the
    same parts; firebase_admin only reads them), so a fan-out converts them once per alert. Only
    valid while those dicts are alive: one send call."""
    from firebase_admin import messaging

    cache: dict[int, Any] = {} if shared is None else shared

    def converted(part: dict[str, Any], convert: Any) -> Any:
        key = id(part)
        if key not in cache:
            cache[key] = (part, convert(part))  # the part is kept: its id is not reused meanwhile
        return cache[key][1]

    return messaging.Message(
        token=message["token"],
        data=message["data"],
        notification=converted(message["notification"], _notification),
        android=converted(message["android"], _android),
        apns=converted(message["apns"], _apns),
    )


def _notification(notification: dict[str, Any]) -> Any:
    from firebase_admin import messaging

    return messaging.Notification(title=notification["title"], body=notification["body"])


def _android(android: dict[str, Any]) -> Any:
    from datetime import timedelta

    from firebase_admin import messaging

    return messaging.AndroidConfig(
        collapse_key=android["collapse_key"],
        priority=android["priority"],
        ttl=timedelta(seconds=int(android["ttl"].rstrip("s"))),
        notification=messaging.AndroidNotification(
            channel_id=android["notification"]["channel_id"], tag=android["notification"]["tag"]
        ),
    )


def _apns(apns: dict[str, Any]) -> Any:
    from firebase_admin import messaging

    aps = apns["payload"]["aps"]
    return messaging.APNSConfig(
        headers=apns["headers"],
        payload=messaging.APNSPayload(
            aps=messaging.Aps(badge=aps["badge"], sound=aps["sound"], thread_id=aps["thread-id"])
        ),
    )


def _credential(source: str) -> Any:
    """`none` (a fake FCM that checks no token), `file:<path>`, `ssm:<name>` or `secretsmanager:<id>`
    holding a service account JSON."""
    from firebase_admin import credentials

    scheme, _, location = source.partition(":")
    if scheme == "none":
        return _anonymous_credential()
    if scheme == "file":
        return credentials.Certificate(location)
    if scheme in ("ssm", "secretsmanager"):
        from chalicelib.auth.keys import _READERS

        return credentials.Certificate(json.loads(_READERS[scheme](location)))
    raise ServiceMisconfigured(
        "FIREBASE_CREDENTIALS must be none, file:<path>, ssm:<name> or secretsmanager:<id>."
    )


def _anonymous_credential() -> Any:
    """A firebase_admin credential for a local fake of FCM (no OAuth token exchange)."""
    from firebase_admin import credentials
    from google.auth.credentials import AnonymousCredentials

    class Anonymous(credentials.Base):  # type: ignore[misc]  # firebase_admin ships no type information
        def get_credential(self) -> Any:
            return AnonymousCredentials()  # type: ignore[no-untyped-call]  # google-auth's is unannotated

    return Anonymous()


FCM_ORIGIN = "https://fcm.googleapis.com"  # where firebase_admin sends every message


def _messaging_session(app: Any) -> Any:
    """The requests session firebase_admin's messaging service sends this app's messages with.

    Why reach inside: firebase_admin 7.7.0 (pinned in requirements.txt) offers no public setting
    for the FCM endpoint (a class constant of its private `_MessagingService`; no emulator variable
    for messaging) nor for its HTTP retries and pool (built inside that service: up to 4 retries
    that sleep on Retry-After, 100 connections for 500-message batches). `messaging.send_each(...,
    app=app)` builds the service once per app and keeps it; this takes that service's session, the
    one private access of this module. tests/notifications/test_delivery.py checks it with the
    pinned version; if an upgrade moves it, the first send fails loudly here, not silently."""
    from firebase_admin import messaging

    service = messaging._get_messaging_service(app)
    session = getattr(getattr(service, "_client", None), "session", None)
    if session is None or not callable(getattr(session, "mount", None)):
        raise ServiceMisconfigured(
            "firebase_admin's messaging transport is not where version 7.7 keeps it: see senders._messaging_session."
        )
    return session


def _tune_transport(session: Any, endpoint: str | None) -> None:
    """Mount, on this app's session only, the transport for FCM: our retry policy and pool, and
    with `endpoint` (tests, local runs) a redirect of every FCM request to that base URL."""
    import requests
    from urllib3.util.retry import Retry

    options: dict[str, Any] = {
        "pool_connections": 4,
        "pool_maxsize": BATCH,
        "max_retries": Retry(
            connect=1,
            read=1,
            status=1,
            status_forcelist=[500, 503],
            backoff_factor=0.2,
            respect_retry_after_header=False,
            raise_on_status=False,
            allowed_methods=None,
        ),
    }

    class Redirect(requests.adapters.HTTPAdapter):
        """Sends what firebase_admin addresses to FCM to `endpoint` instead, path and all."""

        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            url = request.url or ""
            if endpoint and url.startswith(FCM_ORIGIN):
                request.url = endpoint.rstrip("/") + url[len(FCM_ORIGIN) :]
            return super().send(request, *args, **kwargs)

    adapter = Redirect(**options) if endpoint else requests.adapters.HTTPAdapter(**options)
    session.mount(FCM_ORIGIN, adapter)


_sender: PushSender | None = None


def get_sender() -> PushSender:
    """The configured sender, created once per container."""
    global _sender
    if _sender is None:
        settings = get_settings()
        if settings.fcm_project_id and settings.firebase_credentials:
            _sender = FcmSender(
                project_id=settings.fcm_project_id,
                credentials_source=settings.firebase_credentials,
                endpoint=settings.fcm_endpoint,
            )
        else:
            log_event("push_sender_console", reason="no FCM_PROJECT_ID / FIREBASE_CREDENTIALS")
            _sender = ConsoleSender()
    return _sender
