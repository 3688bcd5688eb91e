"""Passkey sign-in and sessions.

- `activation`: one-time activation codes that let a new customer enrol a first passkey.
- `challenges`: WebAuthn challenges, stored server-side and consumed once.
- `ceremonies`: the py_webauthn calls (imported only by the functions that verify).
- `passkeys`: enrolment, sign-in and the customer's passkey list.
- `keys` / `tokens`: ES256 signing keys, access-token issue and verification, JWKS.
- `sessions`: rotating refresh tokens, logout, the customer's sessions.
- `wellknown`: the files that associate the native apps with our RP ID.
"""
