"""WebAuthn challenges: random, stored server-side, single use, short-lived.

py_webauthn is stateless: a challenge it is given again verifies again. Consuming is a delete
conditioned on the item existing, so of two concurrent verifies with one challenge only one gets it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from botocore.exceptions import ClientError

from chalicelib.common.clock import epoch, now
from chalicelib.common.secrets import b64url, b64url_decode, new_id
from chalicelib.config import get_settings
from chalicelib.errors import Expired, NotFound
from chalicelib.store.db import connection
from chalicelib.store.models import Challenge

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


def issue(
    *,
    purpose: str,
    customer_id: str | None = None,
    activation_code_id: str | None = None,
    algorithms: list[int] | None = None,
    binding: str | None = None,
) -> IssuedChallenge:
    """`binding`: a step-up's transaction (e.g. bill, amount, currency, method); the challenge is
    then SHA-256(random || binding), so the signature the authenticator returns commits to it."""
    challenge_id = new_id("chl", 16)
    raw = secrets.token_bytes(32)
    if binding is not None:
        raw = hashlib.sha256(raw + binding.encode()).digest()
    Challenge(
        f"CHALLENGE#{challenge_id}",
        "CHALLENGE",
        challenge=b64url(raw),
        purpose=purpose,
        customer_id=customer_id,
        activation_code_id=activation_code_id,
        algorithms=algorithms,
        binding=binding,
        expires_at=epoch(now() + timedelta(seconds=get_settings().challenge_ttl_s)),
    ).save()
    return IssuedChallenge(challenge_id=challenge_id, challenge=raw)


def consume(*, challenge_id: str, purpose: str) -> ConsumedChallenge:
    """Delete the challenge and return it; a second call with the same id finds nothing.

    One DeleteItem that returns the deleted item (ALL_OLD): Model.delete() cannot ask for it, so
    the request pynamodb builds for the model is sent on the table's connection (public API both)."""
    request = Challenge.get_operation_kwargs_from_class(
        f"CHALLENGE#{challenge_id}", "CHALLENGE", condition=Challenge.PK.exists()
    )
    request["ReturnValues"] = "ALL_OLD"
    try:
        response = connection().dispatch("DeleteItem", request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise NotFound(
                "Unknown or already used challenge; ask for new options.", code="challenge_not_found"
            ) from None
        raise
    item = Challenge.from_raw_data(response["Attributes"])
    if item.purpose != purpose:
        # Deleted all the same: a challenge presented to the wrong ceremony is spent.
        raise NotFound("Unknown or already used challenge; ask for new options.", code="challenge_not_found")
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
