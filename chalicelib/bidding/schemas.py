"""Bodies and query strings of the bidding routes: allow-lists."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.billing.schemas import METHOD_ID
from chalicelib.common.strict import JsonInt, Strict

OFFER_ID = r"off_[a-z0-9][a-z0-9_-]{2,40}"


MinorUnits = JsonInt  # money: integer minor units, its currency beside it (the offer's)


class OfferQuery(Strict):
    """No parameters. `?amount=` (a candidate's strength) was removed: rated against the current
    bids for any amount, it located a rival's exact bid by binary search (12 requests); only the
    caller's own placed bid is rated now (see bids.strength). Sending it is a 400 (unknown field)."""


LINE_ID = r"ln_[a-z0-9]{4,32}"


class BidChallengeBody(Strict):
    amount: MinorUnits = Field(ge=1, le=10**11, description="Minor units")
    payment_method_id: str = Field(pattern=f"^{METHOD_ID}$")
    line_id: str = Field(pattern=f"^{LINE_ID}$", description="The line the upgrade goes to if the bid wins")


class PlaceBidBody(BidChallengeBody):
    challenge_id: str = Field(pattern=r"^chl_[0-9a-f]{32}$")
    credential: dict[str, Any]


class ReceiptsQuery(Strict):
    cursor: str | None = Field(default=None, max_length=512)
    limit: int | None = Field(default=None, ge=1, le=50)
