"""The plan and option catalogue: data that admins edit (`admin_upsert_catalog`).

Each entry has a `category` (a `plan`, a recurring `option`, a data `top_up`, a `bolt_on`), a
`term` (`recurring` until removed, `one_off` or `until_cycle_end`: both last to the end of the cycle
they are bought in) and an optional `description` per language. Entries stored before these
existed read as a plan or an option, recurring, without description.

A plan may say what it gives abroad (`roaming`, account/roaming.py): EU/EEA roaming uses the home
allowances within a fair-use data cap (`eu_fair_use_gb`, and `eu_price_per_mb` beyond it); `zone_1`
and `zone_2` each have their own included allowance (0 by default) and prices per MB, per started
minute and per SMS beyond it, in minor units of the plan's currency. A plan without it has
roaming.DEFAULT_TERMS.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from chalicelib.common.clock import iso, now
from chalicelib.common.strict import JsonInt, Strict
from chalicelib.errors import NotFound
from chalicelib.store.models import CatalogEntry

ENTRY_ID = r"^[a-z0-9][a-z0-9_-]{1,40}$"
CURRENCY = r"^[A-Z]{3}$"

Category = Literal["plan", "option", "top_up", "bolt_on"]
Term = Literal["recurring", "one_off", "until_cycle_end"]
CATEGORIES: tuple[Category, ...] = ("plan", "option", "top_up", "bolt_on")
TERMS: tuple[Term, ...] = ("recurring", "one_off", "until_cycle_end")


class Allowances(Strict):
    """Absent: not included; null: unlimited; a number: the monthly quantity."""

    data_mb: float | None = Field(default=0, ge=0)
    voice_min: float | None = Field(default=0, ge=0)
    sms: float | None = Field(default=0, ge=0)


class ZoneTerms(Strict):
    """A zone outside the EU: what is included each cycle and the price of each unit beyond it."""

    data_mb: JsonInt = Field(default=0, ge=0, le=1_000_000)
    voice_min: JsonInt = Field(default=0, ge=0, le=100_000)
    sms: JsonInt = Field(default=0, ge=0, le=100_000)
    price_per_mb: JsonInt = Field(ge=0, le=100_000, description="Minor units")
    price_per_min: JsonInt = Field(ge=0, le=100_000, description="Minor units")
    price_per_sms: JsonInt = Field(ge=0, le=100_000, description="Minor units")


class RoamingTerms(Strict):
    eu_fair_use_gb: JsonInt = Field(ge=0, le=10_000)
    eu_price_per_mb: JsonInt = Field(ge=0, le=100_000, description="Minor units, beyond fair use")
    zone_1: ZoneTerms
    zone_2: ZoneTerms


class EntryEvent(Strict):
    id: str = Field(pattern=ENTRY_ID)
    name: dict[Literal["fr", "en"], str] = Field(min_length=1)
    allowances: Allowances = Field(default_factory=Allowances)
    price_amount: JsonInt = Field(ge=0, description="Monthly price in minor units")
    currency: str = Field(pattern=CURRENCY)
    compatible_options: list[str] | None = None  # plans only
    # Unset: `plan` in `plans`, `option` in `options` (events written before categories existed).
    category: Category | None = None
    term: Term = "recurring"
    description: dict[Literal["fr", "en"], str] | None = Field(default=None, min_length=1)
    roaming: RoamingTerms | None = None  # plans only


class UpsertCatalogEvent(Strict):
    plans: list[EntryEvent] = Field(default_factory=list, max_length=100)
    options: list[EntryEvent] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _categories_fit_their_list(self) -> Self:
        """A plan is what a line is on, month after month; anything else is added to a plan."""
        for entry in self.plans:
            if entry.category not in (None, "plan") or entry.term != "recurring":
                raise ValueError(f"plan {entry.id}: a plan has category `plan` and term `recurring`")
        for entry in self.options:
            if entry.category == "plan":
                raise ValueError(f"option {entry.id}: category `plan` belongs in `plans`")
            if entry.roaming is not None:
                raise ValueError(f"option {entry.id}: `roaming` terms belong to plans")
        return self


def upsert(event: UpsertCatalogEvent) -> dict[str, Any]:
    moment = iso(now())
    with CatalogEntry.batch_write() as batch:
        for kind, entries in (("plan", event.plans), ("option", event.options)):
            for entry in entries:
                batch.save(
                    CatalogEntry(
                        "CATALOG",
                        f"{kind.upper()}#{entry.id}",
                        entry_id=entry.id,
                        entry_kind=kind,
                        name=dict(entry.name),
                        allowances=entry.allowances.model_dump(exclude_unset=False),
                        price_amount=entry.price_amount,
                        currency=entry.currency,
                        compatible_options=entry.compatible_options if kind == "plan" else None,
                        category=entry.category or kind,
                        term=entry.term,
                        description=dict(entry.description) if entry.description else None,
                        roaming=entry.roaming.model_dump() if entry.roaming else None,
                        updated_at=moment,
                    )
                )
    return {"plans": [e.id for e in event.plans], "options": [e.id for e in event.options]}


def get(kind: str, entry_id: str) -> CatalogEntry:
    try:
        return CatalogEntry.get("CATALOG", f"{kind.upper()}#{entry_id}")
    except CatalogEntry.DoesNotExist:
        raise NotFound(f"No {kind} {entry_id!r} in the catalogue.", code=f"{kind}_not_found") from None


def load_all() -> list[CatalogEntry]:
    """Every entry, plans and options: one Query of the catalogue's partition."""
    return list(CatalogEntry.query("CATALOG"))


def category_of(entry: CatalogEntry) -> Category:
    """Stored, or for an entry written before categories: its kind (plan or option)."""
    stored = entry.category or entry.entry_kind
    return next((c for c in CATEGORIES if c == stored), "option")


def term_of(entry: CatalogEntry) -> Term:
    return next((t for t in TERMS if t == entry.term), "recurring")


def snapshot(entry: CatalogEntry) -> dict[str, Any]:
    """The terms a line keeps once subscribed, even if the catalogue changes later (roaming terms
    only when the plan states them: a snapshot without them reads as the defaults)."""
    roaming = {"roaming": entry.roaming.as_dict()} if entry.roaming else {}
    return {
        **roaming,
        "id": entry.entry_id,
        "name": entry.name.as_dict(),
        "allowances": entry.allowances.as_dict(),
        "price_amount": int(entry.price_amount),
        "currency": entry.currency,
        "compatible_options": list(entry.compatible_options or []),
        "category": category_of(entry),
        "term": term_of(entry),
        "description": entry.description.as_dict() if entry.description else None,
    }


def compatible_options(plan: dict[str, Any], entries: Iterable[CatalogEntry]) -> set[str]:
    """What a line's plan allows: its own terms (the plan's snapshot on the line) and what the
    catalogue's current plan allows (an option added to the catalogue later is offered too). The
    one rule of the catalogue view, the purchases, the alerts' suggestions and the won upgrades."""
    allowed = set(plan.get("compatible_options") or [])
    current = next((e for e in entries if e.entry_kind == "plan" and e.entry_id == plan.get("id")), None)
    return allowed | set(current.compatible_options or []) if current else allowed
