"""Purchases run on the account tests' catalogue and lines; helpers drive the app's two calls
(preview, then the change with its step-up confirmation) as the app does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.account.conftest import catalogue, with_line  # noqa: F401 - fixtures shared with tests/account
from tests.support.stepup import confirmation


def preview(api: Any, enrolled: Any, line_id: str, option_id: str) -> Any:
    return api.get(f"/lines/{line_id}/options/{option_id}/preview", token=enrolled.token)


def buy(
    api: Any,
    enrolled: Any,
    line_id: str,
    option_id: str,
    *,
    key: str | None = None,
    amount: int | None = None,
    shown: Any = None,
) -> Any:
    """Preview (unless `shown` is given), step-up `option.buy` for the preview's price (or
    `amount`), then `POST /lines/{id}/options` with a new Idempotency-Key (or `key`)."""
    shown = shown or preview(api, enrolled, line_id, option_id)
    assert shown.status == 200, shown.body
    price = shown.body["price"]
    confirmed = confirmation(
        api,
        enrolled,
        "option.buy",
        line_id=line_id,
        option_id=option_id,
        amount=price["amount"] if amount is None else amount,
        currency=price["currency"],
    )
    body = {"option_id": option_id, "preview_token": shown.body["preview_token"], "confirmation": confirmed}
    return api.post(
        f"/lines/{line_id}/options",
        body,
        token=enrolled.token,
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def remove(api: Any, enrolled: Any, line_id: str, option_id: str) -> Any:
    shown = api.get(f"/lines/{line_id}/options/{option_id}/removal/preview", token=enrolled.token)
    assert shown.status == 200, shown.body
    confirmed = confirmation(api, enrolled, "option.remove", line_id=line_id, option_id=option_id)
    return api.post(
        f"/lines/{line_id}/options/{option_id}/removal",
        {"preview_token": shown.body["preview_token"], "confirmation": confirmed},
        token=enrolled.token,
    )


def included(api: Any, enrolled: Any, line_id: str, kind: str = "data") -> Any:
    """This cycle's allowance of `kind` as `GET /lines/{id}/usage` shows it."""
    usage = api.get(f"/lines/{line_id}/usage", token=enrolled.token)
    assert usage.status == 200, usage.body
    return next(a for a in usage.body["allowances"] if a["kind"] == kind)["included"]


@pytest.fixture
def charges() -> Any:
    """The line items waiting for a customer's next bill."""
    from chalicelib.purchases import service

    return lambda enrolled: service.pending_charges(customer_id=enrolled.customer["customer_id"])
