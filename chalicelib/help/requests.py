"""Who asks and what they ask, for the public help routes: headers, query strings and bodies checked
against allow-lists, refused with a message in the caller's language.

A bearer token is optional on these routes. When one is sent and verifies, the answer is for that
customer (their language, their bills and lines in the actions); when it does not verify (expired,
forged), read routes answer as to anyone signed out (`personalised: false` tells the app to
refresh), and the vote route refuses it (401): a vote must be counted for exactly one voter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.auth.tokens import principal_from_header
from chalicelib.common.jsonguard import JsonRefused, loads_bounded
from chalicelib.common.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH
from chalicelib.common.pan import contains_pan
from chalicelib.errors import Unauthenticated
from chalicelib.help import language
from chalicelib.help.errors import refusal
from chalicelib.help.schemas import DEVICE_ID

M = TypeVar("M", bound=BaseModel)

DEVICE_HEADER = "x-device-id"
# The parameter a refusal is about → the code (and message) the app gets.
_FIELD_CODES = {
    "q": "invalid_query",
    "lang": "invalid_lang",
    "limit": "invalid_limit",
    "cursor": "invalid_cursor",
    "from_search": "invalid_search_id",
    "helpful": "invalid_vote",
    "version": "invalid_vote",
}


@dataclass(frozen=True)
class Caller:
    customer_id: str | None  # from a verified access token only
    token_refused: bool  # an Authorization header was sent and did not verify
    accept_language: str | None
    device_id: str | None  # the X-Device-Id header, as sent (checked where a vote needs it)

    def language(self, asked: str | None = None, customer: str | None = None) -> str:
        return language.choose(asked=asked, customer=customer, accept_language=self.accept_language)


def caller_from(headers: Mapping[str, str]) -> Caller:
    authorization = headers.get("authorization")
    customer_id: str | None = None
    refused = False
    if authorization:
        try:
            customer_id = principal_from_header(authorization).customer_id
        except Unauthenticated:
            refused = True
    return Caller(
        customer_id=customer_id,
        token_refused=refused,
        accept_language=headers.get("accept-language"),
        device_id=headers.get(DEVICE_HEADER),
    )


def error_language(caller: Caller, params: Mapping[str, Any] | None) -> str:
    """The language of a refusal, decided before anything is read: `lang` if it is one of ours,
    else Accept-Language (a refusal never costs a profile read)."""
    asked = (params or {}).get("lang")
    return caller.language(asked if isinstance(asked, str) else None)


def _refused(error: ValidationError, lang: str) -> Exception:
    issues = error.errors(include_url=False, include_context=False)
    first = issues[0] if issues else None
    if first is None:
        return refusal("validation_error", lang)
    if first["type"] == "extra_forbidden":
        return refusal("unknown_parameter", lang)
    field = str(first["loc"][0]) if first["loc"] else ""
    return refusal(_FIELD_CODES.get(field, "validation_error"), lang)


def parse_query(model: type[M], params: Mapping[str, str] | None, caller: Caller) -> M:
    """The query string as `model`. Card numbers are refused before anything else sees them."""
    values = dict(params or {})
    lang = error_language(caller, values)
    if contains_pan(values):
        raise refusal("card_number_refused", lang)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise _refused(error, lang) from None


def parse_body(model: type[M], raw: bytes | None, caller: Caller, lang: str) -> M:
    """The JSON body as `model`, strict (a string where a boolean is due is refused)."""
    try:
        data = loads_bounded(raw or b"{}", max_bytes=MAX_BODY_BYTES, max_depth=MAX_JSON_DEPTH)
    except JsonRefused as refused:
        raise refusal("body_too_large" if refused.reason == "too_large" else "invalid_json", lang) from None
    if not isinstance(data, dict):
        raise refusal("invalid_json", lang)
    if contains_pan(data):
        raise refusal("card_number_refused", lang)
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as error:
        raise _refused(error, lang) from None


def path_value(value: str, pattern: str, lang: str, *, code: str = "invalid_path_id") -> str:
    if not re.fullmatch(pattern, value):
        raise refusal(code, lang)
    return value


def voter(caller: Caller, lang: str) -> str:
    """Who votes: the customer when signed in, else the device (X-Device-Id, required then)."""
    if caller.token_refused:
        raise Unauthenticated(
            "Votre session a expiré : reconnectez-vous."
            if lang == "fr"
            else "Your session has expired: sign in again.",
            code="invalid_token",
        )
    if caller.customer_id is not None:
        return f"customer:{caller.customer_id}"
    if not caller.device_id:
        raise refusal("device_id_required", lang)
    if not re.fullmatch(DEVICE_ID, caller.device_id) or contains_pan(caller.device_id):
        raise refusal("invalid_device_id", lang)
    return f"device:{caller.device_id}"
