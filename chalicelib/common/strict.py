"""The base of every request body, query string and admin event: an allow-list."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from chalicelib.common.pan import redact_pans


class Strict(BaseModel):
    """Unknown fields are refused; strings are stripped."""

    # defer_build: a model is compiled when first used, not when imported, so a function pays only
    # for the models it validates (about 3-5 ms each at a cold start).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


# A location part is shown when it reads like a field name; anything else (an unknown key someone
# sent, which could be anything) is not repeated back.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# pydantic's own messages are templates (limits, patterns, expected values) that never hold the
# input; messages raised by validators (ours, email-validator's) may quote it.
_FROM_CODE = {"value_error", "assertion_error"}
_MAX_MESSAGE = 200


def _where(loc: tuple[Any, ...]) -> str:
    parts = []
    for part in loc:
        if isinstance(part, int) or (isinstance(part, str) and _FIELD_NAME.fullmatch(part)):
            parts.append(str(part))
        else:
            parts.append("(key)")
    return ".".join(parts) or "body"


def _without_input(message: str, value: Any) -> str:
    """`message` with the value that failed taken out, wherever a validator quoted it."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return message
    text = str(value)
    if len(text) < 3:  # too short to tell apart from the message's own words, and harmless
        return message
    for shown in (repr(value), f'"{text}"', text):
        message = message.replace(shown, "(the value sent)")
    return message


# pydantic's issue types, in French: the English of each is pydantic's own message (or ours).
_FRENCH: dict[str, str] = {
    "missing": "champ obligatoire",
    "extra_forbidden": "champ inconnu, refusé",
    "json_integer": "doit être un nombre entier JSON (ex. 2300 pour 23,00 en unités mineures), pas une chaîne, un booléen ou un décimal",
    "int_type": "doit être un nombre entier",
    "int_parsing": "doit être un nombre entier",
    "int_from_float": "doit être un nombre entier",
    "float_type": "doit être un nombre",
    "float_parsing": "doit être un nombre",
    "string_type": "doit être une chaîne de caractères",
    "bool_type": "doit être vrai ou faux",
    "dict_type": "doit être un objet JSON",
    "model_type": "doit être un objet JSON",
    "model_attributes_type": "doit être un objet JSON",
    "list_type": "doit être une liste",
    "string_pattern_mismatch": "format non valable",
    "string_too_short": "trop court ({min_length} caractère(s) au moins)",
    "string_too_long": "trop long ({max_length} caractères au plus)",
    "too_short": "trop peu d'éléments ({min_length} au moins)",
    "too_long": "trop d'éléments ({max_length} au plus)",
    "greater_than_equal": "doit valoir au moins {ge}",
    "greater_than": "doit valoir plus de {gt}",
    "less_than_equal": "doit valoir au plus {le}",
    "less_than": "doit valoir moins de {lt}",
    "literal_error": "valeur non acceptée (attendu : {expected})",
    "enum": "valeur non acceptée (attendu : {expected})",
    "datetime_type": "doit être une date et heure ISO 8601",
    "datetime_parsing": "doit être une date et heure ISO 8601",
    "datetime_from_date_parsing": "doit être une date et heure ISO 8601",
    "date_type": "doit être une date ISO 8601 (AAAA-MM-JJ)",
    "date_parsing": "doit être une date ISO 8601 (AAAA-MM-JJ)",
    "date_from_datetime_parsing": "doit être une date ISO 8601 (AAAA-MM-JJ)",
    "url_parsing": "doit être une adresse valable",
    "url_scheme": "doit être une adresse valable",
}
_FRENCH_DEFAULT = "valeur non valable"


def _in_french(issue: Any) -> str:
    template = _FRENCH.get(str(issue["type"]))
    if template is None:
        return _FRENCH_DEFAULT
    try:
        return template.format(**(issue.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        return template.split(" (")[0]


def describe_validation_error(error: ValidationError, *, most: int = 5, language: str = "en") -> str:
    """`field.path: what is wrong; ...` — for a person fixing the request, event or record, in
    English or (`language="fr"`) French.

    Never repeats what was sent: unknown keys are named only when they read like field names, the
    failing value is taken out of validators' messages, and card numbers are redacted as a last net."""
    parts = []
    for issue in error.errors(include_url=False)[:most]:
        where = _where(tuple(issue["loc"]))
        if language == "fr":
            what = _in_french(issue)
        elif issue["type"] == "extra_forbidden":
            what = "unknown field, not accepted"
        elif issue["type"] in _FROM_CODE:
            what = _without_input(str(issue["msg"]), issue.get("input"))
        else:
            what = str(issue["msg"])
        parts.append(f"{where}: {what[:_MAX_MESSAGE]}")
    return redact_pans("; ".join(parts))


def _json_integer(value: Any) -> Any:
    """Money and counts are JSON integers, nothing else. Pydantic's lax mode (admin events are
    validated lax, for their dates) would take "2300", true (as 1) and 23.0 and turn them into
    ints: a caller that sends a string or a float has a bug (a decimal amount, a currency formatted
    as text) that must not be guessed at."""
    if type(value) is not int:  # bool is a subclass of int: `type`, not isinstance
        raise PydanticCustomError(
            "json_integer",
            "must be a JSON integer (e.g. 2300 for 23.00 in minor units), not a string, boolean or decimal",
        )
    return value


# An integer as JSON sends it, in any model (bodies are validated strict anyway; events lax).
JsonInt = Annotated[int, BeforeValidator(_json_integer)]
