"""Query strings and bodies of the account routes: allow-lists."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from chalicelib.common.strict import Strict

LINE_ID = r"ln_[a-z0-9]{4,32}"
PLAN_ID = r"^[a-z0-9][a-z0-9_-]{1,40}$"


class DailyQuery(Strict):
    from_: date = Field(alias="from")
    to: date


class PreviewQuery(Strict):
    plan_id: str = Field(pattern=PLAN_ID)


class PlanChangeBody(Strict):
    plan_id: str = Field(pattern=PLAN_ID)
    preview_token: str = Field(pattern=r"^pcp_[0-9a-f]{32}$")
