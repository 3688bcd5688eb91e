"""Random identifiers and one-way hashes for secrets we must recognise but never keep."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def new_id(prefix: str, nbytes: int = 12) -> str:
    """Opaque ids such as `ses_...`: random, so they reveal neither count nor order."""
    return f"{prefix}_{secrets.token_hex(nbytes)}"


def sha256_hex(value: str) -> str:
    """For high-entropy secrets (256-bit refresh tokens): a plain digest cannot be brute-forced."""
    return hashlib.sha256(value.encode()).hexdigest()


def slow_hash(secret: str, *, salt: str) -> str:
    """For low-entropy secrets (activation codes): scrypt makes an offline guess costly."""
    digest = hashlib.scrypt(secret.encode(), salt=salt.encode(), n=2**14, r=8, p=1, dklen=32)
    return digest.hex()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
