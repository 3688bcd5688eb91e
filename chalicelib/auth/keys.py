"""ES256 signing keys for access tokens, loaded once per cold start.

The key source is a JSON document `{"active_kid": "...", "keys": [{"kid": "...", "private_key_pem":
"..."}]}` with room for two keys during a rotation (sign with the active one, publish both). It
comes from a local file in development (created on first use) and from SSM Parameter Store
(SecureString) or Secrets Manager in AWS; it is never in the repository.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.common.secrets import b64url
from chalicelib.config import get_settings
from chalicelib.errors import ServiceMisconfigured


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
            "use": "sig",
            "alg": "ES256",
            "kid": self.kid,
        }


@dataclass(frozen=True)
class KeyRing:
    active: SigningKey
    keys: dict[str, SigningKey]


def thumbprint_kid(private_key: ec.EllipticCurvePrivateKey) -> str:
    """RFC 7638 thumbprint of the public key: a stable kid that names the key itself."""
    numbers = private_key.public_key().public_numbers()
    canonical = json.dumps(
        {"crv": "P-256", "kty": "EC", "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def new_key_document() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
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
        raise ServiceMisconfigured(f"The token signing key document is invalid ({type(exc).__name__}).") from None


@lru_cache(maxsize=1)
def key_ring() -> KeyRing:
    source = get_settings().jwt_key_source
    scheme, _, location = source.partition(":")
    reader = _READERS.get(scheme)
    if reader is None or not location:
        raise ServiceMisconfigured("JWT_KEY_SOURCE must be file:<path>, ssm:<name> or secretsmanager:<id>.")
    return parse_key_document(reader(location))


def jwks() -> dict[str, list[dict[str, str]]]:
    return {"keys": [key.public_jwk for key in key_ring().keys.values()]}
