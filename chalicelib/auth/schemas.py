"""Request bodies of the auth routes: allow-lists (unknown fields are refused)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.common.strict import Strict

# Ids as they appear in paths: base64url credential ids (≤1023 bytes → ≤1364 chars), our session ids.
PASSKEY_ID = r"[A-Za-z0-9_-]{16,1364}"
SESSION_ID = r"ses_[0-9a-f]{24}"
CHALLENGE_ID = r"^chl_[0-9a-f]{32}$"


class EmptyBody(Strict):
    """Routes that take no body accept nothing or `{}`."""


class CredentialBody(Strict):
    challenge_id: str = Field(pattern=CHALLENGE_ID)
    # The WebAuthn JSON (`PublicKeyCredential.toJSON()`): py_webauthn checks its structure.
    credential: dict[str, Any]


class RegisterVerifyBody(CredentialBody):
    name: str | None = Field(default=None, min_length=1, max_length=64)


class RefreshBody(Strict):
    refresh_token: str = Field(min_length=10, max_length=300)


class RenamePasskeyBody(Strict):
    name: str = Field(min_length=1, max_length=64)
