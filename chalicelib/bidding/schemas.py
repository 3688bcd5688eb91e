"""Bodies and query strings of the bidding routes: allow-lists."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.billing.schemas import METHOD_ID
from chalicelib.common.strict import Strict

OFFER_ID = r"off_[a-z0-9][a-z0-9_-]{2,40}"


class OfferQuery(Strict):
    amount: int | None = Field(default=None, ge=1, le=10**11, description="A candidate bid (minor units) to rate")


class BidChallengeBody(Strict):
    amount: int = Field(ge=1, le=10**11, description="Minor units")
    payment_method_id: str = Field(pattern=f"^{METHOD_ID}$")


class PlaceBidBody(BidChallengeBody):
    challenge_id: str = Field(pattern=r"^chl_[0-9a-f]{32}$")
    credential: dict[str, Any]
