"""Formats of customer identifiers, shared by request bodies and admin events."""

from typing import Annotated

from pydantic import StringConstraints

CUSTOMER_NUMBER = r"^[A-Z0-9][A-Z0-9-]{2,31}$"
E164 = r"^\+[1-9][0-9]{6,14}$"
SEGMENT = r"[a-z0-9][a-z0-9-]{0,39}"

# A segment name where a model takes a list of them (lowercase letters, digits, dashes).
SegmentName = Annotated[str, StringConstraints(pattern=f"^{SEGMENT}$")]
