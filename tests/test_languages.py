"""Error messages in the customer's language: every route answers its errors in French when the
app asks for French (`Accept-Language`), in English otherwise; the codes stay the same."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.language import language_of
from chalicelib.api.messages import FRENCH

ROOT = Path(__file__).resolve().parent.parent
FR = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.8"}


def _contract_codes() -> set[str]:
    text = (ROOT / "mobile_contract" / "openapi.yaml").read_text()
    codes: set[str] = set()
    for listed in re.findall(r"code: \{type: string, enum: \[([^\]]*)\]", text):
        codes.update(c.strip() for c in listed.split(",") if c.strip())
    return codes


def test_every_error_code_of_the_contract_has_a_french_message() -> None:
    """A code added to the contract without its French sentence fails here."""
    codes = _contract_codes()
    assert len(codes) > 80  # the pattern still finds the contract's codes
    assert sorted(codes - set(FRENCH)) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("en-GB,en;q=0.9,fr;q=0.8", "en"),
        ("de-DE,fr;q=0.5", "fr"),
        ("fr;q=0,en;q=0.1", "en"),
        ("de-DE", "en"),
        (None, "en"),
        ("x" * 5000, "en"),
    ],
)
def test_the_language_is_the_first_of_ours_the_header_prefers(header: str | None, expected: str) -> None:
    assert language_of(header) == expected


def test_a_validation_error_names_the_field_in_french(api: Any, enrol: Any) -> None:
    """A string where a number is due, and an unknown field: the French message names both fields
    and says what is wrong in French; the English one says it in English. Mutation: dropping the
    `translations` of ValidationFailed in api/validation.py → the generic French sentence, no field."""
    who = enrol()
    body = {"amount": "700", "payment_method_id": "pm_0123456789abcdef", "surprise": 1}
    french = api.post("/bills/B1-0001/payments/challenge", body, token=who.token, headers=FR)
    english = api.post("/bills/B1-0001/payments/challenge", body, token=who.token)
    assert french.status == english.status == 400
    assert french.error_code == english.error_code == "validation_error"
    message = french.body["error"]["message"]
    assert "amount: doit être un nombre entier JSON" in message, message
    assert "surprise: champ inconnu, refusé" in message, message
    assert "JSON integer" in english.body["error"]["message"]
    assert "unknown field" in english.body["error"]["message"]


def test_a_domain_error_is_answered_in_french(api: Any, enrol: Any) -> None:
    """A bill that is not the customer's: the same 404 and code, the sentence in each language."""
    who = enrol()
    french = api.get("/bills/B1-0001", token=who.token, headers=FR)
    english = api.get("/bills/B1-0001", token=who.token, headers={"Accept-Language": "en"})
    assert french.status == english.status == 404
    assert french.error_code == english.error_code == "bill_not_found"
    assert french.body["error"]["message"] == FRENCH["bill_not_found"]
    assert english.body["error"]["message"] != FRENCH["bill_not_found"]


def test_the_platform_s_own_errors_are_in_french_too(api: Any) -> None:
    """A body that is not JSON (read before any route logic) and an unsupported Content-Type,
    which Chalice answers itself: French sentences, the contract's codes."""
    not_json = api.request("POST", "/auth/passkeys/login/options", raw=b"{nope", headers=FR)
    assert not_json.status == 400 and not_json.error_code == "invalid_json"
    assert not_json.body["error"]["message"] == FRENCH["invalid_json"]
    wrong_type = api.request(
        "POST", "/auth/passkeys/login/options", raw=b"{}", headers={**FR, "Content-Type": "text/plain"}
    )
    assert wrong_type.status == 415 and wrong_type.error_code == "unsupported_media_type"
    assert wrong_type.body["error"]["message"] == FRENCH["unsupported_media_type"]
