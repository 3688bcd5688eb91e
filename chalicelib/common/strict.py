"""The base of every request body, query string and admin event: an allow-list."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown fields are refused; strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
