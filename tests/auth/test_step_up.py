"""Money, factor and contact changes need a passkey confirmation bound to that exact change, on a
live session; every device is told of the change (security.account_changed)."""

from __future__ import annotations

from typing import Any

from devtools.soft_authenticator import SoftAuthenticator
from tests.support.stepup import add_card, confirmation, make_default, remove_card, set_autopay


def _changes(customer_id: str) -> list[str]:
    from chalicelib.store.models import Item, SecurityEvent, customer_pk

    return [
        e.detail.as_dict().get("change") if hasattr(e.detail, "as_dict") else e.detail.get("change")
        for e in Item.query(customer_pk(customer_id), Item.SK.startswith("SECEVENT#"))
        if isinstance(e, SecurityEvent) and e.kind == "account_changed"
    ]


def test_a_stolen_token_alone_changes_no_card_and_no_autopay(api, enrol):
    enrolled = enrol()
    bare = api.post("/me/payment-methods", {"provider_token": "tok_visa"}, token=enrolled.token)
    assert bare.status == 400  # the confirmation is a required field
    forged = {"challenge_id": "chl_" + "0" * 32, "credential": {"id": "x"}}
    assert (
        api.post(
            "/me/payment-methods",
            {"provider_token": "tok_visa", "confirmation": forged},
            token=enrolled.token,
        ).status
        == 404
    )
    # A confirmation signed by an authenticator that is not the customer's.
    thief = confirmation(
        api, enrolled, "payment_method.add", provider_token="tok_visa", authenticator=SoftAuthenticator()
    )
    assert (
        api.post(
            "/me/payment-methods", {"provider_token": "tok_visa", "confirmation": thief}, token=enrolled.token
        ).status
        == 401
    )
    assert api.get("/me/payment-methods", token=enrolled.token).body["payment_methods"] == []


def test_a_confirmation_covers_exactly_its_change(api, enrol):
    """Confirmed for tok_visa, used for another token; confirmed for one card, used for another;
    confirmed for autopay off, used for on: all 401 step_up_mismatch, nothing changes."""
    enrolled = enrol()
    for_visa = confirmation(api, enrolled, "payment_method.add", provider_token="tok_visa")
    other = api.post(
        "/me/payment-methods",
        {"provider_token": "tok_insufficient_funds", "confirmation": for_visa},
        token=enrolled.token,
    )
    assert other.status == 401 and other.error_code == "step_up_mismatch"
    first = add_card(api, enrolled).body["payment_method_id"]
    second = add_card(api, enrolled, "tok_insufficient_funds").body["payment_method_id"]
    for_first = confirmation(api, enrolled, "payment_method.default", payment_method_id=first)
    moved = api.post(
        f"/me/payment-methods/{second}/default", {"confirmation": for_first}, token=enrolled.token
    )
    assert moved.status == 401 and moved.error_code == "step_up_mismatch"
    off = confirmation(api, enrolled, "autopay.set", enabled=False)
    assert (
        api.put("/me/autopay", {"enabled": True, "confirmation": off}, token=enrolled.token).error_code
        == "step_up_mismatch"
    )
    methods = api.get("/me/payment-methods", token=enrolled.token).body
    assert methods["autopay"] is False and [
        m["default"] for m in methods["payment_methods"] if m["payment_method_id"] == first
    ] == [True]


def test_each_confirmed_change_is_told_to_every_device(api, enrol):
    enrolled = enrol()
    method = add_card(api, enrolled).body["payment_method_id"]
    backup = add_card(api, enrolled, "tok_insufficient_funds").body["payment_method_id"]
    assert make_default(api, enrolled, backup).status == 200
    assert set_autopay(api, enrolled, True).status == 200
    assert set_autopay(api, enrolled, False).status == 200
    assert remove_card(api, enrolled, method).status == 204
    assert sorted(_changes(enrolled.customer["customer_id"])) == sorted(
        [
            "payment_method_added",
            "payment_method_added",
            "payment_method_default",
            "autopay_on",
            "autopay_off",
            "payment_method_removed",
        ]
    )


def test_the_statement_says_what_will_change_in_the_customers_language(api, enrol):
    enrolled = enrol()
    method = add_card(api, enrolled).body["payment_method_id"]
    started = api.post(
        "/me/step-up", {"action": "payment_method.remove", "payment_method_id": method}, token=enrolled.token
    )
    assert started.body["transaction"] == {
        "action": "payment_method.remove",
        "statement": "Confirmez pour supprimer la carte visa \u2022\u2022\u2022\u2022 4242.",
    }
    assert (
        api.patch("/me", {"language": "en"}, token=enrolled.token).status == 200
    )  # no confirmation needed for a language
    started = api.post(
        "/me/step-up",
        {"action": "profile.update", "changes": {"email": "new@example.org"}},
        token=enrolled.token,
    )
    assert (
        started.body["transaction"]["statement"]
        == "Confirm to change your contact details: email \u2192 n\u2022\u2022\u2022@example.org."
    )


def test_contact_changes_need_a_confirmation_and_tell_every_device(api, enrol):
    enrolled = enrol()
    bare = api.patch("/me", {"email": "thief@example.org"}, token=enrolled.token)
    assert bare.status == 401 and bare.error_code == "step_up_required"
    confirmed = confirmation(api, enrolled, "profile.update", changes={"email": "new@example.org"})
    swapped = api.patch(
        "/me", {"email": "thief@example.org", "confirmation": confirmed}, token=enrolled.token
    )
    assert swapped.status == 401 and swapped.error_code == "step_up_mismatch"
    confirmed = confirmation(
        api, enrolled, "profile.update", changes={"email": "new@example.org", "phone": "+33700000000"}
    )
    changed = api.patch(
        "/me",
        {
            "email": "new@example.org",
            "phone": "+33700000000",
            "time_zone": "Europe/Madrid",
            "confirmation": confirmed,
        },
        token=enrolled.token,
    )
    assert changed.status == 200, changed.body
    assert changed.body["email"] == "new@example.org" and changed.body["phone"] == "+33700000000"
    assert sorted(_changes(enrolled.customer["customer_id"])) == ["email", "phone"]


def test_a_step_up_cannot_name_another_customers_objects(api, enrol):
    mine, theirs = enrol(), enrol()
    their_card = add_card(api, theirs).body["payment_method_id"]
    their_passkey = api.get("/me/passkeys", token=theirs.token).body["passkeys"][0]["id"]
    for body in (
        {"action": "payment_method.remove", "payment_method_id": their_card},
        {"action": "payment_method.default", "payment_method_id": their_card},
        {"action": "passkey.remove", "passkey_id": their_passkey},
    ):
        assert api.post("/me/step-up", body, token=mine.token).status == 404, body


def test_step_up_bodies_are_validated(api, enrol):
    enrolled = enrol()
    for body in (
        {"action": "account.delete"},
        {"action": "autopay.set"},
        {"action": "autopay.set", "enabled": "yes"},
        {"action": "passkey.add", "extra": 1},
        {"action": "profile.update", "changes": {"name": "x"}},
    ):
        answer: Any = api.post("/me/step-up", body, token=enrolled.token)
        assert answer.status == 400, body
