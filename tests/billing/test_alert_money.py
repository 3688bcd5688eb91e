"""The payment alerts speak money as their reader does: « 18,00 € » to a French customer, "€18.00"
to an English one, never the neutral "18.00 EUR" of machine-readable fields."""

from __future__ import annotations

import uuid
from typing import Any

from tests.billing.conftest import confirm

NBSP = "\u00a0"


def _pay(api: Any, enrolled: Any, bill_id: str, method: str) -> Any:
    return api.post(
        f"/bills/{bill_id}/payments",
        confirm(api, enrolled, bill_id, 1800, method),
        token=enrolled.token,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


def _speaks(enrolled: Any, language: str) -> None:
    from chalicelib.store.models import Customer, customer_pk

    Customer(customer_pk(enrolled.customer["customer_id"]), "PROFILE").update(
        actions=[Customer.language.set(language)]
    )


def _alert(api: Any, enrolled: Any, kind: str) -> dict[str, Any]:
    items = api.get("/me/inbox", token=enrolled.token).body["items"]
    (alert,) = [i for i in items if i["kind"] == kind]
    return dict(alert)


def test_a_french_customers_declined_payment_alert_says_euros_the_french_way(api, billed):
    """Mutation: `alert_kind.with_money("en", ...)` in inbox.notify_in (the amount formatted without
    the customer's language) → "€18.00" in French text → fails."""
    enrolled, bill_id, method = billed(token="tok_insufficient_funds")
    _speaks(enrolled, "fr")
    assert _pay(api, enrolled, bill_id, method).status == 402
    alert = _alert(api, enrolled, "billing.payment_failed")
    assert alert["data"]["amount"] == f"18,00{NBSP}€"
    assert alert["body"].startswith(f"Votre paiement de 18,00{NBSP}€ n'a pas abouti.")
    assert "EUR" not in alert["body"]


def test_an_english_customer_reads_the_english_pattern(api, billed):
    """Mutation: a fixed `language="fr"` in settlement.settle's inbox.notify_in call → "18,00 €" in
    English text."""
    enrolled, bill_id, method = billed(token="tok_insufficient_funds")
    _speaks(enrolled, "en")
    assert _pay(api, enrolled, bill_id, method).status == 402
    alert = _alert(api, enrolled, "billing.payment_failed")
    assert alert["data"]["amount"] == "€18.00"
    assert alert["body"].startswith("Your payment of €18.00 did not go through.")


def test_the_payment_received_alert_too(api, billed):
    enrolled, bill_id, method = billed()
    _speaks(enrolled, "fr")
    assert _pay(api, enrolled, bill_id, method).status == 201
    alert = _alert(api, enrolled, "billing.payment_succeeded")
    assert alert["body"] == f"Merci : votre paiement de 18,00{NBSP}€ est bien reçu."


def test_a_profile_language_we_do_not_speak_reads_french(api, billed):
    """Mutation: `with_money` formatting with the raw profile language → the neutral "18.00 EUR"."""
    enrolled, bill_id, method = billed()
    _speaks(enrolled, "de")
    assert _pay(api, enrolled, bill_id, method).status == 201
    alert = _alert(api, enrolled, "billing.payment_succeeded")
    assert alert["data"]["amount"] == f"18,00{NBSP}€"
    assert alert["data"]["amount_minor"] == "1800" and alert["data"]["currency"] == "EUR"


def test_a_bill_issued_alert_speaks_the_customers_money(app_module, enrol):
    """The bill import's alert: minor units and currency from the producer, the text in the
    customer's language. Mutation: bills.py sending a formatted `amount` instead → "18.00 EUR"
    (with_money finds no minor units)."""
    from chalicelib.notifications import inbox
    from tests.billing.conftest import bill_document

    enrolled = enrol()
    _speaks(enrolled, "en")
    app_module.import_bills({"bills": [bill_document(enrolled.customer["customer_number"])]}, None)
    items = inbox.list_inbox(customer_id=enrolled.customer["customer_id"], cursor=None, limit=None)["items"]
    (issued,) = [i for i in items if i["kind"] == "billing.bill_issued"]
    assert issued["data"]["amount"] == "€18.00", issued["data"]
    assert issued["body"].startswith("Your bill of €18.00 is ready")
