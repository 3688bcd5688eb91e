"""Bodies and query strings of the bidding routes: allow-lists."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from chalicelib.billing.schemas import METHOD_ID
from chalicelib.common.strict import Strict

OFFER_ID = r"off_[a-z0-9][a-z0-9_-]{2,40}"


def _json_integer(value: Any) -> Any:
    """Money and counts are JSON integers, nothing else. Pydantic's default (lax) mode would take
    "2300", true (as 1) and 23.0 and turn them into ints: a client that sends a string or a float
    has a bug (a decimal amount, a currency formatted as text) that must not be guessed at."""
    if type(value) is not int:  # bool is a subclass of int: `type`, not isinstance
        raise PydanticCustomError("json_integer", "must be a JSON integer (e.g. 2300 for 23.00 in minor units), not a string, boolean or decimal")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
MinorUnits = JsonInt  # money: integer minor units, its currency beside it (the offer's)


class OfferQuery(Strict):
    """No parameters. `?amount=` (a candidate's strength) was removed: rated against the current
    bids for any amount, it located a rival's exact bid by binary search (12 requests); only the
    caller's own placed bid is rated now (see bids.strength). Sending it is a 400 (unknown field)."""


class BidChallengeBody(Strict):
    amount: MinorUnits = Field(ge=1, le=10**11, description="Minor units")
    payment_method_id: str = Field(pattern=f"^{METHOD_ID}$")


class PlaceBidBody(BidChallengeBody):
    challenge_id: str = Field(pattern=r"^chl_[0-9a-f]{32}$")
    credential: dict[str, Any]
