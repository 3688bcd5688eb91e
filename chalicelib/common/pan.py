"""Card numbers never reach us: anything that looks like one (13–19 digits, spaces or dashes
allowed, Luhn-valid) in any string of a request or an admin event is refused, and the value is
never logged nor echoed.

What counts: a run of digits standing alone, not glued to letters, underscores, dashes (ids such as
`pm_0000…` or base64url blobs) nor to a leading `+` (an E.164 phone number such as
`+4915112345678` is 13 digits and Luhn-valid one time in ten; nobody writes a card number with a
`+`). Identifiers that are 13–19 bare digits and Luhn-valid are indistinguishable from a card
number and are refused too: ours carry a prefix.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.common.limits import MAX_BODY_BYTES
from chalicelib.errors import ValidationFailed

_CANDIDATE = re.compile(r"(?<![\w+-])(?:\d[ -]?){12,18}\d(?![\w-])")
_NOT_DIGIT = re.compile(r"\D")

REFUSED_MESSAGE = "This looks like a card number: card details must be entered in the payment form of the app, never sent to us."
REDACTED = "[card number removed]"


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _is_pan(candidate: str) -> bool:
    digits = _NOT_DIGIT.sub("", candidate)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _text_has_pan(text: str) -> bool:
    return any(_is_pan(match.group()) for match in _CANDIDATE.finditer(text))


def contains_pan(value: Any) -> bool:
    """Whether any string, key or integer in `value` (JSON-like data) holds a card number.

    Iterative, with each container visited once: nesting depth and shared or cyclic references
    cannot make it recurse or loop (callers bound the size before calling it)."""
    stack: list[Any] = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _text_has_pan(item):
                return True
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, int):
            # Beyond 19 digits it cannot be a card number (and str() of a huge int is refused).
            if 10**12 <= abs(item) < 10**19 and _text_has_pan(str(abs(item))):
                return True
        elif isinstance(item, (dict, list, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
    return False


def redact_pans(text: str) -> str:
    """`text` with every card number replaced: a last net under messages built from input."""
    return _CANDIDATE.sub(lambda m: REDACTED if _is_pan(m.group()) else m.group(), text)


def refuse_card_numbers(payload: Any) -> None:
    """Refuse `payload` (parsed JSON, or a raw body as text) if it holds a card number.

    A raw text larger than any body we accept is refused as too large without being scanned, so a
    caller that scans before the size check still spends no more than a body's worth of CPU."""
    if isinstance(payload, (str, bytes)) and len(payload) > MAX_BODY_BYTES:
        raise ValidationFailed(
            f"The request body is larger than {MAX_BODY_BYTES} bytes.", code="body_too_large"
        )
    if isinstance(payload, bytes):
        payload = payload.decode(errors="replace")
    if contains_pan(payload):
        raise ValidationFailed(REFUSED_MESSAGE, code="card_number_refused")
