"""Sign-in with the client's rate limit counted in the sign-in's own transaction (issue 17:
`passkeys.login(limit=...)`, two DynamoDB calls instead of three): every attempt is counted, a
success in its transaction, a refusal in the write that spends its challenge; over the limit,
nothing is written (no session, the challenge not spent)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from chalicelib.errors import DomainError, NotFound, TooManyAttempts, Unauthenticated
from tests.support.stepup import challenge_left


def _limit(allowed: int = 100) -> Any:
    """A client of its own (a fresh key: a window no other test counts in), `allowed` per window."""
    from chalicelib.api import ratelimit

    return dataclasses.replace(ratelimit.pending("sign_in_client", f"test-{uuid.uuid4()}"), limit=allowed)


def _hits(limit: Any) -> int:
    from chalicelib.store.models import RateWindow

    try:
        return int(RateWindow.get(limit.pk, limit.sk, consistent_read=True).hits)
    except RateWindow.DoesNotExist:
        return 0


def _sessions(customer_id: str) -> int:
    from chalicelib.auth import sessions

    return len(sessions.active_sessions(customer_id))


def _attempt(authenticator: Any) -> tuple[str, dict[str, Any]]:
    from chalicelib.auth import passkeys

    options = passkeys.login_options()
    return options.challenge_id, authenticator.get(options.options)


def _login(challenge_id: str, credential: dict[str, Any], limit: Any) -> Any:
    from chalicelib.auth import passkeys

    return passkeys.login(challenge_id=challenge_id, credential=credential, device=None, limit=limit)


def test_a_sign_in_is_two_calls_and_counted_once(enrol, counted):
    """Mutation: drop `limit.count_in(tx)` from the sign-in's transaction → 0 hits → fails."""
    enrolled = enrol()
    limit = _limit()
    challenge_id, credential = _attempt(enrolled.authenticator)
    with counted() as seen:
        tokens = _login(challenge_id, credential, limit)
    assert tokens.customer_id == enrolled.customer["customer_id"]
    assert dict(seen) == {"BatchGetItem": 1, "TransactWriteItems": 1}
    assert _hits(limit) == 1 and not challenge_left(challenge_id)


def test_over_the_limit_nothing_is_written(enrol, counted):
    """One sign-in allowed: the second is a 429, answered from the failed transaction itself (no
    further write), and opens no session, nor spends its challenge (the sign count does not move
    either: the same assertion signs in once the window allows). Mutation: drop the "rate_limit"
    case from `_login`'s ConditionsFailed handler → a second transaction → fails."""
    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    limit = _limit(allowed=1)
    _login(*_attempt(enrolled.authenticator), limit)
    before = _sessions(customer_id)
    challenge_id, credential = _attempt(enrolled.authenticator)
    with counted() as seen, pytest.raises(TooManyAttempts):
        _login(challenge_id, credential, limit)
    assert dict(seen) == {"BatchGetItem": 1, "TransactWriteItems": 1}
    assert _sessions(customer_id) == before and challenge_left(challenge_id)
    assert _hits(limit) == 1
    assert _login(challenge_id, credential, _limit()).customer_id == customer_id


_UNREADABLE = {"id": "x", "rawId": "x", "type": "public-key", "response": {}}


@pytest.mark.parametrize(
    "refusal", ["another_challenge", "unknown_challenge", "unreadable", "unreadable_unknown"]
)
def test_every_refusal_is_counted_and_spends_its_challenge(enrol, refusal):
    """An assertion signed over another challenge; an unknown challenge id; a credential that
    cannot be read, with a challenge and without. Mutation: leave `_count_refusal` out of a
    refusal path (or count without the challenge's delete) → 0 hits, or the challenge left →
    fails."""
    enrolled = enrol()
    limit = _limit()
    challenge_id, credential = _attempt(enrolled.authenticator)
    expected: type[DomainError] = Unauthenticated
    spent: str | None = challenge_id
    if refusal == "another_challenge":
        challenge_id, _ = _attempt(enrolled.authenticator)
        spent = challenge_id
    elif refusal == "unknown_challenge":
        challenge_id, spent, expected = "chl_nosuchchallenge0", None, NotFound
    elif refusal == "unreadable":
        credential, expected = _UNREADABLE, DomainError
    else:
        credential, expected = _UNREADABLE, NotFound
        challenge_id, spent = "chl_nosuchchallenge1", None
    with pytest.raises(expected):
        _login(challenge_id, credential, limit)
    assert _hits(limit) == 1
    if spent is not None:
        assert not challenge_left(spent)


def test_a_refusal_over_the_limit_is_a_429(enrol):
    """Mutation: ignore the "rate_limit" label in `_count_refusal` → the refusal's own error."""
    enrolled = enrol()
    limit = _limit(allowed=1)
    _login(*_attempt(enrolled.authenticator), limit)
    with pytest.raises(TooManyAttempts):
        _login("chl_nosuchchallenge2", _attempt(enrolled.authenticator)[1], limit)
    assert _hits(limit) == 1


def test_a_replayed_sign_in_is_refused_and_counted(enrol):
    """The same challenge and assertion twice: one session; the replay is a challenge_not_found,
    counted too (the challenge read as gone). Mutation: count a refusal only when its challenge
    was there → 1 hit → fails."""
    enrolled = enrol()
    limit = _limit()
    challenge_id, credential = _attempt(enrolled.authenticator)
    _login(challenge_id, credential, limit)
    with pytest.raises(NotFound):
        _login(challenge_id, credential, limit)
    assert _hits(limit) == 2
