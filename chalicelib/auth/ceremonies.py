"""The WebAuthn ceremonies, through py_webauthn, with every lax default tightened.

Imported only by the functions that build or verify a ceremony: `webauthn` pulls in cbor2,
pyOpenSSL and the attestation verifiers, which the other routes' cold start should not pay for.
What py_webauthn leaves to us is done here or in `passkeys`: user verification is required, the
algorithms are those we offered, origins match an exact list, the credential id is at most 1023
bytes, and the sign counter is judged by us (py_webauthn refuses any non-increasing pair, which
would lock out authenticators that only reset) so that a regression can be recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRequestOptions,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from chalicelib.common.pan import redact_pans
from chalicelib.common.secrets import b64url, b64url_decode
from chalicelib.config import get_settings
from chalicelib.errors import Unauthenticated, ValidationFailed
from chalicelib.observability.log import log_event

# EdDSA first: authenticators pick the first they support; ES256 is what almost all platform
# authenticators use; RS256 for Windows Hello.
ALGORITHMS = [
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
MAX_CREDENTIAL_ID_BYTES = 1023
TIMEOUT_MS = 300_000

# What the client is told when py_webauthn refuses a credential: one sentence per ceremony, the same
# whatever the reason, and the same as for a credential we do not know (`passkeys`), so the answer
# tells an attacker nothing about which credentials exist. The library's text goes to the log.
REFUSED = "This passkey cannot sign in."
NOT_REGISTERED = "The passkey could not be registered."
MALFORMED = "The credential is malformed."
# Beyond its own exceptions, py_webauthn lets IndexError, KeyError, TypeError... escape on crafted
# bytes (a COSE key that is a CBOR list, or lacks its algorithm): any failure to read or verify what
# the client sent is a refusal, never a 500. Its type is logged, so a failure of ours still shows.
_LIBRARY_ERRORS = (Exception,)


def _rejected(step: str, exc: Exception) -> None:
    """py_webauthn's reason, for the log only (card numbers redacted: its text may quote input)."""
    log_event("webauthn_rejected", step=step, error=type(exc).__name__, detail=redact_pans(str(exc))[:300])


@dataclass(frozen=True)
class RegisteredCredential:
    credential_id: str  # base64url
    public_key: str  # base64url COSE key
    sign_count: int
    aaguid: str
    backup_eligible: bool
    backed_up: bool
    transports: list[str]


@dataclass(frozen=True)
class AssertionIds:
    """What an assertion claims before it is verified: which credential, for which user."""

    credential_id: str
    user_handle: str | None


@dataclass(frozen=True)
class VerifiedAssertion:
    sign_count: int
    backup_eligible: bool
    backed_up: bool


def _as_json(
    options: PublicKeyCredentialCreationOptions | PublicKeyCredentialRequestOptions,
) -> dict[str, Any]:
    """The options as the JSON object the app hands to WebAuthn (json.loads is typed Any)."""
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


def registration_options(
    *,
    challenge: bytes,
    user_handle: str,
    user_name: str,
    display_name: str,
    exclude: list[tuple[str, list[str]]],
) -> dict[str, Any]:
    settings = get_settings()
    options = generate_registration_options(
        rp_id=settings.rp_id,
        rp_name=settings.rp_name,
        user_id=b64url_decode(user_handle),
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=b64url_decode(cred_id), transports=_transports(transports))
            for cred_id, transports in exclude
        ],
        supported_pub_key_algs=ALGORITHMS,
    )
    return _as_json(options)


def authentication_options(*, challenge: bytes) -> dict[str, Any]:
    options = generate_authentication_options(
        rp_id=get_settings().rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[],  # usernameless: the authenticator offers its discoverable credentials
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return _as_json(options)


def step_up_options(*, challenge: bytes, allow: list[tuple[str, list[str]]]) -> dict[str, Any]:
    """Request options for a confirmation by a known customer: only their passkeys are offered."""
    options = generate_authentication_options(
        rp_id=get_settings().rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=b64url_decode(c), transports=_transports(t)) for c, t in allow
        ],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return _as_json(options)


def verify_registration(
    *, credential: dict[str, Any], challenge: bytes, algorithms: list[int]
) -> RegisteredCredential:
    settings = get_settings()
    try:
        parsed = parse_registration_credential_json(credential)
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.allowed_origins,
            require_user_presence=True,
            require_user_verification=True,
            supported_pub_key_algs=[COSEAlgorithmIdentifier(a) for a in algorithms] or ALGORITHMS,
        )
        # With "none" attestation nothing has used the public key yet: load it now, so a key that
        # could never verify a signature (x and y that are not bytes...) is refused here rather
        # than stored and failing at every sign-in.
        decoded_public_key_to_cryptography(decode_credential_public_key(verified.credential_public_key))
    except _LIBRARY_ERRORS as exc:
        _rejected("registration", exc)
        raise Unauthenticated(NOT_REGISTERED, code="invalid_credential") from None
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise ValidationFailed("The credential id is longer than 1023 bytes.", code="invalid_credential")
    transports = [t.value for t in (parsed.response.transports or [])]
    return RegisteredCredential(
        credential_id=b64url(verified.credential_id),
        public_key=b64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        transports=transports,
    )


def read_assertion(credential: dict[str, Any]) -> AssertionIds:
    try:
        parsed = parse_authentication_credential_json(credential)
    except _LIBRARY_ERRORS as exc:
        _rejected("read_assertion", exc)
        raise ValidationFailed(MALFORMED, code="invalid_credential") from None
    if len(parsed.raw_id) > MAX_CREDENTIAL_ID_BYTES:
        raise ValidationFailed("The credential id is longer than 1023 bytes.", code="invalid_credential")
    handle = parsed.response.user_handle
    return AssertionIds(credential_id=b64url(parsed.raw_id), user_handle=b64url(handle) if handle else None)


def verify_assertion(*, credential: dict[str, Any], challenge: bytes, public_key: str) -> VerifiedAssertion:
    settings = get_settings()
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.allowed_origins,
            credential_public_key=b64url_decode(public_key),
            # 0 switches off py_webauthn's counter check; `passkeys` compares with the stored count.
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except _LIBRARY_ERRORS as exc:
        _rejected("assertion", exc)
        raise Unauthenticated(REFUSED, code="invalid_credential") from None
    return VerifiedAssertion(
        sign_count=verified.new_sign_count,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
    )


def _transports(values: list[str]) -> list[AuthenticatorTransport] | None:
    known = {t.value for t in AuthenticatorTransport}
    return [AuthenticatorTransport(v) for v in values if v in known] or None
