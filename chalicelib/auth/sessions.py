"""Sessions: an access token (15 min) plus an opaque refresh token (30 days) rotated on every use.

The refresh token is `<customer id>.<session id>.<256 random bits>`; only the SHA-256 of the random
part is stored. Each refresh replaces the hash with a conditional write, keeping the last spent
hashes: presenting a spent token again (stolen, or replayed) revokes the whole session (RFC 9700).
A refresh is one conditional UpdateItem that also checks what a read would (the presented hash is
the current one, the session neither ended nor expired) and appends the spent hash; only when it
fails (a spent token, an ended session, a lost race) or once the spent list is full is the session
read, and judged as before. The list keeps between SPENT_HASHES_KEPT and twice that many hashes:
the fast path appends (DynamoDB cannot drop a list's head in the same update), the read path trims.

An app that lost the answer of a refresh (a timeout) retries with the token it just spent: within
`GRACE_S` of that rotation it gets the same new refresh token (sealed on the session item with a
key derived from the spent token, so the table never holds it in clear) and an access token of the
same session. After the window, the spent token is a reuse and ends the session.

Ending a session, by any path, unregisters the push devices it registered. `require_live` is the
one consistent read that factor, session, contact and money routes make: a token of an ended
session is refused there at once, not only when it expires.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from chalicelib.auth import security_events
from chalicelib.auth.tokens import issue_access_token
from chalicelib.common.clock import epoch, from_epoch, iso, now
from chalicelib.common.secrets import b64url, b64url_decode, new_id, same, sha256_hex
from chalicelib.config import get_settings
from chalicelib.errors import NotFound, Unauthenticated
from chalicelib.observability.log import log_event
from chalicelib.store.models import Session, customer_pk

SPENT_HASHES_KEPT = 50  # at least; reuse of a token older than 50-100 rotations is merely "invalid"
REVOKED_RETENTION = timedelta(days=7)
GRACE_S = 10  # an app's retry after a lost answer; a thief's replay comes later (and ends the session)


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


def new_session(
    *, customer_id: str, device: str | None, passkey_id: str | None
) -> tuple[Session, SessionTokens]:
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
    presented = sha256_hex(secret)
    new_secret = secrets.token_urlsafe(32)
    moment = now()
    try:
        Session(*_session_key(customer_id, session_id)).update(
            actions=[
                *_rotation(presented, new_secret, spent_secret=secret),
                Session.spent_hashes.set((Session.spent_hashes | []).append([presented])),
            ],
            condition=(Session.refresh_hash == presented)
            & Session.revoked_at.does_not_exist()
            & (Session.expires_at > epoch(moment))
            & (Session.spent_hashes.does_not_exist() | (_spent_count() < 2 * SPENT_HASHES_KEPT)),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return _refresh_after_read(customer_id, session_id, secret)
    log_event("session_refreshed", customer_id=customer_id, session=session_id)
    return _tokens(customer_id=customer_id, session_id=session_id, secret=new_secret)


def _spent_count() -> Any:
    """`size(spent_hashes)` in a condition (pynamodb's `size` has no type hints)."""
    return size(Session.spent_hashes)  # type: ignore[no-untyped-call]


def _rotation(presented: str, new_secret: str, *, spent_secret: str) -> list[Any]:
    """What every rotation sets besides the spent list."""
    return [
        Session.refresh_hash.set(sha256_hex(new_secret)),
        Session.last_refreshed_at.set(iso(now())),
        Session.previous_hash.set(presented),
        Session.rotated_at.set(epoch(now())),
        Session.grace_box.set(_seal(new_secret, spent_secret=spent_secret)),
    ]


def _refresh_after_read(customer_id: str, session_id: str, secret: str) -> SessionTokens:
    """The refresh whose one-update path failed: read the session and tell why (ended, expired, a
    retry within the grace window, a reuse), or rotate it trimming a full spent list."""
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
        replayed = _within_grace(session, secret, presented)
        if replayed is not None:
            log_event("session_refresh_replayed", customer_id=customer_id, session=session_id)
            return _tokens(customer_id=customer_id, session_id=session_id, secret=replayed)
        if presented in (session.spent_hashes or []):
            _revoke_for_reuse(session)
        raise _invalid_refresh()

    new_secret = secrets.token_urlsafe(32)
    # The update is conditioned on the current hash, so this read-modify-write of the spent list is
    # atomic; keeping only the newest hashes bounds the item's size.
    spent = [*(session.spent_hashes or []), presented][-SPENT_HASHES_KEPT:]
    try:
        session.update(
            actions=[*_rotation(presented, new_secret, spent_secret=secret), Session.spent_hashes.set(spent)],
            condition=(Session.refresh_hash == presented) & Session.revoked_at.does_not_exist(),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        # Another refresh with this same token won the race: the app's own retry gets that
        # rotation's answer; anything else is a reuse.
        latest = Session.get(*_session_key(customer_id, session_id), consistent_read=True)
        replayed = _within_grace(latest, secret, presented)
        if replayed is not None:
            return _tokens(customer_id=customer_id, session_id=session_id, secret=replayed)
        _revoke_for_reuse(latest)
        raise _invalid_refresh() from None
    log_event("session_refreshed", customer_id=customer_id, session=session_id)
    return _tokens(customer_id=customer_id, session_id=session_id, secret=new_secret)


def _box_key(spent_secret: str) -> bytes:
    return hashlib.sha256(b"selfcare-refresh-grace|" + spent_secret.encode()).digest()


def _seal(new_secret: str, *, spent_secret: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    return b64url(nonce + AESGCM(_box_key(spent_secret)).encrypt(nonce, new_secret.encode(), b"refresh"))


def _within_grace(session: Session, secret: str, presented: str) -> str | None:
    """The secret this spent token was rotated into, if it is the last one spent, within GRACE_S,
    and the session still live; else None."""
    if (
        session.revoked_at
        or not session.previous_hash
        or not session.grace_box
        or not same(presented, session.previous_hash)
    ):
        return None
    if epoch(now()) - int(session.rotated_at or 0) > GRACE_S:
        return None
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = b64url_decode(session.grace_box)
    try:
        new_secret = AESGCM(_box_key(secret)).decrypt(raw[:12], raw[12:], b"refresh").decode()
    except (InvalidTag, ValueError):
        return None
    return new_secret if same(sha256_hex(new_secret), session.refresh_hash) else None


def _revoke_for_reuse(session: Session) -> None:
    revoke(customer_id=session.customer_id, session_id=session.session_id, reason="refresh_token_reuse")
    security_events.security_event(
        session.customer_id, security_events.REFRESH_TOKEN_REUSE, {"session_id": session.session_id}
    ).save()
    log_event("refresh_token_reuse", customer_id=session.customer_id, session=session.session_id)


def session_key(customer_id: str, session_id: str) -> tuple[str, str]:
    """The session's key, for a service that reads it with its own items (billing/payments.py)."""
    return _session_key(customer_id, session_id)


def judge_live(session: Session | None, *, customer_id: str) -> None:
    """`require_live`'s check on a session already read (e.g. in a caller's BatchGetItem)."""
    if session is None or session.revoked_at or (session.expires_at or 0) <= epoch(now()):
        log_event("access_refused", customer_id=customer_id, reason="session_ended")
        raise Unauthenticated("This session has ended; sign in again.", code="session_revoked")


def require_live(*, customer_id: str, session_id: str) -> None:
    """The session behind an access token has not ended (one consistent GetItem)."""
    try:
        session = Session.get(*_session_key(customer_id, session_id), consistent_read=True)
    except Session.DoesNotExist:
        session = None
    judge_live(session, customer_id=customer_id)


def revoke(*, customer_id: str, session_id: str, reason: str) -> None:
    """End one session (idempotent) and unregister its devices; unknown or another customer's
    session → NotFound."""
    _mark_revoked(customer_id=customer_id, session_id=session_id, reason=reason)
    _unregister_devices(customer_id, {session_id})


def _unregister_devices(customer_id: str, session_ids: set[str]) -> None:
    from chalicelib.notifications import devices

    if session_ids:
        devices.unregister_session_devices(customer_id=customer_id, session_ids=session_ids)


def _mark_revoked(*, customer_id: str, session_id: str, reason: str) -> None:
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
    """End every active session of a customer (or only those a passkey opened), and unregister
    their devices; how many."""
    ended: set[str] = set()
    for s in active_sessions(customer_id):
        if passkey_id is None or s.passkey_id == passkey_id:
            _mark_revoked(customer_id=customer_id, session_id=s.session_id, reason=reason)
            ended.add(s.session_id)
    _unregister_devices(customer_id, ended)
    return len(ended)


def revoke_sessions_of_passkey(*, customer_id: str, passkey_id: str) -> int:
    return revoke_all(customer_id=customer_id, reason="passkey_removed", passkey_id=passkey_id)
