"""The language of a help answer, and the few texts formatted in it.

Which language: the `lang` the app asked for, else the signed-in customer's own (`PATCH /me`),
else the first of ours in Accept-Language (the phone's), else French.
"""

from __future__ import annotations

import re

LANGUAGES = ("fr", "en")
DEFAULT = "fr"
_RANGE = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$")
MAX_ACCEPT_LANGUAGE = 200  # a header longer than this is read up to here

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


def choose(*, asked: str | None, customer: str | None, accept_language: str | None) -> str:
    for language in (asked, customer, from_accept_language(accept_language)):
        if language in LANGUAGES:
            return language
    return DEFAULT


def month_name(month: int, language: str) -> str:
    return _MONTHS[language if language in _MONTHS else DEFAULT][month - 1]


def of_month(month: int) -> str:
    """French « de novembre », « d'octobre » (elision before a vowel)."""
    name = month_name(month, "fr")
    return f"d'{name}" if name[0] in "aeiouéèêâ" else f"de {name}"


def usefulness_label(percent: int, language: str) -> str:
    if language == "en":
        return f"{percent}% found this helpful"
    return f"{percent}\u00a0% ont trouvé cette réponse utile"


def phone_number(msisdn: str) -> str:
    """How a French customer reads their number: +33612345678 → 06 12 34 56 78; others as E.164."""
    if re.fullmatch(r"\+33[1-9]\d{8}", msisdn):
        national = "0" + msisdn[3:]
        return " ".join(national[i : i + 2] for i in range(0, 10, 2))
    return msisdn
