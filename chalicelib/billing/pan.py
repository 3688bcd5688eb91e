"""Moved to `chalicelib.common.pan` (request bodies and admin events of every capability are scanned
there); kept so that existing imports work."""

from __future__ import annotations

from chalicelib.common.pan import contains_pan, luhn_valid, redact_pans, refuse_card_numbers

__all__ = ["contains_pan", "luhn_valid", "redact_pans", "refuse_card_numbers"]
