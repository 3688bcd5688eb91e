"""Payment methods: provider tokens only; anything like a card number is refused and never logged."""
from __future__ import annotations


def test_add_list_default_and_remove(api, enrol):
    enrolled = enrol()
    first = api.post("/me/payment-methods", {"provider_token": "tok_visa", "label": "Perso"}, token=enrolled.token)
    assert first.status == 201 and first.body["brand"] == "visa" and first.body["last4"] == "4242" and first.body["default"] is True
    second = api.post("/me/payment-methods", {"provider_token": "tok_insufficient_funds"}, token=enrolled.token).body
    assert second["default"] is False and second["brand"] == "mastercard"
    listed = api.post(f"/me/payment-methods/{second['payment_method_id']}/default", token=enrolled.token).body
    assert [m["default"] for m in listed["payment_methods"]] == [False, True]
    assert api.delete(f"/me/payment-methods/{first.body['payment_method_id']}", token=enrolled.token).status == 204
    assert len(api.get("/me/payment-methods", token=enrolled.token).body["payment_methods"]) == 1


def test_card_numbers_are_refused_in_any_field_and_never_logged(api, enrol, capsys):
    enrolled = enrol()
    for body in ({"provider_token": "4242 4242 4242 4242"}, {"provider_token": "tok_visa", "label": "4111-1111-1111-1111"},
                 {"provider_token": "tok_visa", "label": "my card 5555555555554444"}):
        response = api.post("/me/payment-methods", body, token=enrolled.token)
        assert response.status == 400 and response.error_code == "card_number_refused", body
    printed = capsys.readouterr().out
    assert "4242 4242 4242 4242" not in printed and "5555555555554444" not in printed and "4111-1111-1111-1111" not in printed
    # Long digit runs that are not card numbers (Luhn-invalid) are fine.
    assert api.post("/me/payment-methods", {"provider_token": "tok_visa", "label": "1234567890123"}, token=enrolled.token).status in (201, 400)


def test_unknown_provider_tokens_and_other_customers_methods(api, enrol):
    mine, theirs = enrol(), enrol()
    assert api.post("/me/payment-methods", {"provider_token": "tok_nope"}, token=mine.token).status == 400
    method = api.post("/me/payment-methods", {"provider_token": "tok_visa"}, token=theirs.token).body["payment_method_id"]
    assert api.delete(f"/me/payment-methods/{method}", token=mine.token).status == 404
    assert api.post(f"/me/payment-methods/{method}/default", token=mine.token).status == 404


def test_autopay_needs_a_default_method_and_protects_it(api, enrol):
    enrolled = enrol()
    assert api.request("PUT", "/me/autopay", {"enabled": True}, token=enrolled.token).error_code == "no_default_method"
    method = api.post("/me/payment-methods", {"provider_token": "tok_visa"}, token=enrolled.token).body["payment_method_id"]
    assert api.request("PUT", "/me/autopay", {"enabled": True}, token=enrolled.token).body["autopay"] is True
    assert api.delete(f"/me/payment-methods/{method}", token=enrolled.token).error_code == "method_in_use"
