"""How much untrusted JSON we read, in one place (request bodies, query strings, admin events)."""

from __future__ import annotations

# A request body: our largest real body (a registration credential with its attestation) is a few
# KB; 64 KB leaves room while bounding every scan and parse that follows to milliseconds.
MAX_BODY_BYTES = 64 * 1024

# Nesting of arrays and objects. Our deepest body is a WebAuthn credential at depth 4-5
# (credential → clientExtensionResults → prf → results), our deepest admin event a bill import at
# depth 4. 32 is six times that, and 30 times below where Python's json and pydantic overflow the
# interpreter's recursion limit (1000 frames, shared with the frames of the request itself).
MAX_JSON_DEPTH = 32

# An admin event (JSON serialised size, estimated while walking it): a 500-bill import, the largest
# event, is about 300 KB; Lambda itself accepts 6 MB, which would be seconds of validation and
# scanning for a mistake.
MAX_ADMIN_EVENT_BYTES = 1024 * 1024
