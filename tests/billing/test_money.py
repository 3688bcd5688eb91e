"""Money is integer minor units: strict JSON integers in, formatted as money for people (the payment
challenge's statement in the customer's language, every message that shows an amount)."""

from __future__ import annotations

import pytest

from chalicelib.billing.money import format_money
from chalicelib.store.models import Customer, customer_pk
from tests.billing.conftest import bill_document, confirm, pay

NBSP, THIN = "\u00a0", "\u202f"


@pytest.mark.parametrize(
    "amount, currency, language, text",
    [
        (4200, "EUR", "fr", f"42,00{NBSP}€"),
        (4200, "EUR", "en", "€42.00"),
        (4200, "EUR", None, "42.00 EUR"),
        (123456789, "EUR", "fr", f"1{THIN}234{THIN}567,89{NBSP}€"),
        (123456789, "USD", "en", "$1,234,567.89"),
        (5, "EUR", None, "0.05 EUR"),
        (-1250, "EUR", "en", "-€12.50"),
        (4200, "JPY", "en", "¥4,200"),
        (1234, "KWD", None, "1.234 KWD"),
        (4200, "CHF", "en", f"CHF{NBSP}42.00"),
        (10**17 + 1, "EUR", None, "1000000000000000.01 EUR"),  # exact: no float on the way
    ],
)
def test_minor_units_format_as_money(amount, currency, language, text):
    assert format_money(amount, currency, language=language) == text


@pytest.mark.parametrize("amount", ["700", 700.0, 7e2, True, None, [700]])
def test_amounts_must_be_json_integers(api, billed, amount):
    """Mutation: `amount: int` in lax mode → "700", 700.0 and true become 700 / 1 and pass."""
    enrolled, bill_id, method = billed()
    challenge = api.post(
        f"/bills/{bill_id}/payments/challenge",
        {"amount": amount, "payment_method_id": method},
        token=enrolled.token,
    )
    assert (
        challenge.status == 400
        and challenge.error_code == "validation_error"
        and "amount" in challenge.body["error"]["message"]
    )
    body = {**confirm(api, enrolled, bill_id, 700, method), "amount": amount}
    paid = pay(api, enrolled, bill_id, body)
    assert paid.status == 400 and paid.error_code == "validation_error"


def test_bill_documents_refuse_amounts_that_are_not_integers(app_module, new_customer):
    customer = new_customer()
    document = bill_document(customer["customer_number"])
    as_text = {**document, "total": str(document["total"])}
    as_float = {
        **document,
        "bill_id": document["bill_id"] + "f",
        "items": [{**document["items"][0], "tax": 300.0}],
    }
    result = app_module.import_bills({"bills": [as_text, as_float]}, None)
    assert result["imported"] == [] and {r["bill_id"] for r in result["rejected"]} == {
        as_text["bill_id"],
        as_float["bill_id"],
    }
    assert all("JSON integer" in r["reason"] for r in result["rejected"])


@pytest.mark.parametrize(
    "language, statement",
    [
        ("fr", f"18,00{NBSP}€ seront prélevés sur visa •••• 4242."),
        ("en", "€18.00 will be charged to visa •••• 4242."),
    ],
)
def test_the_challenge_states_what_will_be_charged_in_the_customers_language(
    api, billed, language, statement
):
    """Mutation: a fixed language, or the raw minor units → the statement differs."""
    enrolled, bill_id, method = billed()
    profile = Customer.get(customer_pk(enrolled.customer["customer_id"]), "PROFILE")
    profile.update(actions=[Customer.language.set(language)])
    challenge = api.post(
        f"/bills/{bill_id}/payments/challenge",
        {"amount": 1800, "payment_method_id": method},
        token=enrolled.token,
    )
    assert challenge.status == 200
    assert challenge.body["transaction"]["statement"] == statement
    assert challenge.body["transaction"]["amount"] == {"amount": 1800, "currency": "EUR"}


def test_messages_show_amounts_as_money(api, billed):
    enrolled, bill_id, method = billed()
    assert pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 500, method)).status == 201
    too_much = api.post(
        f"/bills/{bill_id}/payments/challenge",
        {"amount": 1301, "payment_method_id": method},
        token=enrolled.token,
    )
    assert too_much.status == 400 and "(13.00 EUR)" in too_much.body["error"]["message"]
