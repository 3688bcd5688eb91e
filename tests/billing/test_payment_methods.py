"""Payment methods: provider tokens only; anything like a card number is refused and never logged."""

from __future__ import annotations

import json

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


CARD_NUMBERS = ("4242 4242 4242 4242", "4111-1111-1111-1111", "5555555555554444")


def test_card_numbers_are_refused_in_any_field_and_never_logged(api, enrol, written):
    """Mutation: log the parsed body in `parse_body` (a `log_event`, a stdlib logger or a print)
    → the number is in what was written."""
    enrolled = enrol()
    written.take()  # what the enrolment wrote: not this test's concern
    for body in (
        {"provider_token": "4242 4242 4242 4242"},
        {"provider_token": "tok_visa", "label": "4111-1111-1111-1111"},
        {"provider_token": "tok_visa", "label": "my card 5555555555554444"},
    ):
        response = api.post("/me/payment-methods", body, token=enrolled.token)
        assert response.status == 400 and response.error_code == "card_number_refused", body
        assert not any(number in json.dumps(response.body) for number in CARD_NUMBERS)  # not echoed
    log, text = written.take()
    # The capture sees the service's own log: one access line per refused request.
    assert log.count('"route":"/me/payment-methods","status":400') == 3, log
    assert [number for number in CARD_NUMBERS if number in text] == []
    assert "4242424242424242" not in text and "4111111111111111" not in text


def test_a_long_digit_run_that_is_not_a_card_number_is_a_fine_label(api, enrol):
    """13 digits, Luhn-invalid: an ordinary label. Mutation: refuse every 13-19 digit run (skip
    the Luhn check) → 400 card_number_refused."""
    from chalicelib.common.pan import luhn_valid

    assert not luhn_valid("1234567890123")
    enrolled = enrol()
    added = add_card(api, enrolled, "tok_visa", label="1234567890123")
    assert added.status == 201, added.body
    assert added.body["label"] == "1234567890123"


def test_unknown_provider_tokens_and_other_customers_methods(api, enrol):
    mine, theirs = enrol(), enrol()
    refused = add_card(api, mine, "tok_nope")
    assert (refused.status, refused.error_code) == (400, "invalid_provider_token")
    method = add_card(api, theirs).body["payment_method_id"]
    # The 404 of an unknown method, before any confirmation is asked for.
    removed = api.delete(f"/me/payment-methods/{method}", token=mine.token)
    assert (removed.status, removed.error_code) == (404, "payment_method_not_found")
    made_default = api.post(f"/me/payment-methods/{method}/default", token=mine.token)
    assert (made_default.status, made_default.error_code) == (404, "payment_method_not_found")
    assert len(api.get("/me/payment-methods", token=theirs.token).body["payment_methods"]) == 1


def test_autopay_needs_a_default_method_and_protects_it(api, enrol):
    enrolled = enrol()
    assert set_autopay(api, enrolled, True).error_code == "no_default_method"
    method = add_card(api, enrolled).body["payment_method_id"]
    assert set_autopay(api, enrolled, True).body["autopay"] is True
    assert remove_card(api, enrolled, method).error_code == "method_in_use"
