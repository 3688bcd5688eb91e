"""Payment methods: provider tokens only; anything like a card number is refused and never logged."""

from __future__ import annotations

from tests.support.stepup import add_card, make_default, remove_card, set_autopay


def test_add_list_default_and_remove(api, enrol):
    enrolled = enrol()
    first = add_card(api, enrolled, "tok_visa", label="Perso")
    assert (
        first.status == 201
        and first.body["brand"] == "visa"
        and first.body["last4"] == "4242"
        and first.body["default"] is True
    )
    second = add_card(api, enrolled, "tok_insufficient_funds").body
    assert second["default"] is False and second["brand"] == "mastercard"
    listed = make_default(api, enrolled, second["payment_method_id"]).body
    assert [m["default"] for m in listed["payment_methods"]] == [False, True]
    assert remove_card(api, enrolled, first.body["payment_method_id"]).status == 204
    assert len(api.get("/me/payment-methods", token=enrolled.token).body["payment_methods"]) == 1


def test_card_numbers_are_refused_in_any_field_and_never_logged(api, enrol, capsys):
    enrolled = enrol()
    for body in (
        {"provider_token": "4242 4242 4242 4242"},
        {"provider_token": "tok_visa", "label": "4111-1111-1111-1111"},
        {"provider_token": "tok_visa", "label": "my card 5555555555554444"},
    ):
        response = api.post("/me/payment-methods", body, token=enrolled.token)
        assert response.status == 400 and response.error_code == "card_number_refused", body
    printed = capsys.readouterr().out
    assert (
        "4242 4242 4242 4242" not in printed
        and "5555555555554444" not in printed
        and "4111-1111-1111-1111" not in printed
    )
    # Long digit runs that are not card numbers (Luhn-invalid) are fine.
    assert api.post(
        "/me/payment-methods", {"provider_token": "tok_visa", "label": "1234567890123"}, token=enrolled.token
    ).status in (201, 400)


def test_unknown_provider_tokens_and_other_customers_methods(api, enrol):
    mine, theirs = enrol(), enrol()
    assert add_card(api, mine, "tok_nope").status == 400
    method = add_card(api, theirs).body["payment_method_id"]
    assert api.delete(f"/me/payment-methods/{method}", token=mine.token).status == 404
    assert api.post(f"/me/payment-methods/{method}/default", token=mine.token).status == 404


def test_autopay_needs_a_default_method_and_protects_it(api, enrol):
    enrolled = enrol()
    assert set_autopay(api, enrolled, True).error_code == "no_default_method"
    method = add_card(api, enrolled).body["payment_method_id"]
    assert set_autopay(api, enrolled, True).body["autopay"] is True
    assert remove_card(api, enrolled, method).error_code == "method_in_use"
