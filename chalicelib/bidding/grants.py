"""What a won offer gives: an option or a plan on the line the bidder chose, for a number of days.

- An offer declares its grant (`GrantSpec`): the catalogue entry is snapshotted when the offer is
  created, so the winner gets the terms that were bid on, whatever the catalogue says later.
- `problem` says why a line cannot take the grant (bidding refuses it; clearing refunds instead).
- `granted_line` is the line as the grant leaves it: an option snapshot with `starts_at`/`ends_at`
  appended (account/cycles.py counts it only between them), or the plan replaced for the period
  (the previous one kept on the grant item, to put back).
- `expire` (the scheduled `expire_upgrades`) ends grants past their end and warns a few days
  before; `list_receipts` is `GET /me/receipts`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from chalicelib.account import catalog, cycles
from chalicelib.bidding.models import ENDING, RECEIPT_PREFIX, UpgradeGrant, UpgradeReceipt
from chalicelib.common.clock import iso, iso_ms, now
from chalicelib.common.languages import long_date, phone_number
from chalicelib.common.strict import JsonInt, Strict
from chalicelib.config import get_settings
from chalicelib.customers.language import customer_language
from chalicelib.errors import Conflict, NotFound
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.store import cursor as cursor_codec
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import CatalogEntry, Line, customer_pk, plain

PAGE_DEFAULT, PAGE_MAX = 20, 50
EXPIRY_BATCH = 200  # grants read per page of the expiry Queries
# Of the scheduled function's 60 s (Chalice's default timeout): a run pages through every grant due
# until then; the next run goes on (ended grants leave the index, reminded ones are filtered out).
EXPIRY_BUDGET_S = 45.0

# Why a line cannot take a grant (`problem`), in words: after « Cette ligne ne peut pas recevoir
# cette offre : » in an error, and as the reason of a refund in an alert.
PROBLEMS: dict[str, dict[str, str]] = {
    "line_gone": {"fr": "la ligne n'existe plus", "en": "the line no longer exists"},
    "line_suspended": {"fr": "la ligne est suspendue", "en": "the line is suspended"},
    "plan_not_eligible": {
        "fr": "l'offre de la ligne n'est pas concernée",
        "en": "the line's plan is not eligible",
    },
    "current_plan": {"fr": "la ligne a déjà cette offre", "en": "the line is already on this plan"},
    "incompatible_with_plan": {
        "fr": "cette option n'est pas compatible avec l'offre de la ligne",
        "en": "this option does not fit the line's plan",
    },
    "already_active": {
        "fr": "cette option est déjà active sur la ligne",
        "en": "this option is already active on the line",
    },
    "plan_granted": {
        "fr": "l'offre de la ligne est déjà celle d'une enchère gagnée, jusqu'à sa fin",
        "en": "the line's plan already comes from a won offer, until it ends",
    },
}


class GrantSpec(Strict):
    kind: Literal["option", "plan"] = Field(description="An option added to the line, or the line's plan")
    entry_id: str = Field(pattern=catalog.ENTRY_ID, description="A catalogue id (plan or option)")
    days: JsonInt = Field(ge=1, le=366, description="How long the winner keeps it")


def stored(spec: GrantSpec) -> dict[str, Any]:
    """The offer's `grant` attribute: the spec and the entry's snapshot now (NotFound names an
    unknown entry: `option_not_found` / `plan_not_found`)."""
    entry = catalog.get(spec.kind, spec.entry_id)
    return {"kind": spec.kind, "entry_id": spec.entry_id, "days": spec.days, "entry": catalog.snapshot(entry)}


def name_of(grant: dict[str, Any], language: str) -> str:
    names = (grant.get("entry") or {}).get("name") or {}
    return str(names.get(language) or names.get("fr") or grant["entry_id"])


def describe(grant: dict[str, Any], language: str) -> str:
    """What the winner gets and for how long, in a sentence."""
    name, days = name_of(grant, language), int(grant["days"])
    if language == "en":
        what = f"the {name} option" if grant["kind"] == "option" else f"the {name} plan"
        return f"You get {what} on the line you choose for {days} day{'s' if days > 1 else ''}."
    what = f"l'option « {name} »" if grant["kind"] == "option" else f"l'offre « {name} »"
    return f"Vous obtenez {what} sur la ligne de votre choix pendant {days} jour{'s' if days > 1 else ''}."


def promise(grant: dict[str, Any], number: str, language: str) -> str:
    """What a winning bid gets on this line, for the bid's confirmation statement."""
    name, days = name_of(grant, language), int(grant["days"])
    if language == "en":
        what = f"the {name} option" if grant["kind"] == "option" else f"the {name} plan"
        return f"If it wins, your line {number} gets {what} for {days} day{'s' if days > 1 else ''}."
    what = f"l'option « {name} »" if grant["kind"] == "option" else f"l'offre « {name} »"
    return f"Si elle gagne, votre ligne {number} reçoit {what} pendant {days} jour{'s' if days > 1 else ''}."


def delivered(kind: str, name: str, number: str, ends: datetime, language: str) -> str:
    """« Votre ligne 06 12 34 56 78 a l'option « X » jusqu'au 27 décembre 2026. »"""
    day = long_date(ends.date(), language)
    if language == "en":
        what = f"the {name} option" if kind == "option" else f"the {name} plan"
        return f"Your line {number} has {what} until {day}."
    what = f"l'option « {name} »" if kind == "option" else f"l'offre « {name} »"
    return f"Votre ligne {number} a {what} jusqu'au {day}."


def to_wire(grant: dict[str, Any], language: str) -> dict[str, Any]:
    entry = grant.get("entry") or {}
    return {
        "kind": grant["kind"],
        "entry_id": grant["entry_id"],
        "name": name_of(grant, language),
        "days": int(grant["days"]),
        "allowances": entry.get("allowances") or {},
        "summary": describe(grant, language),
    }


# --- which lines can take it ----------------------------------------------------------------------------


def compatible_options(line: Line, entries: Iterable[CatalogEntry]) -> set[str]:
    """What the line's plan allows: its own terms, and what the catalogue's current plan allows."""
    plan = plain(line.plan)
    allowed = set(plan.get("compatible_options") or [])
    current = next((e for e in entries if e.entry_kind == "plan" and e.entry_id == plan.get("id")), None)
    return allowed | set(current.compatible_options or []) if current else allowed


def problem(
    grant: dict[str, Any],
    line: Line | None,
    *,
    entries: Iterable[CatalogEntry],
    plan_ids: Iterable[str] = (),
    at: datetime | None = None,
) -> str | None:
    """Why `line` cannot take `grant` now (a key of PROBLEMS), None when it can."""
    if line is None:
        return "line_gone"
    if line.status != "active":
        return "line_suspended"
    plan = plain(line.plan)
    wanted = set(plan_ids)
    if wanted and plan.get("id") not in wanted:
        return "plan_not_eligible"
    if grant["kind"] == "plan":
        if plan.get("id") == grant["entry_id"]:
            return "current_plan"
        # One plan grant at a time: a second one would keep the first's snapshot as the plan to put
        # back, which nothing ends (a free upgrade for ever). Refused rather than chained: each
        # receipt's period stays true, and the line is eligible again once the first one ends.
        return "plan_granted" if plan.get("grant_id") else None
    if grant["entry_id"] not in compatible_options(line, entries):
        return "incompatible_with_plan"
    moment = at or now()
    options = [plain(o) for o in (line.options or [])]
    if any(o.get("id") == grant["entry_id"] and cycles.in_force(o, moment) for o in options):
        return "already_active"
    return None


def not_eligible(code: str) -> Conflict:
    return Conflict(
        f"This line cannot take this offer: {PROBLEMS[code]['en']}.",
        code="line_not_eligible",
        translations={"fr": f"Cette ligne ne peut pas recevoir cette offre : {PROBLEMS[code]['fr']}."},
    )


def owned_line(customer_id: str, line_id: str, *, consistent: bool = False) -> Line:
    """The caller's line; another customer's is as unknown as any (its key is under the caller)."""
    try:
        return Line.get(customer_pk(customer_id), f"LINE#{line_id}#META", consistent_read=consistent)
    except Line.DoesNotExist:
        raise NotFound("No such line.", code="line_not_found") from None


# --- the line as a grant leaves it ------------------------------------------------------------------


def period(grant: dict[str, Any], start: datetime) -> tuple[str, str]:
    return iso(start), iso(start + timedelta(days=int(grant["days"])))


def granted_line(
    grant: dict[str, Any], line: Line, grant_id: str, starts_at: str, ends_at: str
) -> tuple[list[Any], dict[str, Any] | None]:
    """(line's update actions, the plan replaced or None). Options that have ended are dropped as
    the line is written (as purchases do)."""
    moment = datetime.fromisoformat(starts_at)
    snapshot = {**grant["entry"], "starts_at": starts_at, "ends_at": ends_at, "grant_id": grant_id}
    if grant["kind"] == "option":
        options = [o for o in (plain(o) for o in (line.options or [])) if cycles.in_force(o, moment)]
        return [Line.options.set([*options, snapshot])], None
    return [Line.plan.set(snapshot)], plain(line.plan)


def ungranted_line(grant: UpgradeGrant, line: Line) -> list[Any]:
    """The line's update actions that take the grant off (nothing if it is no longer there: an admin
    replaced the plan, the option was removed)."""
    if grant.grant_kind == "option":
        options = [plain(o) for o in (line.options or [])]
        kept = [o for o in options if o.get("grant_id") != grant.grant_id]
        return [Line.options.set(kept)] if len(kept) != len(options) else []
    if plain(line.plan).get("grant_id") == grant.grant_id and grant.previous_plan is not None:
        return [Line.plan.set(plain(grant.previous_plan))]
    return []


# --- receipts ------------------------------------------------------------------------------------------


def receipt_to_wire(receipt: UpgradeReceipt, language: str) -> dict[str, Any]:
    grant = plain(receipt.grant)
    title = plain(receipt.title)
    return {
        "receipt_id": receipt.receipt_id,
        "kind": "upgrade",
        "offer_id": receipt.offer_id,
        "title": title.get(language) or title.get("fr") or receipt.offer_id,
        "line_id": receipt.line_id,
        "msisdn": receipt.msisdn,
        "grant": {
            "kind": grant["kind"],
            "entry_id": grant["entry_id"],
            "name": name_of(grant, language),
            "starts_at": receipt.starts_at,
            "ends_at": receipt.ends_at,
        },
        "amount": {"amount": int(receipt.amount), "currency": receipt.currency},
        "charge_id": receipt.charge_id,
        "created_at": receipt.created_at,
    }


def list_receipts(*, customer_id: str, cursor: str | None, limit: int | None) -> dict[str, Any]:
    """Newest first, a page at a time (one Query; the cursor stays in the caller's receipts)."""
    size = min(max(1, limit or PAGE_DEFAULT), PAGE_MAX)
    pk = customer_pk(customer_id)
    start = cursor_codec.decode(cursor, fixed={"PK": pk}, sk_prefix=RECEIPT_PREFIX) if cursor else None
    result = UpgradeReceipt.query(
        pk,
        UpgradeReceipt.SK.startswith(RECEIPT_PREFIX),
        scan_index_forward=False,
        limit=size,
        last_evaluated_key=start,
    )
    receipts = list(result)
    last = result.last_evaluated_key
    language = customer_language(customer_id) if receipts else "fr"
    return {
        "receipts": [receipt_to_wire(r, language) for r in receipts],
        "next_cursor": cursor_codec.encode(last) if last else None,
    }


# --- ending by itself ------------------------------------------------------------------------------


def expire(*, at: datetime | None = None) -> dict[str, int]:
    """End every grant past its end (the line loses it, a plan is put back), and warn those ending
    within BID_GRANT_REMINDER_DAYS. Overlapping runs end a grant once: the grant's move
    active → ended is the transaction's condition."""
    moment = at or now()
    stamp = iso(moment)
    started = time.monotonic()
    ended = reminded = 0
    # Paged to the end (or the budget): a fixed first page would hold the same grants every run.
    for grant in UpgradeGrant.gsi1.query(ENDING, f"{stamp}#~" >= UpgradeGrant.GSI1SK, page_size=EXPIRY_BATCH):
        if time.monotonic() - started > EXPIRY_BUDGET_S:
            return {"ended": ended, "reminded": reminded}
        if grant.ends_at <= stamp and _end(grant, stamp):
            ended += 1
    horizon = iso(moment + timedelta(days=get_settings().bid_grant_reminder_days))
    for grant in UpgradeGrant.gsi1.query(
        ENDING,
        UpgradeGrant.GSI1SK.between(stamp, f"{horizon}#~"),
        filter_condition=UpgradeGrant.reminded_at.does_not_exist(),
        page_size=EXPIRY_BATCH,
    ):
        if time.monotonic() - started > EXPIRY_BUDGET_S:
            break
        if grant.ends_at > stamp and _remind(grant, stamp):
            reminded += 1
    return {"ended": ended, "reminded": reminded}


def _end(grant: UpgradeGrant, stamp: str) -> bool:
    """True when this run ended it (False: another run did, or the line moved meanwhile: next run)."""
    try:
        line: Line | None = Line.get(grant.PK, f"LINE#{grant.line_id}#META", consistent_read=True)
    except Line.DoesNotExist:
        line = None
    try:
        with transaction() as tx:
            tx.update(
                grant,
                actions=[
                    UpgradeGrant.status.set("ended"),
                    UpgradeGrant.ended_at.set(stamp),
                    UpgradeGrant.GSI1PK.remove(),
                    UpgradeGrant.GSI1SK.remove(),
                ],
                condition=UpgradeGrant.status == "active",
                label="grant",
            )
            actions = ungranted_line(grant, line) if line is not None else []
            if line is not None and actions:
                tx.update(
                    line,
                    actions=[*actions, Line.updated_at.set(iso_ms(now()))],  # ms: the line lock
                    condition=Line.updated_at == line.updated_at,
                    label="line",
                )
    except ConditionsFailed as failed:
        if "grant" not in failed.labels:  # the line changed since it was read: the next run
            log_event("upgrade_end_retry", grant=grant.grant_id)
        return False
    log_event("upgrade_ended", grant=grant.grant_id, customer_id=grant.customer_id)
    _tell(grant, "bidding.upgrade_ended", f"upgrade:{grant.grant_id}:ended")
    return True


def _remind(grant: UpgradeGrant, stamp: str) -> bool:
    _tell(grant, "bidding.upgrade_ending", f"upgrade:{grant.grant_id}:ending")
    try:
        grant.update(
            actions=[UpgradeGrant.reminded_at.set(stamp)], condition=UpgradeGrant.reminded_at.does_not_exist()
        )
    except Exception:  # noqa: BLE001 - told once anyway (the alert's dedup key); the flag only saves reads
        return False
    return True


def _tell(grant: UpgradeGrant, kind: str, dedup_key: str) -> None:
    names = plain(grant.name)
    last = datetime.fromisoformat(grant.ends_at)
    try:
        line = Line.get(grant.PK, f"LINE#{grant.line_id}#META")
        msisdn = phone_number(line.msisdn)
    except Line.DoesNotExist:
        msisdn = ""
    try:
        inbox.notify(
            customer_id=grant.customer_id,
            kind=kind,
            data={
                "offer_id": grant.offer_id,
                "receipt_id": grant.receipt_id,
                "line_id": grant.line_id,
                "msisdn": msisdn,
                "grant_name_fr": names.get("fr") or grant.entry_id,
                "grant_name_en": names.get("en") or names.get("fr") or grant.entry_id,
                "ends_on_fr": long_date(last.date(), "fr"),
                "ends_on_en": long_date(last.date(), "en"),
                "ends_at": grant.ends_at,
            },
            dedup_key=dedup_key,
        )
    except NotFound:  # the customer was removed since
        log_event("upgrade_owner_gone", level=logging.INFO, grant=grant.grant_id)
