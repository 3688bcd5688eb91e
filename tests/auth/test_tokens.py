"""Access tokens: only our own ES256 tokens, unexpired, for our audience, get through."""

from __future__ import annotations

import base64
import json
import pathlib
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec


def _segments(token: str) -> list[dict]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return [
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    ]


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _signed(claims: dict, *, headers: dict | None = None) -> str:
    from chalicelib.auth.keys import key_ring

    active = key_ring().active
    return jwt.encode(
        claims,
        active.private_key,
        algorithm="ES256",
        headers={"kid": active.kid, "typ": "at+jwt", **(headers or {})},
    )


def _claims(enrolled, **changes) -> dict:
    _, claims = _segments(enrolled.token)
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_the_access_token_carries_what_the_contract_says(api, enrol):
    enrolled = enrol()
    header, claims = _segments(enrolled.token)
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt"
    assert header["kid"] in {k["kid"] for k in api.get("/.well-known/jwks.json").body["keys"]}
    assert set(claims) >= {"iss", "aud", "sub", "sid", "iat", "exp", "jti"}
    assert claims["sub"] == enrolled.customer["customer_id"]
    assert claims["exp"] - claims["iat"] == 900


def test_jwks_verifies_the_token(api, enrol):
    enrolled = enrol()
    jwk = api.get("/.well-known/jwks.json").body["keys"][0]
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(enrolled.token, public, algorithms=["ES256"], audience="selfcare-app")
    assert claims["sub"] == enrolled.customer["customer_id"]


def test_a_missing_token_is_a_json_401(api):
    response = api.get("/me/passkeys")
    assert response.status == 401 and response.error_code == "unauthenticated"
    assert response.headers.get("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize(
    "make_token",
    [
        lambda e: e.token[:-4] + ("AAAA" if not e.token.endswith("AAAA") else "BBBB"),  # tampered signature
        lambda e: ".".join(
            [e.token.split(".")[0], _b64(_claims(e, sub="cus_someoneelse")), e.token.split(".")[2]]
        ),
        lambda e: _b64({"alg": "none", "typ": "at+jwt"}) + "." + _b64(_claims(e)) + ".",
        lambda e: jwt.encode(_claims(e), "s" * 32, algorithm="HS256", headers={"typ": "at+jwt"}),
        lambda e: _signed(_claims(e, exp=int(time.time()) - 10)),
        lambda e: _signed(_claims(e, aud="another-api")),
        lambda e: _signed(_claims(e, iss="https://evil.example")),
        lambda e: _signed(_claims(e, sid=None)),
        lambda e: _signed(_claims(e), headers={"typ": "JWT"}),
        lambda e: _signed(_claims(e), headers={"kid": "unknown-kid"}),
        lambda e: jwt.encode(
            _claims(e),
            ec.generate_private_key(ec.SECP256R1()),
            algorithm="ES256",
            headers={"typ": "at+jwt", "kid": _segments(e.token)[0]["kid"]},
        ),
        lambda e: "Basic " + e.token,
    ],
    ids=[
        "tampered",
        "other-subject",
        "alg-none",
        "hmac",
        "expired",
        "wrong-audience",
        "wrong-issuer",
        "no-sid",
        "wrong-typ",
        "unknown-kid",
        "foreign-key",
        "not-bearer",
    ],
)
def test_bad_tokens_are_refused_with_a_json_401(api, enrol, make_token):
    enrolled = enrol()
    token = make_token(enrolled)
    headers = {"Authorization": token} if token.startswith("Basic ") else {"Authorization": f"Bearer {token}"}
    response = api.get("/me/passkeys", headers=headers)
    assert response.status == 401, response.body
    assert response.error_code == "unauthenticated"


def test_the_service_explains_why_a_token_is_refused(enrol):
    """The gateway answers one generic 401; the verifier itself names the reason (logged)."""
    from chalicelib.auth.tokens import verify_access_token
    from chalicelib.errors import Unauthenticated

    enrolled = enrol()
    with pytest.raises(Unauthenticated) as expired:
        verify_access_token(_signed(_claims(enrolled, exp=int(time.time()) - 10)))
    assert expired.value.code == "token_expired"
    with pytest.raises(Unauthenticated) as none_alg:
        verify_access_token(_b64({"alg": "none", "typ": "at+jwt"}) + "." + _b64(_claims(enrolled)) + ".")
    assert none_alg.value.code == "invalid_token"


def test_a_refresh_token_is_not_an_access_token(api, enrol):
    enrolled = enrol()
    response = api.get("/me/passkeys", token=enrolled.session["refresh_token"])
    assert response.status == 401


def test_key_rotation_keeps_both_keys_published(tmp_path):
    from chalicelib.auth.keys import new_key_document, parse_key_document

    old, new = new_key_document(), new_key_document()
    ring = parse_key_document(
        json.dumps({"active_kid": new["active_kid"], "keys": old["keys"] + new["keys"]})
    )
    assert ring.active.kid == new["active_kid"]
    assert set(ring.keys) == {old["active_kid"], new["active_kid"]}


def test_a_broken_key_document_is_a_configuration_error():
    from chalicelib.auth.keys import parse_key_document
    from chalicelib.errors import ServiceMisconfigured

    with pytest.raises(ServiceMisconfigured):
        parse_key_document('{"active_kid": "x", "keys": []}')


def test_a_token_claiming_a_longer_life_than_we_issue_is_refused(api, enrol):
    """Signed with our key but `exp - iat` past 15 minutes: refused. Mutation: drop the bound."""
    enrolled = enrol()
    now = int(time.time())
    long_lived = _signed(_claims(enrolled, iat=now, exp=now + 24 * 3600))
    assert api.get("/me/sessions", token=long_lived).status == 401
    from chalicelib.auth.tokens import verify_access_token
    from chalicelib.errors import Unauthenticated

    with pytest.raises(Unauthenticated) as refused:
        verify_access_token(long_lived)
    assert refused.value.code == "invalid_token"
    assert api.get("/me/sessions", token=_signed(_claims(enrolled, iat=now, exp=now + 600))).status == 200


def test_key_rotation_works_without_a_redeploy(api, enrol, monkeypatch, tmp_path):
    """The README's rotation: add a key (both published), switch the active kid (old tokens stay
    valid to expiry), remove the old key (its tokens are refused within the refresh interval).
    Mutation: cache the key ring for the life of the container → the new kid is never used."""
    import dataclasses

    from chalicelib.auth import keys, tokens
    from chalicelib.config import get_settings

    document = json.loads(pathlib.Path(get_settings().jwt_key_source.partition(":")[2]).read_text())
    path = tmp_path / "ring.json"
    path.write_text(json.dumps(document))
    settings = dataclasses.replace(get_settings(), jwt_key_source=f"file:{path}", jwt_key_refresh_s=1)
    monkeypatch.setattr(keys, "get_settings", lambda: settings)
    monkeypatch.setattr(tokens, "get_settings", lambda: settings)
    keys.reload()
    try:
        enrolled = enrol()
        old_token = enrolled.token
        old_kid = document["active_kid"]
        # 1. Add a key: both published, the old one still signs.
        added = keys.new_key_document()["keys"][0]
        document["keys"].append(added)
        path.write_text(json.dumps(document))
        time.sleep(1.1)
        assert {k["kid"] for k in api.get("/.well-known/jwks.json").body["keys"]} == {old_kid, added["kid"]}
        # 2. Switch the active kid: new tokens carry it; the old token is still valid.
        document["active_kid"] = added["kid"]
        path.write_text(json.dumps(document))
        time.sleep(1.1)
        fresh = api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]}).body[
            "access_token"
        ]
        assert _segments(fresh)[0]["kid"] == added["kid"]
        assert api.get("/me/sessions", token=old_token).status == 200
        # 3. Remove the old key: its tokens are refused within the refresh interval.
        document["keys"] = [added]
        path.write_text(json.dumps(document))
        time.sleep(1.1)
        assert api.get("/me/sessions", token=old_token).status == 401
        assert api.get("/me/sessions", token=fresh).status == 200
    finally:
        keys.reload()


def test_the_authorizer_verifies_with_public_keys_only(api, enrol, monkeypatch, tmp_path):
    """With JWT_PUBLIC_KEY_SOURCE (as the deployed authorizer has), verification reads the JWKS and
    never the signing keys. Mutation: verify with key_ring() → the unreadable signing source fails."""
    import dataclasses

    from chalicelib.auth import keys, tokens
    from chalicelib.config import get_settings

    enrolled = enrol()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(api.get("/.well-known/jwks.json").body))
    settings = dataclasses.replace(
        get_settings(), jwt_public_key_source=f"file:{jwks}", jwt_key_source="file:/nonexistent/dir/keys.json"
    )
    monkeypatch.setattr(keys, "get_settings", lambda: settings)
    monkeypatch.setattr(tokens, "get_settings", lambda: settings)
    keys.reload()
    try:
        assert tokens.verify_access_token(enrolled.token).customer_id == enrolled.customer["customer_id"]
        assert all(isinstance(k, ec.EllipticCurvePublicKey) for k in keys.public_keys().values())
    finally:
        keys.reload()


def test_a_failed_key_refresh_keeps_the_keys_in_hand(monkeypatch):
    """SSM throttled at a refresh: tokens keep verifying with the keys already loaded instead of
    every request failing. Mutation: let the reload's exception propagate."""
    from chalicelib.auth import keys

    keys.reload()
    known = keys.public_keys()
    monkeypatch.setattr(keys._public, "_loaded_at", 0.0)  # due for a refresh

    def unavailable() -> dict:
        raise RuntimeError("ThrottlingException")

    monkeypatch.setattr(keys._public, "_load", unavailable)
    assert keys.public_keys() == known
    keys.reload()
