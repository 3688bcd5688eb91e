"""Card numbers never reach us: anything that looks like one (13–19 digits, spaces or dashes
allowed, Luhn-valid) in any string of a request is refused, and the value is never logged."""
from __future__ import annotations

import re
from typing import Any

from chalicelib.errors import ValidationFailed

# Digit runs standing alone (not glued to letters or underscores, as in ids like pm_0000...).
_CANDIDATE = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def contains_pan(value: Any) -> bool:
    if isinstance(value, str):
        for match in _CANDIDATE.finditer(value):
            digits = re.sub(r"\D", "", match.group())
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                return True
        return False
    if isinstance(value, dict):
        return any(contains_pan(k) or contains_pan(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(contains_pan(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return contains_pan(str(value))
    return False


def refuse_card_numbers(payload: Any) -> None:
    if contains_pan(payload):
        raise ValidationFailed(
            "This looks like a card number: card details must be entered in the payment form of the app, never sent to us.",
            code="card_number_refused",
        )
