"""The languages the service speaks, which of them a request's Accept-Language prefers, and the
few things written differently in each: month names, dates in a sentence, phone numbers."""

from __future__ import annotations

import re
from datetime import date

LANGUAGES = ("fr", "en")


def spoken(language: str | None) -> str:
    """The language we write to a customer in: theirs if we speak it, else French (the service's)."""
    return language if language in LANGUAGES else "fr"


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


_MONTHS = {
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def month_name(month: int, language: str) -> str:
    return _MONTHS[language if language in _MONTHS else "fr"][month - 1]


def long_date(day: date, language: str) -> str:
    """A date in a sentence: « 26 décembre 2026 », "26 December 2026"."""
    return f"{day.day} {month_name(day.month, language)} {day.year}"


def phone_number(msisdn: str) -> str:
    """How a French customer reads their number: +33612345678 → 06 12 34 56 78; others as E.164."""
    if re.fullmatch(r"\+33[1-9]\d{8}", msisdn):
        national = "0" + msisdn[3:]
        return " ".join(national[i : i + 2] for i in range(0, 10, 2))
    return msisdn
