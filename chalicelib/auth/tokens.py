"""Access tokens: short-lived ES256 JWTs (RFC 9068 profile), verified with every default tightened.

pyjwt checks nothing it is not told to: the algorithm is pinned, the key comes only from our own
key ring by `kid`, and iss/aud/exp/iat/sub/sid/jti are required.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt

from chalicelib.auth.keys import key_ring, public_keys
from chalicelib.common.clock import epoch, now
from chalicelib.common.secrets import new_id
from chalicelib.config import get_settings
from chalicelib.errors import Unauthenticated

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - keeps access tokens apart from any other JWT we might sign


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by a verified access token."""

    customer_id: str
    session_id: str


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


def issue_access_token(*, customer_id: str, session_id: str) -> AccessToken:
    settings = get_settings()
    issued = now()
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": customer_id,
        "sid": session_id,
        "iat": epoch(issued),
        "exp": epoch(issued + timedelta(seconds=settings.access_token_ttl_s)),
        "jti": new_id("at"),
    }
    active = key_ring().active
    token = jwt.encode(
        claims, active.private_key, algorithm=ALGORITHM, headers={"kid": active.kid, "typ": TOKEN_TYPE}
    )
    return AccessToken(token=token, expires_in=settings.access_token_ttl_s)


def verify_access_token(token: str) -> Principal:
    """The token's principal; Unauthenticated when it is not valid. What can be refused from the
    token alone (its form, algorithm and type) is refused before any key is read, so a bad token is
    a 401 even while our keys are unreadable; a well-formed one then is TemporarilyUnavailable
    (keys.public_keys): we cannot say it is bad, only that we cannot check it now."""
    settings = get_settings()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated("The access token is malformed.", code="invalid_token") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated("The access token's algorithm is not accepted.", code="invalid_token")
    if header.get("typ") != TOKEN_TYPE:
        raise Unauthenticated("This is not an access token.", code="invalid_token")
    key = public_keys().get(str(header.get("kid")))
    if key is None:
        raise Unauthenticated("The access token was not signed by a current key.", code="invalid_token")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "sid", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated(
            "The access token has expired; refresh the session.", code="token_expired"
        ) from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated(
            f"The access token is not valid ({type(exc).__name__}).", code="invalid_token"
        ) from None
    # A token that claims a longer life than we ever issue was not issued by us as it stands.
    if (
        not isinstance(claims["exp"], int)
        or not isinstance(claims["iat"], int)
        or not 0 < claims["exp"] - claims["iat"] <= settings.access_token_ttl_s
    ):
        raise Unauthenticated("The access token's lifetime is not accepted.", code="invalid_token")
    return Principal(customer_id=str(claims["sub"]), session_id=str(claims["sid"]))


def principal_from_header(authorization: str | None) -> Principal:
    """`Authorization: Bearer <jwt>` → the verified principal (for routes where the token is optional)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send the access token as `Authorization: Bearer <token>`.")
    return verify_access_token(token.strip())
