"""Formats of customer identifiers, shared by request bodies and admin events (cheap to import)."""

CUSTOMER_NUMBER = r"^[A-Z0-9][A-Z0-9-]{2,31}$"
E164 = r"^\+[1-9][0-9]{6,14}$"
SEGMENT = r"[a-z0-9][a-z0-9-]{0,39}"
