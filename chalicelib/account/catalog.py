"""The plan and option catalogue: data that admins edit (`admin_upsert_catalog`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.common.clock import iso, now
from chalicelib.common.strict import JsonInt, Strict
from chalicelib.errors import NotFound
from chalicelib.store.models import CatalogEntry

ENTRY_ID = r"^[a-z0-9][a-z0-9_-]{1,40}$"
CURRENCY = r"^[A-Z]{3}$"


class Allowances(Strict):
    """Absent: not included; null: unlimited; a number: the monthly quantity."""

    data_mb: float | None = Field(default=0, ge=0)
    voice_min: float | None = Field(default=0, ge=0)
    sms: float | None = Field(default=0, ge=0)


class EntryEvent(Strict):
    id: str = Field(pattern=ENTRY_ID)
    name: dict[Literal["fr", "en"], str] = Field(min_length=1)
    allowances: Allowances = Field(default_factory=Allowances)
    price_amount: JsonInt = Field(ge=0, description="Monthly price in minor units")
    currency: str = Field(pattern=CURRENCY)
    compatible_options: list[str] | None = None  # plans only


class UpsertCatalogEvent(Strict):
    plans: list[EntryEvent] = Field(default_factory=list, max_length=100)
    options: list[EntryEvent] = Field(default_factory=list, max_length=100)


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
                        updated_at=moment,
                    )
                )
    return {"plans": [e.id for e in event.plans], "options": [e.id for e in event.options]}


def get(kind: str, entry_id: str) -> CatalogEntry:
    try:
        return CatalogEntry.get("CATALOG", f"{kind.upper()}#{entry_id}")
    except CatalogEntry.DoesNotExist:
        raise NotFound(f"No {kind} {entry_id!r} in the catalogue.", code=f"{kind}_not_found") from None


def snapshot(entry: CatalogEntry) -> dict[str, Any]:
    """The terms a line keeps once subscribed, even if the catalogue changes later."""
    return {
        "id": entry.entry_id,
        "name": entry.name.as_dict(),
        "allowances": entry.allowances.as_dict(),
        "price_amount": int(entry.price_amount),
        "currency": entry.currency,
        "compatible_options": list(entry.compatible_options or []),
    }
