"""Answers that act: signed in, the actions are filled with the customer's own bills and lines, in
their language and money format; signed out (or with a token that does not verify), generic."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.billing.conftest import bill_document

pytestmark = pytest.mark.usefixtures("demo_help")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MONTHS_FR = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]


@pytest.fixture
def customer(app_module: Any, enrol: Any) -> Any:
    """A signed-in customer with an open bill of 18.00 EUR issued today and a line +33612345678."""
    with open(os.path.join(ROOT, "infra", "admin-events", "admin_upsert_catalog.json")) as f:
        assert "error" not in app_module.admin_upsert_catalog(json.load(f), None)
    enrolled = enrol()
    number = enrolled.customer["customer_number"]
    document = bill_document(number)
    assert app_module.import_bills({"bills": [document]}, None)["imported"] == [document["bill_id"]]
    line_id = f"ln_h{os.getpid()}{document['bill_id'][-4:].replace('-', 'x').lower()}"
    line = app_module.admin_set_line(
        {
            "customer_number": number,
            "line_id": line_id,
            "msisdn": "+33612345678",
            "plan_id": "essentiel-20",
            "anchor_day": 1,
        },
        None,
    )
    assert "error" not in line, line
    enrolled.bill_id = document["bill_id"]
    enrolled.line_id = line_id
    return enrolled


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every DynamoDB call pynamodb makes, by operation."""
    from pynamodb.connection.base import Connection

    seen: Counter[str] = Counter()
    original = Connection.dispatch

    def dispatch(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        seen[operation_name] += 1
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    yield seen


def test_signed_in_the_pay_action_names_the_customers_bill_and_amount_in_french(help_api, customer):
    response = help_api.get("/help/articles/payer-facture-impayee", token=customer.token)
    assert response.status == 200 and response.body["personalised"] is True
    pay = [a for a in response.body["actions"] if a["type"] == "pay_bill"]
    month = MONTHS_FR[datetime.now(UTC).month - 1]
    of_month = f"d'{month}" if month[0] in "aeiou" else f"de {month}"
    assert pay == [
        {
            "type": "pay_bill",
            "label": f"Payer la facture {of_month} (18,00\u00a0€)",
            "deep_link": f"selfcare://bills/{customer.bill_id}",
            "params": {"bill_id": customer.bill_id, "amount": {"amount": 1800, "currency": "EUR"}},
        }
    ]


def test_in_english_the_amount_is_formatted_the_english_way(help_api, customer):
    response = help_api.get("/help/articles/payer-facture-impayee?lang=en", token=customer.token)
    (pay,) = [a for a in response.body["actions"] if a["type"] == "pay_bill"]
    month = datetime.now(UTC).strftime("%B")
    assert pay["label"] == f"Pay the {month} bill (€18.00)"


def test_signed_in_data_action_names_the_line_and_option(help_api, customer):
    response = help_api.get("/help/search?q=plus%20de%20donn%C3%A9es&lang=fr", token=customer.token)
    hit = next(h for h in response.body["results"] if h["article_id"] == "plus-de-donnees")
    add = next(a for a in hit["actions"] if a["type"] == "add_data")
    assert add == {
        "type": "add_data",
        "label": "Ajouter 5 Go à la ligne 06 12 34 56 78",
        "deep_link": f"selfcare://lines/{customer.line_id}/options?add=data-plus-5",
        "params": {"line_id": customer.line_id, "option_id": "data-plus-5"},
    }
    change = next(a for a in hit["actions"] if a["type"] == "change_plan")
    assert change["label"] == "Changer le forfait de la ligne 06 12 34 56 78"
    assert change["deep_link"] == f"selfcare://lines/{customer.line_id}/plan-change"


def test_signed_out_the_actions_are_generic(help_api):
    response = help_api.get("/help/articles/plus-de-donnees")
    assert response.body["personalised"] is False
    assert [(a["type"], a["label"], a["deep_link"]) for a in response.body["actions"]] == [
        ("add_data", "Ajouter 5 Go", "selfcare://lines"),
        ("change_plan", "Changer de forfait", "selfcare://lines"),
    ]
    assert response.body["actions"][0]["params"] == {"option_id": "data-plus-5"}


def test_a_token_that_does_not_verify_is_answered_as_signed_out(help_api, customer):
    response = help_api.get("/help/articles/payer-facture-impayee", token=customer.token[:-4] + "AAAA")
    assert response.status == 200 and response.body["personalised"] is False
    assert {a["label"] for a in response.body["actions"]} >= {"Payer une facture"}


def test_the_customers_own_language_is_used_when_the_app_names_none(help_api, app_module, customer):
    """Profile language en (PATCH /me) beats the phone's Accept-Language fr."""
    from chalicelib.store.models import Customer, customer_pk

    profile = Customer.get(customer_pk(customer.customer["customer_id"]), "PROFILE")
    profile.update(actions=[Customer.language.set("en")])
    response = help_api.get(
        "/help/articles/payer-facture-impayee", token=customer.token, headers={"Accept-Language": "fr-FR"}
    )
    assert response.body["lang"] == "en" and response.body["title"] == "Pay an unpaid bill"


def test_a_paid_bill_is_not_offered_for_payment(help_api, app_module, enrol):
    enrolled = enrol()
    document = {**bill_document(enrolled.customer["customer_number"]), "status": "paid"}
    app_module.import_bills({"bills": [document]}, None)
    response = help_api.get("/help/articles/payer-facture-impayee", token=enrolled.token)
    labels = [(a["type"], a["label"]) for a in response.body["actions"]]
    assert ("view_bills", "Voir mes factures") in labels
    assert not [t for t, _ in labels if t == "pay_bill"]


def test_personalisation_costs_at_most_two_dynamodb_calls(help_api, customer, dynamodb_calls):
    """Signed in: GET /me's Query (profile, lines) and the bills' Query, nothing per action or hit.
    Mutation: read the bills once per action (Personal.open_bills without its memo) → 3 Queries."""
    response = help_api.get("/help/search?q=facture%20paiement%20carte&lang=fr", token=customer.token)
    assert response.status == 200 and response.body["personalised"]
    assert sum(1 for h in response.body["results"] for a in h["actions"] if a["type"] == "pay_bill") >= 2
    personal = dynamodb_calls["Query"]
    assert personal == 2, dynamodb_calls
    # Apart from that: the search's counter (UpdateItem) and the index pointer (GetItem, re-read on
    # every request here: the tests' refresh interval is 0).
    assert dynamodb_calls - Counter(Query=2) == Counter(UpdateItem=1, GetItem=1), dynamodb_calls
    dynamodb_calls.clear()
    signed_out = help_api.get("/help/search?q=facture%20paiement%20carte&lang=fr")
    assert signed_out.status == 200 and dynamodb_calls["Query"] == 0
