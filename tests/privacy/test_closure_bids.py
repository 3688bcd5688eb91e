"""Closing the account looks up the customer's open bids once: the read that builds the closure's
plan also names the bids withdrawn (each lookup is a Query of the open offers and a GetItem per
offer)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.store.models import OfferBid
from tests.privacy.seed import seed_everything
from tests.support.stepup import confirmation


def test_closing_looks_up_the_open_bids_once_and_withdraws_them(
    api: Any, app_module: Any, stream: Any, enrol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutation: `withdraw_bids(customer_id)` in `close` (its own lookup again) → 2 lookups → fails."""
    from chalicelib.privacy import closure

    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    stream.drain()
    ids = seed_everything(api, app_module, enrolled)
    effective_date = api.get("/me/closure/preview", token=enrolled.token).body["step_up"]["effective_date"]
    confirmed = confirmation(api, enrolled, "account.close", effective_date=effective_date)
    real = closure.open_bids
    lookups: list[str] = []

    def counted(customer: str) -> list[dict[str, Any]]:
        lookups.append(customer)
        return real(customer)

    monkeypatch.setattr(closure, "open_bids", counted)
    done = api.post("/me/closure", {"confirmation": confirmed}, token=enrolled.token)
    assert done.status == 201, done.body
    assert lookups == [customer_id]
    assert done.body["withdrawn_bids"] == [ids["offer_id"]]
    assert not list(OfferBid.scan(OfferBid.customer_id == customer_id))
