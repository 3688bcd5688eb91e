"""The language of the answer: the first of fr/en that the request's `Accept-Language` prefers
(the app sends the customer's), English without one. Set once per request by the HTTP middleware
and read where error bodies are built, so no view passes it around."""

from __future__ import annotations

from contextvars import ContextVar, Token

from chalicelib.common.languages import LANGUAGES, from_accept_language

DEFAULT = "en"

_current: ContextVar[str] = ContextVar("answer_language", default=DEFAULT)


def language_of(accept_language: str | None, default: str = DEFAULT) -> str:
    """The first of fr/en the header prefers (`fr-FR,fr;q=0.9,en;q=0.8` → fr), else `default`."""
    return from_accept_language(accept_language) or default


def current() -> str:
    return _current.get()


def use(language: str) -> Token[str]:
    """Answer this request in `language`; returns the token `reset` takes."""
    return _current.set(language if language in LANGUAGES else DEFAULT)


def reset(token: Token[str]) -> None:
    _current.reset(token)
