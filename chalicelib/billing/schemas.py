"""Bodies, query strings and headers of the billing routes: allow-lists. Money is a JSON integer of
minor units: a string, a decimal number or a boolean is a 400, never coerced."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.billing.money import MinorUnits
from chalicelib.common.strict import Strict

BILL_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{2,40}"
METHOD_ID = r"pm_[0-9a-f]{16}"
IDEMPOTENCY_KEY = r"^[A-Za-z0-9_:.-]{8,128}$"


class BillsQuery(Strict):
    status: Literal["open", "overdue", "paid"] | None = None
    cursor: str | None = Field(default=None, max_length=1024)
    limit: int | None = Field(default=None, ge=1, le=50)


class AddMethodBody(Strict):
    provider_token: str = Field(
        min_length=4, max_length=255, description="From the provider's SDK in the app"
    )
    label: str | None = Field(default=None, min_length=1, max_length=40)


class AutopayBody(Strict):
    enabled: bool


class ChallengeBody(Strict):
    amount: MinorUnits
    payment_method_id: str = Field(pattern=f"^{METHOD_ID}$")


class PayBody(ChallengeBody):
    challenge_id: str = Field(pattern=r"^chl_[0-9a-f]{32}$")
    credential: dict[str, Any]


# --- Customers who cannot pay: payment arrangements -------------------------------------------

ARRANGEMENT_ID = r"arr_[0-9a-f]{20}"


class ArrangementPreviewQuery(Strict):
    instalments: int = Field(ge=1, le=3, description="How many instalments (1 to 3)")


class ArrangementsQuery(Strict):
    cursor: str | None = Field(default=None, max_length=1024)
    limit: int | None = Field(default=None, ge=1, le=50)


class ArrangementBody(Strict):
    instalments: int = Field(ge=1, le=3)
    balance: MinorUnits = Field(description="The overdue balance the preview showed, minor units")
