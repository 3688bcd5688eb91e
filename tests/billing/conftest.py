from __future__ import annotations

import itertools
import os
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

import pytest

_bills = itertools.count(1)


def bill_document(customer_number: str, *, total_items: tuple[int, int] = (1500, 300), due: date | None = None, bill_id: str | None = None,
                  issued: datetime | None = None) -> dict[str, Any]:
    amount, tax = total_items
    return {
        "bill_id": bill_id or f"B{os.getpid()}-{next(_bills)}",
        "customer_number": customer_number,
        "line_ids": [],
        "period": {"start": "2026-10-05", "end": "2026-11-04"},
        "issued_at": (issued or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "due_date": (due or date.today() + timedelta(days=10)).isoformat(),
        "currency": "EUR",
        "items": [{"label": "Forfait Essentiel 20 Go", "amount": amount, "tax": tax}],
        "total": amount + tax,
    }


@pytest.fixture
def billed(app_module: Any, enrol: Any, api: Any) -> Callable[..., Any]:
    """A signed-in customer with one imported bill (18.00 EUR) and a card (`tok_visa` unless told)."""

    def make(token: str = "tok_visa", **bill: Any) -> tuple[Any, str, str]:
        enrolled = enrol()
        document = bill_document(enrolled.customer["customer_number"], **bill)
        result = app_module.import_bills({"bills": [document]}, None)
        assert result["imported"] == [document["bill_id"]], result
        method = api.post("/me/payment-methods", {"provider_token": token}, token=enrolled.token)
        assert method.status == 201, method.body
        return enrolled, document["bill_id"], method.body["payment_method_id"]

    return make


def confirm(api: Any, enrolled: Any, bill_id: str, amount: int, method_id: str) -> dict[str, Any]:
    """The app's step-up: challenge, Face ID (the soft authenticator), the body to pay with."""
    challenge = api.post(f"/bills/{bill_id}/payments/challenge", {"amount": amount, "payment_method_id": method_id}, token=enrolled.token)
    assert challenge.status == 200, challenge.body
    credential = enrolled.authenticator.get(challenge.body["options"])
    return {"amount": amount, "payment_method_id": method_id, "challenge_id": challenge.body["challenge_id"], "credential": credential}
