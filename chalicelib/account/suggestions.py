"""The option a usage alert names: the cheapest one the line can take now that adds to the
allowance running out.

"Can take now": allowed by the line's plan (`compatible_options` of the plan's snapshot: the terms
the line holds, so no second read), and not already active on the line (an option whose `ends_at`
has passed no longer is). "Adds": the option's allowance of that kind is unlimited or more than
zero. Cheapest by price; at the same price, the one that adds more; then by id, so the choice is
stable. The options are read in one Query (PK=CATALOG, SK begins with OPTION#), once per alert
check whatever the number of alerts. Only the attributes every catalogue entry has today are read
(id, name, allowances, price, currency), and an entry missing one is passed over rather than
failing the alert: the catalogue may gain attributes (category, term) that older entries lack.

The app opens the option's preview (GET /lines/{line_id}/options/{option_id}/preview) from
`option_link`; when nothing fits, the alert says so and carries no link.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.account import catalog, cycles
from chalicelib.billing.money import format_money
from chalicelib.store.models import CatalogEntry


@dataclass(frozen=True)
class Suggestion:
    option_id: str
    name: dict[str, str]
    price_amount: int  # minor units
    currency: str
    adds: float | None  # in the allowance's unit (MB, minutes, messages); None: unlimited

    def name_in(self, language: str) -> str:
        return self.name.get(language) or self.name.get("fr") or self.option_id


def option_link(line_id: str, option_id: str) -> str:
    """The app's action: the option's preview for this line."""
    return f"selfcare://lines/{line_id}/options/{option_id}"


def catalogue_options() -> list[dict[str, Any]]:
    """Every option of the catalogue that reads whole, in one Query."""
    return options_of(CatalogEntry.query("CATALOG", CatalogEntry.SK.startswith("OPTION#")))


def options_of(entries: Iterable[CatalogEntry]) -> list[dict[str, Any]]:
    """The options among `entries` that read whole (plans are left out)."""
    found = []
    for entry in entries:
        if entry.entry_kind != "option":
            continue
        read = _read(entry)
        if read is not None:
            found.append(read)
    return found


def _read(entry: CatalogEntry) -> dict[str, Any] | None:
    try:
        return {
            "id": str(entry.entry_id),
            "name": {str(k): str(v) for k, v in entry.name.as_dict().items()},
            "allowances": dict(entry.allowances.as_dict()),
            "price_amount": int(entry.price_amount),
            "currency": str(entry.currency),
            "term": catalog.term_of(entry),
        }
    except (AttributeError, TypeError, ValueError):  # an entry short of a field: not offered
        return None


def _adds(entry: dict[str, Any], kind: str) -> tuple[bool, float | None]:
    """Whether the entry adds to this kind of allowance, and how much (None: unlimited)."""
    allowances = entry.get("allowances") or {}
    key = cycles.ALLOWANCE_KEY[kind]
    if key not in allowances:
        return False, 0.0
    value = allowances[key]
    if value is None:
        return True, None
    return float(value) > 0, float(value)


def _active(line_options: list[dict[str, Any]], moment: datetime) -> set[str]:
    active = set()
    for option in line_options:
        ends = option.get("ends_at")
        try:
            ended = bool(ends) and datetime.fromisoformat(str(ends).replace("Z", "+00:00")) <= moment
        except ValueError:  # an end we cannot read: take the option as still there
            ended = False
        if not ended:  # an option with no end stays until removed
            active.add(str(option["id"]))
    return active


def cheapest(
    options: list[dict[str, Any]],
    *,
    plan: dict[str, Any],
    line_options: list[dict[str, Any]],
    kind: str,
    moment: datetime,
    allowed: set[str] | None = None,
) -> Suggestion | None:
    """The option to name for this kind of allowance, or None when none fits. `allowed`: what the
    plan allows by catalog.compatible_options (the purchases' rule); else the plan's own terms. A
    top-up or one-off already on the line can be bought again (the purchases allow it)."""
    allowed = set(plan.get("compatible_options") or []) if allowed is None else allowed
    active = _active(line_options, moment)
    currency = plan.get("currency")
    fits: list[Suggestion] = []
    for entry in options:
        adds, quantity = _adds(entry, kind)
        recurring = entry.get("term", "recurring") == "recurring"
        if not adds or entry["id"] not in allowed or (recurring and entry["id"] in active):
            continue
        if currency and entry["currency"] != currency:  # amounts in two currencies do not compare
            continue
        fits.append(
            Suggestion(
                option_id=entry["id"],
                name=entry["name"],
                price_amount=entry["price_amount"],
                currency=entry["currency"],
                adds=quantity,
            )
        )
    return min(
        fits,
        key=lambda s: (s.price_amount, -(math.inf if s.adds is None else s.adds), s.option_id),
        default=None,
    )


def quantity_words(kind: str, quantity: float, language: str) -> str:
    """5120 MB → « 5 Go » / "5 GB"; 90 min → « 90 min »; 100 SMS → "100 texts"."""
    fr = language == "fr"

    def number(value: float) -> str:
        text = f"{value:.1f}".rstrip("0").rstrip(".")
        return text.replace(".", ",") if fr else text

    if kind == "data":
        if quantity >= 1024:
            return f"{number(quantity / 1024)}\u00a0{'Go' if fr else 'GB'}"
        return f"{number(quantity)}\u00a0{'Mo' if fr else 'MB'}"
    if kind == "voice":
        return f"{number(quantity)}\u00a0min"
    return f"{number(quantity)}\u00a0{'SMS' if fr else 'texts'}"


def _offer(suggestion: Suggestion, kind: str, price: dict[str, str]) -> dict[str, str]:
    fr, en = suggestion.name_in("fr"), suggestion.name_in("en")
    if suggestion.adds is None:
        return {
            "fr": f"L'option « {fr} » vous le rend illimité pour {price['fr']}.",
            "en": f"The {en} option makes it unlimited for {price['en']}.",
        }
    return {
        "fr": f"L'option « {fr} » vous ajoute {quantity_words(kind, suggestion.adds, 'fr')} pour {price['fr']}.",
        "en": f"The {en} option adds {quantity_words(kind, suggestion.adds, 'en')} for {price['en']}.",
    }


def alert_data(suggestion: Suggestion | None, *, line_id: str, kind: str) -> dict[str, str]:
    """The alert's data about the option (catalog `_OFFER_KEYS`): the option and its preview link,
    or `suggestion: none` and a sentence that says plainly that none fits."""
    if suggestion is None:
        return {
            "suggestion": "none",
            "offer_fr": "Aucune option ne peut l'augmenter sur votre offre actuelle.",
            "offer_en": "No option can add to it on your current plan.",
        }
    price = {
        lang: format_money(suggestion.price_amount, suggestion.currency, language=lang)
        for lang in ("fr", "en")
    }
    offer = _offer(suggestion, kind, price)
    return {
        "suggestion": "option",
        "option_id": suggestion.option_id,
        "option_name_fr": suggestion.name_in("fr"),
        "option_name_en": suggestion.name_in("en"),
        "option_price_amount": str(suggestion.price_amount),
        "option_price_currency": suggestion.currency,
        "option_price_fr": price["fr"],
        "option_price_en": price["en"],
        "option_link": option_link(line_id, suggestion.option_id),
        "offer_fr": offer["fr"],
        "offer_en": offer["en"],
    }
