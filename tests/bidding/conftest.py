from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest

from devtools.time_travel import close_now  # noqa: F401 - the bidding tests' clock

_offers = itertools.count(1)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def offer_event(**overrides: Any) -> dict[str, Any]:
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    return {
        "offer_id": f"off_t{os.getpid()}-{next(_offers)}",
        "title": {"fr": "Premium 3 mois", "en": "Premium for 3 months"},
        "description": {"fr": "Le forfait Premium pendant 3 mois.", "en": "The Premium plan for 3 months."},
        "inventory": 2,
        "currency": "EUR",
        "min_bid": 1000,
        "max_bid": 5000,
        "increment": 100,
        "opens_at": iso(start),
        "closes_at": iso(start + timedelta(days=2)),
        **overrides,
    }


@pytest.fixture
def offer(app_module: Any) -> Callable[..., str]:
    """An open offer, created the way an admin does; returns its id."""

    def make(**overrides: Any) -> str:
        created = app_module.admin_create_offer(offer_event(**overrides), None)
        assert "error" not in created, created
        return created["offer_id"]

    return make


@dataclass
class Bidder:
    enrolled: Any
    method_id: str

    @property
    def token(self) -> str:
        return self.enrolled.token

    @property
    def customer_id(self) -> str:
        return self.enrolled.customer["customer_id"]


@pytest.fixture
def bidder(enrol: Any, api: Any) -> Callable[..., Bidder]:
    """A signed-in customer with a card (`tok_visa` unless told)."""

    def make(card: str = "tok_visa") -> Bidder:
        enrolled = enrol()
        method = api.post("/me/payment-methods", {"provider_token": card}, token=enrolled.token)
        assert method.status == 201, method.body
        return Bidder(enrolled, method.body["payment_method_id"])

    return make


def confirmed_bid(api: Any, who: Bidder, offer_id: str, amount: int) -> dict[str, Any]:
    """The app's step-up for a bid: challenge, Face ID (the soft authenticator), the PUT body."""
    challenge = api.post(f"/offers/{offer_id}/bid/challenge", {"amount": amount, "payment_method_id": who.method_id}, token=who.token)
    assert challenge.status == 200, challenge.body
    credential = who.enrolled.authenticator.get(challenge.body["options"])
    return {"amount": amount, "payment_method_id": who.method_id, "challenge_id": challenge.body["challenge_id"], "credential": credential}


def place(api: Any, who: Bidder, offer_id: str, amount: int) -> Any:
    return api.put(f"/offers/{offer_id}/bid", confirmed_bid(api, who, offer_id, amount), token=who.token)
