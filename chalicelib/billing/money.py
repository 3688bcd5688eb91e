"""Money: integer minor units plus an ISO 4217 currency, everywhere. This module formats it for
people and refuses anything but a JSON integer where a request carries it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chalicelib.common.strict import JsonInt

# ISO 4217 minor unit exponents that are not 2 (the default).
_EXPONENT = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}
_SYMBOL = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
_NBSP = "\u00a0"  # between amount and symbol in French: never split over two lines
_THIN = "\u202f"  # French thousands separator (narrow no-break space)


def exponent(currency: str) -> int:
    return _EXPONENT.get(currency.upper(), 2)


def _digits(amount: int, currency: str, *, decimal: str, thousands: str) -> str:
    """Exact (integer arithmetic: no float ever rounds a cent)."""
    places = exponent(currency)
    sign = "-" if amount < 0 else ""
    units, minor = divmod(abs(amount), 10**places) if places else (abs(amount), 0)
    whole = f"{units:,}".replace(",", thousands)
    return sign + whole + (f"{decimal}{minor:0{places}d}" if places else "")


def format_money(amount: int, currency: str, *, language: str | None = None) -> str:
    """Minor units as a person reads them. Without a language, the neutral form the alerts carry
    (`42.00 EUR`); `fr`: `42,00 €`; `en`: `€42.00`."""
    currency = currency.upper()
    if language == "fr":
        return (
            _digits(amount, currency, decimal=",", thousands=_THIN) + _NBSP + _SYMBOL.get(currency, currency)
        )
    if language == "en":
        symbol = _SYMBOL.get(currency)
        text = _digits(amount, currency, decimal=".", thousands=",")
        if symbol is None:
            return f"{currency}{_NBSP}{text}"
        return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"
    return _digits(amount, currency, decimal=".", thousands="") + " " + currency


# A positive amount in minor units, as a JSON integer only.
MinorUnits = Annotated[JsonInt, Field(ge=1, le=10**12, description="Minor units")]
# Zero or more (a tax, a total), as a JSON integer only.
NonNegativeMinorUnits = Annotated[JsonInt, Field(ge=0, le=10**12, description="Minor units")]
# Any integer amount in minor units (credits are negative), as a JSON integer only.
SignedMinorUnits = Annotated[JsonInt, Field(ge=-(10**12), le=10**12, description="Minor units")]
