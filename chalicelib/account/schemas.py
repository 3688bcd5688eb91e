"""Query strings and bodies of the account routes: allow-lists."""
from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

LINE_ID = r"ln_[a-z0-9]{4,32}"
PLAN_ID = r"^[a-z0-9][a-z0-9_-]{1,40}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DailyQuery(_Strict):
    from_: date = Field(alias="from")
    to: date


class PreviewQuery(_Strict):
    plan_id: str = Field(pattern=PLAN_ID)


class PlanChangeBody(_Strict):
    plan_id: str = Field(pattern=PLAN_ID)
    preview_token: str = Field(pattern=r"^pcp_[0-9a-f]{32}$")
