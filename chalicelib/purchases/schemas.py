"""Path ids and bodies of the purchase routes: allow-lists. The edge adds the step-up
`confirmation` (chalicelib/api/purchases.py)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.account.catalog import ENTRY_ID
from chalicelib.common.strict import Strict

OPTION_ID = ENTRY_ID
BUY_TOKEN = r"^opp_[0-9a-f]{32}$"  # noqa: S105 - a preview token's format, not a secret
REMOVE_TOKEN = r"^orp_[0-9a-f]{32}$"  # noqa: S105 - a preview token's format, not a secret


class BuyBody(Strict):
    option_id: str = Field(pattern=OPTION_ID)
    preview_token: str = Field(pattern=BUY_TOKEN)


class RemovalBody(Strict):
    preview_token: str = Field(pattern=REMOVE_TOKEN)
