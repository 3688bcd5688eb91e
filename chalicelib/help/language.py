"""The language of a help answer, and the few texts formatted in it.

Which language: the `lang` the app asked for, else the signed-in customer's own (`PATCH /me`),
else the first of ours in Accept-Language (the phone's), else French.
"""

from __future__ import annotations

from chalicelib.common.languages import LANGUAGES, from_accept_language, month_name, phone_number

__all__ = [
    "DEFAULT",
    "LANGUAGES",
    "choose",
    "from_accept_language",
    "month_name",
    "of_month",
    "phone_number",
    "usefulness_label",
]

DEFAULT = "fr"


def choose(*, asked: str | None, customer: str | None, accept_language: str | None) -> str:
    for language in (asked, customer, from_accept_language(accept_language)):
        if language in LANGUAGES:
            return language
    return DEFAULT


def of_month(month: int) -> str:
    """French « de novembre », « d'octobre » (elision before a vowel)."""
    name = month_name(month, "fr")
    return f"d'{name}" if name[0] in "aeiouéèêâ" else f"de {name}"


def usefulness_label(percent: int, language: str) -> str:
    if language == "en":
        return f"{percent}% found this helpful"
    return f"{percent}\u00a0% ont trouvé cette réponse utile"
