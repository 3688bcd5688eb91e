"""WebAuthn challenges: random, stored server-side, single use, short-lived.

py_webauthn is stateless: a challenge it is given again verifies again. Consuming is a delete
conditioned on the item existing, so of two concurrent verifies with one challenge only one gets it:
either at once (`consume`, one DeleteItem returning the item), or, for sign-in, read beside the
passkey (`accept` checks what was read) and deleted in the very transaction that opens the session
(`spend_in`, whose condition checks again what `accept` checked).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.common.clock import epoch, now
from chalicelib.common.secrets import b64url, b64url_decode, new_id
from chalicelib.config import get_settings
from chalicelib.errors import Expired, NotFound, TemporarilyUnavailable
from chalicelib.store.db import ConditionsFailed, Transaction, connection, transaction
from chalicelib.store.models import Challenge

if TYPE_CHECKING:
    from chalicelib.api.ratelimit import Pending

REGISTER = "register"
LOGIN = "login"
STEP_UP = "step_up"


@dataclass(frozen=True)
class IssuedChallenge:
    challenge_id: str
    challenge: bytes


@dataclass(frozen=True)
class ConsumedChallenge:
    challenge: bytes
    purpose: str
    customer_id: str | None
    activation_code_id: str | None
    algorithms: list[int]
    binding: str | None


def key(challenge_id: str) -> tuple[str, str]:
    return f"CHALLENGE#{challenge_id}", "CHALLENGE"


def issue(
    *,
    purpose: str,
    customer_id: str | None = None,
    activation_code_id: str | None = None,
    algorithms: list[int] | None = None,
    binding: str | None = None,
    limit: Pending | None = None,
) -> IssuedChallenge:
    """`binding`: a step-up's transaction (e.g. bill, amount, currency, method); the challenge is
    then SHA-256(random || binding), so the signature the authenticator returns commits to it.

    `limit`: the caller's rate limit, counted in the same TransactWriteItems as the challenge's put
    (one call instead of two); over the limit nothing is written and `limit.refused()` is raised."""
    challenge_id = new_id("chl", 16)
    raw = secrets.token_bytes(32)
    if binding is not None:
        raw = hashlib.sha256(raw + binding.encode()).digest()
    item = Challenge(
        *key(challenge_id),
        challenge=b64url(raw),
        purpose=purpose,
        customer_id=customer_id,
        activation_code_id=activation_code_id,
        algorithms=algorithms,
        binding=binding,
        expires_at=epoch(now() + timedelta(seconds=get_settings().challenge_ttl_s)),
    )
    if limit is None:
        item.save()
        return IssuedChallenge(challenge_id=challenge_id, challenge=raw)
    try:
        with transaction() as tx:
            limit.count_in(tx)
            # A fresh random id never exists: this condition is what makes the resend of a commit
            # whose answer was lost fail rather than count the request twice (see db.transaction).
            tx.save(item, condition=Challenge.PK.does_not_exist(), label="challenge")
    except ConditionsFailed as failed:
        if "rate_limit" in failed.labels:
            raise limit.refused() from None
        raise TemporarilyUnavailable("Please ask for new options.", retry_after_s=1) from None
    return IssuedChallenge(challenge_id=challenge_id, challenge=raw)


def not_found() -> NotFound:
    """The refusal of an unknown challenge, or one spent by another request (also for callers that
    spend it in their own transaction: `spend_in`, label "challenge")."""
    return NotFound("Unknown or already used challenge; ask for new options.", code="challenge_not_found")


def accept(item: Challenge | None, *, purpose: str) -> ConsumedChallenge:
    """The checks of a challenge read or deleted: it exists, serves this ceremony, has not expired."""
    if item is None or item.purpose != purpose:
        raise not_found()
    if item.expires_at is None or item.expires_at <= epoch(now()):
        raise Expired("The challenge has expired; ask for new options.", code="challenge_expired")
    return ConsumedChallenge(
        challenge=b64url_decode(item.challenge),
        purpose=item.purpose,
        customer_id=item.customer_id,
        activation_code_id=item.activation_code_id,
        algorithms=[int(a) for a in (item.algorithms or [])],
        binding=item.binding,
    )


def spend_in(tx: Transaction, challenge_id: str, *, purpose: str) -> None:
    """Delete a challenge `accept`ed from a read, in the caller's transaction, on the same
    conditions: of two concurrent uses only one transaction finds it (label "challenge")."""
    tx.delete(
        Challenge(*key(challenge_id)),
        condition=Challenge.PK.exists()
        & (Challenge.purpose == purpose)
        & (Challenge.expires_at > epoch(now())),
        label="challenge",
    )


def discard(challenge_id: str) -> None:
    """Spend a challenge whose ceremony failed: a challenge is good for one attempt, never two."""
    Challenge(*key(challenge_id)).delete()


def consume(*, challenge_id: str, purpose: str) -> ConsumedChallenge:
    """Delete the challenge and return it; a second call with the same id finds nothing.

    One DeleteItem that returns the deleted item (ALL_OLD): Model.delete() cannot ask for it, so
    the request pynamodb builds for the model is sent on the table's connection (public API both)."""
    request = Challenge.get_operation_kwargs_from_class(*key(challenge_id), condition=Challenge.PK.exists())
    request["ReturnValues"] = "ALL_OLD"
    try:
        response = connection().dispatch("DeleteItem", request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise not_found() from None
        raise
    # Deleted all the same when refused: a challenge presented to the wrong ceremony is spent.
    return accept(Challenge.from_raw_data(response["Attributes"]), purpose=purpose)
