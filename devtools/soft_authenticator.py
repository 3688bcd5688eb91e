"""A software WebAuthn authenticator (a passkey in a Python object), for the tests and `make demo`.

It answers the options our API returns with what a browser's `PublicKeyCredential.toJSON()` gives:
base64url `id`/`rawId`, `response.clientDataJSON`, `response.attestationObject` (registration) or
`authenticatorData`/`signature`/`userHandle` (sign-in). Flags, origin, RP ID, sign counter and
algorithm can be set to misbehave on purpose. Built with `cryptography` and `cbor2` only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
ES256, EDDSA, RS256 = -7, -8, -257
AAGUID = bytes.fromhex("0b1d2c3e4f5a69788796a5b4c3d2e1f0")


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64u_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass
class SoftAuthenticator:
    origin: str = "http://localhost:8000"
    rp_id: str = "localhost"
    algorithm: int = ES256
    attestation: str = "none"  # or "packed" (self attestation)
    user_verified: bool = True
    backup_eligible: bool = True
    backed_up: bool = True
    sign_count: int = 0
    count_step: int = 0  # synced passkeys keep 0; device-bound ones count up
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    user_handle: bytes | None = None
    key: Any = None

    def __post_init__(self) -> None:
        if self.key is None:
            if self.algorithm == ES256:
                self.key = ec.generate_private_key(ec.SECP256R1())
            elif self.algorithm == EDDSA:
                self.key = ed25519.Ed25519PrivateKey.generate()
            elif self.algorithm == RS256:
                self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            else:
                raise ValueError(f"unsupported algorithm {self.algorithm}")

    # --- pieces -----------------------------------------------------------------------------------

    def cose_public_key(self) -> bytes:
        public = self.key.public_key()
        if self.algorithm == ES256:
            n = public.public_numbers()
            return cbor2.dumps(
                {1: 2, 3: ES256, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")}
            )
        if self.algorithm == EDDSA:
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return cbor2.dumps({1: 1, 3: EDDSA, -1: 6, -2: raw})
        n = public.public_numbers()
        return cbor2.dumps(
            {1: 3, 3: RS256, -1: n.n.to_bytes((n.n.bit_length() + 7) // 8, "big"), -2: n.e.to_bytes(3, "big")}
        )

    def sign(self, data: bytes) -> bytes:
        if self.algorithm == ES256:
            return self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        if self.algorithm == EDDSA:
            return self.key.sign(data)
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def _flags(self, *, attested: bool) -> int:
        flags = UP
        if self.user_verified:
            flags |= UV
        if self.backup_eligible:
            flags |= BE
        if self.backed_up:
            flags |= BS
        if attested:
            flags |= AT
        return flags

    def _auth_data(self, *, attested: bool, rp_id: str | None = None) -> bytes:
        data = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        data += bytes([self._flags(attested=attested)]) + struct.pack(">I", self.sign_count)
        if attested:
            data += (
                AAGUID
                + struct.pack(">H", len(self.credential_id))
                + self.credential_id
                + self.cose_public_key()
            )
        return data

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        ).encode()

    # --- ceremonies -------------------------------------------------------------------------------

    def create(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None
    ) -> dict[str, Any]:
        """navigator.credentials.create(), answered from the `options` JSON our API returned."""
        offered = [p["alg"] for p in options["pubKeyCredParams"]]
        if self.algorithm not in offered:
            raise ValueError(f"algorithm {self.algorithm} not offered: {offered}")
        excluded = {c["id"] for c in options.get("excludeCredentials", [])}
        if b64u(self.credential_id) in excluded:
            raise ValueError(
                "InvalidStateError: this authenticator already holds a credential for the account"
            )
        self.user_handle = b64u_decode(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        auth_data = self._auth_data(attested=True, rp_id=rp_id)
        if self.attestation == "packed":
            signature = self.sign(auth_data + hashlib.sha256(client_data).digest())
            statement: dict[str, Any] = {"alg": self.algorithm, "sig": signature}
            fmt = "packed"
        else:
            statement, fmt = {}, "none"
        attestation_object = cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        return {
            "id": b64u(self.credential_id),
            "rawId": b64u(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "attestationObject": b64u(attestation_object),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None
    ) -> dict[str, Any]:
        """navigator.credentials.get(), answered from the `options` JSON our API returned."""
        self.sign_count += self.count_step
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(attested=False, rp_id=rp_id)
        signature = self.sign(auth_data + hashlib.sha256(client_data).digest())
        return {
            "id": b64u(self.credential_id),
            "rawId": b64u(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "authenticatorData": b64u(auth_data),
                "signature": b64u(signature),
                "userHandle": b64u(self.user_handle) if self.user_handle else None,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
