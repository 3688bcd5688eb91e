"""Our keys unreadable (a corrupt JWKS, SSM down) is our outage, not the caller's fault: a token we
cannot check answers 503 `temporarily_unavailable` (never a 500, and never a 401 that would sign
the customer out), while a token that is bad on its face is still a 401."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARN = "arn:aws:execute-api:eu-west-3:123456789012:api/api/GET/me/sessions"


def _deny(answer: Any) -> bool:
    return isinstance(answer, dict) and answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def _authorize(header: str | None) -> Any:
    from chalice.app import AuthRequest

    from chalicelib.api import principal

    return principal.authorize(AuthRequest("TOKEN", header, ARN))  # type: ignore[arg-type]


@pytest.fixture
def unreadable_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[list[int], Path]]:
    """The authorizer's JWKS (JWT_PUBLIC_KEY_SOURCE, as deployed) is a corrupt document. Yields a
    list that counts the reads of the source, and the document's file."""
    from chalicelib.auth import keys, tokens
    from chalicelib.config import get_settings

    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "broken"}]}')
    settings = dataclasses.replace(get_settings(), jwt_public_key_source=f"file:{jwks}")
    monkeypatch.setattr(keys, "get_settings", lambda: settings)
    monkeypatch.setattr(tokens, "get_settings", lambda: settings)
    reads: list[int] = []
    real_read = keys._read

    def counted(source: str, setting: str) -> str:
        if setting == "JWT_PUBLIC_KEY_SOURCE":  # not the signing keys, which issuing a token reads
            reads.append(1)
        return real_read(source, setting)

    monkeypatch.setattr(keys, "_read", counted)
    keys.reload()
    try:
        yield reads, jwks
    finally:
        monkeypatch.undo()
        keys.reload()


def test_a_valid_token_we_cannot_check_is_a_503_from_the_authorizer(enrol, unreadable_keys):
    """Mutation: let the key load's ServiceMisconfigured through (keys._Refreshing re-raising as
    before) → not TemporarilyUnavailable (a 500 at the gateway)."""
    from chalicelib.errors import TemporarilyUnavailable

    enrolled = enrol()
    with pytest.raises(TemporarilyUnavailable) as unavailable:
        _authorize(f"Bearer {enrolled.token}")
    assert unavailable.value.code == "temporarily_unavailable"
    assert unavailable.value.retry_after_s and unavailable.value.retry_after_s > 0


def test_a_bad_token_is_still_denied_without_reading_a_key(unreadable_keys):
    """What the token shows on its face is refused as before: malformed, another algorithm,
    another type, or no token at all. Mutation: read the public keys before the header checks in
    tokens.verify_access_token → these answer 503 instead of 401."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode()).decode()
    hs256 = f"{header.rstrip('=')}.e30.c2ln"
    refresh_like = base64.urlsafe_b64encode(json.dumps({"alg": "ES256", "typ": "JWT"}).encode()).decode()
    for presented in (
        None,
        "Bearer not-a-jwt",
        f"Bearer {hs256}",
        f"Bearer {refresh_like.rstrip('=')}.e30.c2ln",
    ):
        assert _deny(_authorize(presented)), presented
    assert unreadable_keys[0] == []  # no key source read for any of them


def test_a_broken_source_is_not_read_again_for_every_request(enrol, unreadable_keys, monkeypatch):
    """After a failed load with nothing in hand, the next requests answer 503 at once for
    RETRY_FAILED_S, then the source is read again; once it reads, tokens verify. Mutation: drop
    the `_failed_at` wait in keys._Refreshing._reload → one read per request."""
    from chalicelib.auth import keys
    from chalicelib.errors import TemporarilyUnavailable

    reads, jwks = unreadable_keys
    enrolled = enrol()
    for _ in range(5):
        with pytest.raises(TemporarilyUnavailable):
            _authorize(f"Bearer {enrolled.token}")
    assert len(reads) == 1
    # The operators fix the document; the wait passes.
    ring = keys.key_ring()
    jwks.write_text(json.dumps({"keys": [k.public_jwk for k in ring.keys.values()]}))
    failed_at = keys._public._failed_at
    assert failed_at is not None
    monkeypatch.setattr(keys._public, "_failed_at", failed_at - keys.RETRY_FAILED_S)
    allowed = _authorize(f"Bearer {enrolled.token}")
    assert not _deny(allowed) and allowed.principal_id == enrolled.customer["customer_id"]
    assert len(reads) == 2


def test_the_jwks_route_answers_503_not_500(api, unreadable_keys):
    """The same outage on a route of ours: the mapping of TemporarilyUnavailable (503, Retry-After),
    checked against the contract by the client. Mutation: keys raising ServiceMisconfigured → 500."""
    answer = api.get("/.well-known/jwks.json")
    assert (answer.status, answer.error_code) == (503, "temporarily_unavailable")
    assert int(answer.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("response_type", ["AUTHORIZER_CONFIGURATION_ERROR", "AUTHORIZER_FAILURE"])
def test_api_gateway_answers_a_failed_authorizer_with_the_contracts_503(response_type):
    """The authorizer function raising is answered by API Gateway, not by us: its gateway responses
    (infra/resources.json) make it the 503 every protected route declares (Busy: the code, a
    Retry-After), not API Gateway's default 500 `{"message": null}`. Mutation: remove
    GatewayResponseAuthorizerFailed from infra/resources.json → KeyError; a 500 there → the
    contract refuses it."""
    from devtools.gateway import gateway_responses
    from tests.support import contract

    spec = gateway_responses()[response_type]
    body = json.loads(spec["ResponseTemplates"]["application/json"])
    headers = {
        name.rsplit(".", 1)[-1]: value.strip("'")
        for name, value in spec.get("ResponseParameters", {}).items()
    }
    for method, path in (("GET", "/me/sessions"), ("POST", "/bills/B-1/payments"), ("GET", "/me/inbox")):
        contract.check_response(method, path, int(spec["StatusCode"]), body, headers)
    assert body["error"]["code"] == "temporarily_unavailable" and int(headers["Retry-After"]) >= 1


def test_a_corrupt_jwk_is_a_configuration_error_of_the_document():
    """pyjwt's own InvalidKeyError (a JWK with a broken coordinate) is named as the document's
    fault in the log, like every other corruption. Mutation: drop InvalidKeyError from
    keys.parse_jwks's except → it escapes as pyjwt's."""
    from chalicelib.auth import keys
    from chalicelib.errors import ServiceMisconfigured

    with pytest.raises(ServiceMisconfigured):
        keys.parse_jwks('{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "broken"}]}')
