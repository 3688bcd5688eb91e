"""ES256 signing keys for access tokens, reloaded every few minutes.

The key source is a JSON document `{"active_kid": "...", "keys": [{"kid": "...", "private_key_pem":
"..."}]}` with room for two keys during a rotation (sign with the active one, publish both). It
comes from a local file in development (created on first use) and from SSM Parameter Store
(SecureString) or Secrets Manager in AWS; it is never in the repository.

The authorizer verifies with public keys only: `JWT_PUBLIC_KEY_SOURCE` names a JWKS document
(`{"keys": [<EC JWK>...]}`, the same as `/.well-known/jwks.json`), so the function that checks every
request can neither read nor leak a signing key. Without it (local runs) the public halves of the
signing keys are used.

Both are reloaded every `JWT_KEY_REFRESH_SECONDS` (5 minutes): adding a key, switching the active
kid or removing a key takes effect in every warm container within that time, no redeploy.

Keys that cannot be read (SSM down, a corrupt document) are our failure, not the caller's: with
none in hand, `public_keys()` and `key_ring()` raise TemporarilyUnavailable (503 with Retry-After;
in the authorizer, API Gateway's authorizer-failure response, also a 503 in infra/resources.json),
never a 500 nor a 401 that would sign a customer out. The failure is logged and the source is not
asked again for RETRY_FAILED_S, so a broken parameter is not read once per request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.common.secrets import b64url
from chalicelib.config import get_settings
from chalicelib.errors import ServiceMisconfigured, TemporarilyUnavailable


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.kid, self.private_key.public_key())


@dataclass(frozen=True)
class KeyRing:
    active: SigningKey
    keys: dict[str, SigningKey]


def thumbprint_kid(private_key: ec.EllipticCurvePrivateKey) -> str:
    """RFC 7638 thumbprint of the public key: a stable kid that names the key itself."""
    numbers = private_key.public_key().public_numbers()
    canonical = json.dumps(
        {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def new_key_document() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    kid = thumbprint_kid(key)
    return {"active_kid": kid, "keys": [{"kid": kid, "private_key_pem": pem.decode()}]}


def _read_file(path: str) -> str:
    file = Path(path)
    if not file.exists():
        # Development only: the file source creates its key on first use, private to this user.
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(new_key_document(), out)
    return file.read_text()


def _read_ssm(name: str) -> str:
    import boto3  # only in AWS: keeps boto3's client setup off the local path

    return boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


def _read_secrets_manager(secret_id: str) -> str:
    import boto3

    return boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]


_READERS = {"file": _read_file, "ssm": _read_ssm, "secretsmanager": _read_secrets_manager}


def parse_key_document(text: str) -> KeyRing:
    try:
        document = json.loads(text)
        keys: dict[str, SigningKey] = {}
        for entry in document["keys"]:
            key = serialization.load_pem_private_key(entry["private_key_pem"].encode(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ValueError("signing keys must be EC P-256 (ES256)")
            kid = entry.get("kid") or thumbprint_kid(key)
            keys[kid] = SigningKey(kid=kid, private_key=key)
        return KeyRing(active=keys[document["active_kid"]], keys=keys)
    except (ValueError, KeyError, TypeError) as exc:
        raise ServiceMisconfigured(
            f"The token signing key document is invalid ({type(exc).__name__})."
        ) from None


T = TypeVar("T")
RETRY_REFRESH_S = 30
RETRY_FAILED_S = 5  # nothing loaded yet and the last load failed: ask the source again after this


def _unavailable() -> TemporarilyUnavailable:
    return TemporarilyUnavailable(
        "Sign-in cannot be checked right now; try again in a moment.",
        code="temporarily_unavailable",
        retry_after_s=RETRY_FAILED_S,
    )


class _Refreshing(Generic[T]):
    """A value loaded at first use and again once it is older than the refresh interval."""

    def __init__(self, load: Callable[[], T], what: str) -> None:
        self._load = load
        self._what = what  # for the log: "signing_keys" | "verification_keys"
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at = 0.0
        self._failed_at: float | None = None  # the last load with nothing in hand failed then

    def get(self) -> T:
        """The value; TemporarilyUnavailable when none could be loaded."""
        ttl = get_settings().jwt_key_refresh_s
        if self._value is None or time.monotonic() - self._loaded_at >= ttl:
            with self._lock:
                if self._value is None or time.monotonic() - self._loaded_at >= ttl:
                    self._reload(ttl)
        if self._value is None:
            raise _unavailable()
        return self._value

    def _reload(self, ttl: float) -> None:
        """Under the lock: load, or keep what is in hand when the source fails."""
        recently_failed = self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_FAILED_S
        if self._value is None and recently_failed:
            return  # failed a moment ago: answer 503 again without asking the source
        try:
            self._value = self._load()
            self._loaded_at = time.monotonic()
            self._failed_at = None
        except Exception as error:  # noqa: BLE001 - any failure to read keys is the same outage
            from chalicelib.observability.log import log_event

            if self._value is None:
                # Nothing to verify or sign with: every caller gets a 503 until the source reads.
                log_event("key_load_failed", level=logging.ERROR, keys=self._what, error=type(error).__name__)
                self._failed_at = time.monotonic()
                return
            # SSM throttled or down at a refresh: keep the keys we have (a removed kid lives a
            # little longer) rather than fail every request; try again soon.
            log_event("key_refresh_failed", keys=self._what, error=type(error).__name__)
            self._loaded_at = time.monotonic() - ttl + min(ttl, RETRY_REFRESH_S)

    def forget(self) -> None:
        """Load again at the next use (tests, and after a SnapStart restore)."""
        with self._lock:
            self._value = None
            self._failed_at = None


def _read(source: str, setting: str) -> str:
    scheme, _, location = source.partition(":")
    reader = _READERS.get(scheme)
    if reader is None or not location:
        raise ServiceMisconfigured(f"{setting} must be file:<path>, ssm:<name> or secretsmanager:<id>.")
    if scheme == "file" and setting != "JWT_KEY_SOURCE":
        return Path(location).read_text()  # only the signing key file is created on first use
    return reader(location)


def _load_ring() -> KeyRing:
    return parse_key_document(_read(get_settings().jwt_key_source, "JWT_KEY_SOURCE"))


def parse_jwks(text: str) -> dict[str, ec.EllipticCurvePublicKey]:
    from jwt.algorithms import ECAlgorithm
    from jwt.exceptions import InvalidKeyError

    try:
        keys: dict[str, ec.EllipticCurvePublicKey] = {}
        for jwk in json.loads(text)["keys"]:
            key = ECAlgorithm.from_jwk(json.dumps(jwk))
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
                raise ValueError("verification keys must be public EC P-256 keys")
            keys[str(jwk["kid"])] = key
        return keys
    except (ValueError, KeyError, TypeError, InvalidKeyError) as exc:
        raise ServiceMisconfigured(
            f"The token verification key document is invalid ({type(exc).__name__})."
        ) from None


def _load_public() -> dict[str, ec.EllipticCurvePublicKey]:
    source = get_settings().jwt_public_key_source
    if source:
        return parse_jwks(_read(source, "JWT_PUBLIC_KEY_SOURCE"))
    return {kid: key.private_key.public_key() for kid, key in key_ring().keys.items()}


_ring: _Refreshing[KeyRing] = _Refreshing(_load_ring, "signing_keys")
_public: _Refreshing[dict[str, ec.EllipticCurvePublicKey]] = _Refreshing(_load_public, "verification_keys")


def key_ring() -> KeyRing:
    """The signing keys (token issuers only). Raises TemporarilyUnavailable when unreadable."""
    return _ring.get()


def public_keys() -> dict[str, ec.EllipticCurvePublicKey]:
    """kid → public key, for verifying (the authorizer loads nothing else). Raises
    TemporarilyUnavailable when unreadable."""
    return _public.get()


def reload() -> None:
    """Forget the loaded keys: the next use reads the sources again."""
    _ring.forget()
    _public.forget()


def public_jwk(kid: str, key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
        "use": "sig",
        "alg": "ES256",
        "kid": kid,
    }


def jwks() -> dict[str, list[dict[str, str]]]:
    return {"keys": [public_jwk(kid, key) for kid, key in public_keys().items()]}
