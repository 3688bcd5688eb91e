"""The answer before the question: every alert kind, attention item and error code the app shows
names a situation, and GET /help/situations/{situation} answers each well-formed name (an empty
list when no article names it yet), so the app can always ask without knowing which have help."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support import contract

pytestmark = pytest.mark.usefixtures("demo_help")

# The situations the demo content (devtools/help_seed.py) must answer, in French and in English.
MAIN_SITUATIONS = (
    "payment_failed",
    "card_declined",
    "insufficient_funds",
    "usage_threshold_80",
    "usage_threshold_100",
    "bid_lost",
    "bid_declined",
    "offer_closed",
    "plan_change",
    "account_security",
)


def _error_codes(node: Any) -> set[str]:
    """Every `error.code` enum value of the contract: the errors the app can show."""
    found: set[str] = set()
    if isinstance(node, dict):
        code = node.get("code")
        if isinstance(code, dict) and isinstance(code.get("enum"), list):
            found.update(str(c) for c in code["enum"])
        for value in node.values():
            found |= _error_codes(value)
    elif isinstance(node, list):
        for value in node:
            found |= _error_codes(value)
    return found


def test_a_declined_card_error_names_the_declined_payment_article(help_api):
    """The app shows a 402 `card_declined` and asks for its code's help: the article that says
    what to do when the bank says no, first, in the language asked."""
    en = help_api.get("/help/situations/card_declined?lang=en")
    assert en.status == 200 and en.body["situation"] == "card_declined"
    assert [a["article_id"] for a in en.body["articles"]] == ["paiement-refuse"]
    assert en.body["articles"][0]["title"] == "My payment was declined"
    fr = help_api.get("/help/situations/card_declined?lang=fr").body["articles"]
    assert fr[0]["article_id"] == "paiement-refuse" and fr[0]["title"] != en.body["articles"][0]["title"]


def test_every_alert_kind_names_a_known_situation_the_route_answers(help_api):
    """Each catalog kind declares a situation an article may name (SITUATIONS) and the route takes.
    Mutation: `situation="bidding.lost"` on bidding.lost (its kind, not a situation) → fails."""
    from chalicelib.help.schemas import SITUATION, SITUATIONS
    from chalicelib.notifications.catalog import KINDS

    for kind in KINDS.values():
        assert kind.situation in SITUATIONS, kind.kind
        assert re.fullmatch(SITUATION, kind.situation), kind.kind
        response = help_api.get(f"/help/situations/{kind.situation}")
        assert response.status == 200 and response.body["situation"] == kind.situation, kind.kind


def test_every_error_code_of_the_contract_is_a_situation_the_route_answers(help_api):
    """For errors the situation IS the code: the app calls GET /help/situations/{error.code} with
    no change to the error body, so every documented code must pass the path's pattern and answer
    200. Mutation: SITUATION = r"[a-z]{3,48}" (no underscore) → `card_declined` and most codes
    answer 400 → fails."""
    codes = _error_codes(contract.spec())
    assert {"card_declined", "offer_closed", "bid_out_of_range", "preview_mismatch"} <= codes
    refused = {
        code: response.status
        for code in sorted(codes)
        if (response := help_api.get(f"/help/situations/{code}")).status != 200
    }
    assert refused == {}


def test_the_demo_content_answers_the_main_situations_in_both_languages(help_api):
    """Every main situation has at least one demo article, with its text in French and English.
    Mutation: drop "account_security" from the alerte-securite article's situations → fails."""
    for situation in MAIN_SITUATIONS:
        titles = {}
        for lang in ("fr", "en"):
            response = help_api.get(f"/help/situations/{situation}?lang={lang}")
            assert response.status == 200 and response.body["lang"] == lang
            assert response.body["articles"], (situation, lang)
            titles[lang] = response.body["articles"][0]["title"]
        assert titles["fr"] != titles["en"], situation


def test_a_push_names_its_alerts_situation_and_the_route_answers_it(help_api, api, enrol, stream, fcm):
    """The notification itself carries the help situation (not only the inbox item): tapping a
    declined-payment push opens GET /help/situations/payment_failed without reading the inbox
    first. The push validates against mobile_contract/push/ (which documents `data.situation`).
    Mutation: drop `situation` from payloads.message_for's data → fails."""
    from chalicelib.notifications import inbox
    from tests.support.push_contract import validate_push

    stream.drain()  # whatever earlier tests left on the stream
    enrolled = enrol()
    phone = "fidHELPSITU00001"
    registered = api.request(
        "PUT",
        f"/me/devices/{phone}",
        {"fcm_token": f"tok-{phone}", "platform": "android", "app_version": "2.0.1", "locale": "fr-FR"},
        token=enrolled.token,
    )
    assert registered.status == 200, registered.body
    stream.drain()
    fcm.reset()
    alert = inbox.notify(
        customer_id=enrolled.customer["customer_id"],
        kind="billing.payment_failed",
        data={
            "bill_id": "B-situ",
            "payment_id": "pay_situ",
            "amount_minor": 1800,
            "currency": "EUR",
            "reason_fr": "Provision insuffisante.",
            "reason_en": "Insufficient funds.",
        },
        dedup_key="situation-push",
    ).alert_id
    stream.drain()
    (push,) = [m for m in fcm.delivered_to(f"tok-{phone}") if m["data"]["alert_id"] == alert]
    validate_push(push)
    assert push["data"]["situation"] == "payment_failed"
    answer = help_api.get(f"/help/situations/{push['data']['situation']}?lang=fr")
    assert answer.status == 200 and answer.body["articles"], answer.body


def test_the_push_contract_holds_the_situation_to_the_routes_format():
    """`data.situation` is documented with the path's own format: a value the route would refuse is
    refused by the contract too, and an alert without one (older callers) still validates."""
    import jsonschema

    from chalicelib.notifications import payloads
    from tests.support.push_contract import validate_push

    alert = {
        "id": "alr_" + "2" * 24,
        "kind": "service.announcement",
        "category": "service",
        "title": "t",
        "body": "b",
        "deep_link": "selfcare://inbox",
        "data": {"announcement_id": "a1"},
    }
    validate_push(payloads.message_for(target="tok-x", alert=alert, badge=0))
    named = payloads.message_for(
        target="tok-x", alert={**alert, "situation": "service_announcement"}, badge=0
    )
    assert named["data"]["situation"] == "service_announcement"
    validate_push(named)
    with pytest.raises(jsonschema.ValidationError):
        validate_push(
            payloads.message_for(target="tok-x", alert={**alert, "situation": "Not A Name"}, badge=0)
        )
