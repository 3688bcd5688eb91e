"""What a search is counted as: the text people typed, with what could name them taken out.

Lowercase, accents folded (« Facture impayée » and « facture impayee » are one search), emails and
runs of digits that could be a card, phone, customer or bill number dropped, punctuation and
whitespace collapsed. What remains is a question, not a person; it is all that is stored.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NORMALISED_CHARS = 120

_EMAIL = re.compile(r"\S+@\S+")
# Four digits or more, spaces, dots, dashes and slashes between them allowed: card numbers and
# their last 4, phone numbers, customer and bill numbers (C-1001), PINs, IBAN fragments, dates.
# Short numbers stay (« 5 go », « 4g »).
_DIGIT_RUN = re.compile(r"\d(?:[\s.\-/]*\d){3,}")
_NOT_WORD = re.compile(r"[^\w]+")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lowercase without accents: NFKD, combining marks dropped (œ and æ spelled out)."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("œ", "oe").replace("æ", "ae"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalise(query: str) -> str:
    text = _EMAIL.sub(" ", query)
    text = _DIGIT_RUN.sub(" ", text)
    text = fold(text)
    text = _NOT_WORD.sub(" ", text).replace("_", " ")
    return _SPACES.sub(" ", text).strip()[:MAX_NORMALISED_CHARS].strip()
