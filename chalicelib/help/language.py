"""The language of a help answer, and the few texts formatted in it.

Which language: the `lang` the app asked for, else the signed-in customer's own (`PATCH /me`),
else the first of ours in Accept-Language (the phone's), else French.
"""

from __future__ import annotations

import re

from chalicelib.common.languages import LANGUAGES, from_accept_language

__all__ = ["DEFAULT", "LANGUAGES", "choose", "from_accept_language", "month_name", "of_month"]

DEFAULT = "fr"

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
