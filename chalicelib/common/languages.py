"""The languages the service speaks, and which of them a request's Accept-Language prefers."""

from __future__ import annotations

import re

LANGUAGES = ("fr", "en")
_RANGE = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$")
MAX_ACCEPT_LANGUAGE = 200  # a header longer than this is read up to here


def from_accept_language(header: str | None) -> str | None:
    """The first of our languages in an Accept-Language header, by weight (`fr-FR,fr;q=0.9,en;q=0.8`
    → fr); None when it names neither. Malformed ranges are skipped, never an error."""
    if not header:
        return None
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header[:MAX_ACCEPT_LANGUAGE].split(",")):
        match = _RANGE.match(part)
        if not match:
            continue
        primary = match.group(1).lower()
        weight = float(match.group(2)) if match.group(2) else 1.0
        if primary in LANGUAGES and weight > 0:
            # Higher weight first; at equal weight, the earlier range.
            candidate = (-weight, position, primary)
            if best is None or candidate < best:
                best = candidate
    return best[2] if best else None
