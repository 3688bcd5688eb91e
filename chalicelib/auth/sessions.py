"""Sessions: an access token (15 min) plus an opaque refresh token (30 days) rotated on every use.

The refresh token is `<customer id>.<session id>.<256 random bits>`; only the SHA-256 of the random
part is stored. Each refresh replaces the hash with a conditional write, keeping the last spent
hashes: presenting a spent token again (stolen, or replayed) revokes the whole session (RFC 9700).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.auth import security_events
from chalicelib.auth.tokens import issue_access_token
from chalicelib.common.clock import epoch, from_epoch, iso, now
from chalicelib.common.secrets import new_id, same, sha256_hex
from chalicelib.config import get_settings
from chalicelib.errors import NotFound, Unauthenticated
from chalicelib.observability.log import log_event
from chalicelib.store.models import Session, customer_pk

SPENT_HASHES_KEPT = 50  # reuse of a token older than 50 rotations is merely "invalid"
REVOKED_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class SessionTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    customer_id: str
    session_id: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "customer_id": self.customer_id,
        }


def _session_key(customer_id: str, session_id: str) -> tuple[str, str]:
    return customer_pk(customer_id), f"SESSION#{session_id}"


def new_session(*, customer_id: str, device: str | None, passkey_id: str | None) -> tuple[Session, SessionTokens]:
    """A session item (to save in the caller's transaction) and the tokens to hand out once it is."""
    session_id = new_id("ses")
    secret = secrets.token_urlsafe(32)
    moment = now()
    item = Session(
        *_session_key(customer_id, session_id),
        session_id=session_id,
        customer_id=customer_id,
        refresh_hash=sha256_hex(secret),
        created_at=iso(moment),
        last_refreshed_at=iso(moment),
        device=(device or "")[:200] or None,
        passkey_id=passkey_id,
        expires_at=epoch(moment + timedelta(seconds=get_settings().refresh_token_ttl_s)),
    )
    return item, _tokens(customer_id=customer_id, session_id=session_id, secret=secret)


def _tokens(*, customer_id: str, session_id: str, secret: str) -> SessionTokens:
    access = issue_access_token(customer_id=customer_id, session_id=session_id)
    return SessionTokens(
        access_token=access.token,
        expires_in=access.expires_in,
        refresh_token=f"{customer_id}.{session_id}.{secret}",
        customer_id=customer_id,
        session_id=session_id,
    )


def _invalid_refresh() -> Unauthenticated:
    return Unauthenticated("The refresh token is not valid; sign in again.", code="invalid_refresh_token")


def refresh(*, refresh_token: str) -> SessionTokens:
    parts = refresh_token.split(".")
    if len(parts) != 3 or not all(parts):
        raise _invalid_refresh()
    customer_id, session_id, secret = parts
    try:
        session = Session.get(*_session_key(customer_id, session_id), consistent_read=True)
    except Session.DoesNotExist:
        raise _invalid_refresh() from None
    if session.revoked_at:
        raise Unauthenticated("This session has ended; sign in again.", code="session_revoked")
    if (session.expires_at or 0) <= epoch(now()):
        raise Unauthenticated("This session has expired; sign in again.", code="session_expired")

    presented = sha256_hex(secret)
    if not same(presented, session.refresh_hash):
        if presented in (session.spent_hashes or []):
            _revoke_for_reuse(session)
        raise _invalid_refresh()

    new_secret = secrets.token_urlsafe(32)
    # The update is conditioned on the current hash, so this read-modify-write of the spent list is
    # atomic; keeping only the newest hashes bounds the item's size.
    spent = [*(session.spent_hashes or []), presented][-SPENT_HASHES_KEPT:]
    try:
        session.update(
            actions=[
                Session.refresh_hash.set(sha256_hex(new_secret)),
                Session.spent_hashes.set(spent),
                Session.last_refreshed_at.set(iso(now())),
            ],
            condition=(Session.refresh_hash == presented) & Session.revoked_at.does_not_exist(),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        # Another refresh with this same token won the race: by definition a reuse.
        _revoke_for_reuse(Session.get(*_session_key(customer_id, session_id), consistent_read=True))
        raise _invalid_refresh() from None
    log_event("session_refreshed", customer_id=customer_id, session=session_id)
    return _tokens(customer_id=customer_id, session_id=session_id, secret=new_secret)


def _revoke_for_reuse(session: Session) -> None:
    revoke(customer_id=session.customer_id, session_id=session.session_id, reason="refresh_token_reuse")
    security_events.security_event(
        session.customer_id, security_events.REFRESH_TOKEN_REUSE, {"session_id": session.session_id}
    ).save()
    log_event("refresh_token_reuse", customer_id=session.customer_id, session=session.session_id)


def revoke(*, customer_id: str, session_id: str, reason: str) -> None:
    """End one session (idempotent); unknown or another customer's session → NotFound."""
    session = Session(*_session_key(customer_id, session_id))
    moment = now()
    try:
        session.update(
            actions=[
                Session.revoked_at.set(Session.revoked_at | iso(moment)),
                Session.revoked_reason.set(Session.revoked_reason | reason),
                Session.expires_at.set(epoch(moment + REVOKED_RETENTION)),
            ],
            condition=Session.PK.exists(),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise NotFound("No such session.", code="session_not_found") from None
        raise
    log_event("session_revoked", customer_id=customer_id, session=session_id, reason=reason)


def active_sessions(customer_id: str) -> list[Session]:
    moment = epoch(now())
    return [
        s
        for s in Session.query(customer_pk(customer_id), Session.SK.startswith("SESSION#"))
        if not s.revoked_at and (s.expires_at or 0) > moment
    ]


def list_sessions(*, customer_id: str, current_session_id: str) -> list[dict[str, Any]]:
    return [
        {
            "session_id": s.session_id,
            "device": s.device,
            "created_at": s.created_at,
            "last_refreshed_at": s.last_refreshed_at,
            "expires_at": iso(from_epoch(s.expires_at or 0)),
            "current": s.session_id == current_session_id,
        }
        for s in sorted(active_sessions(customer_id), key=lambda s: s.created_at, reverse=True)
    ]


def revoke_all(*, customer_id: str, reason: str, passkey_id: str | None = None) -> int:
    """End every active session of a customer (or only those a passkey opened); how many."""
    ended = 0
    for s in active_sessions(customer_id):
        if passkey_id is None or s.passkey_id == passkey_id:
            revoke(customer_id=customer_id, session_id=s.session_id, reason=reason)
            ended += 1
    return ended


def revoke_sessions_of_passkey(*, customer_id: str, passkey_id: str) -> int:
    return revoke_all(customer_id=customer_id, reason="passkey_removed", passkey_id=passkey_id)
