"""Options, top-ups and bolt-ons bought in the app, and recurring options removed, as payments are
made: a preview, then the change confirmed with a passkey bound to exactly what was shown.

- `line_catalog`: what a line can move to or take now, each entry with its price (minor units and
  as the customer reads it), its term, and why it is not available when it is not.
- `preview` stores itself for 15 minutes under a single-use token bound to the line, the option and
  its price; `buy` (with an Idempotency-Key: a retry answers the first outcome) checks the token,
  the price and the step-up `option.buy` bound to {line, option, amount, currency}, then in ONE
  transaction: the line gains the option (a snapshot with `starts_at` / `ends_at`), the next bill a
  pending charge, `GET /me/requests` a done `option_purchase`, and the token is spent. The usage
  views and the threshold alerts read the line's options (account/cycles.py counts those in force),
  so the allowance grows in that same write.
- `removal_preview` / `remove` (step-up `option.remove`): a recurring option ends with the current
  cycle (it counts until then, and is not billed after); recorded as a done `option_removal`.

Prices are charged on the next bill (a `PendingCharge` the bill import picks up with
`pending_charges`); nothing is charged to a card here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.account import catalog, cycles
from chalicelib.account.lines import done_request, line_to_wire, new_request_id
from chalicelib.account.plan_change import request_to_wire
from chalicelib.account.views import owns_line
from chalicelib.auth import stepup
from chalicelib.billing import idempotency
from chalicelib.billing.money import format_money
from chalicelib.common.clock import epoch, iso, iso_ms, now
from chalicelib.common.languages import long_date, spoken
from chalicelib.errors import Conflict, Expired, NotFound, ValidationFailed
from chalicelib.notifications import inbox
from chalicelib.purchases.models import OptionPreview, PendingCharge
from chalicelib.store.db import ConditionsFailed, retry_conflicts, transaction
from chalicelib.store.models import CatalogEntry, Customer, Item, Line, ServiceRequest, customer_pk, plain

PREVIEW_TTL = timedelta(minutes=15)
BUY_ACTION, REMOVE_ACTION = "option.buy", "option.remove"  # step-up actions (auth/stepup.py)

# Why an entry cannot be taken now: the catalogue's `unavailable.code`, and a 409's code.
UNAVAILABLE: dict[str, dict[str, str]] = {
    "current_plan": {
        "fr": "C'est l'offre actuelle de cette ligne.",
        "en": "This is the line's current plan.",
    },
    "line_suspended": {
        "fr": "La ligne est suspendue : rien ne peut y être changé avant sa réactivation.",
        "en": "The line is suspended: nothing can be changed on it until it is reactivated.",
    },
    "incompatible_with_plan": {
        "fr": "Elle ne peut pas s'ajouter à l'offre actuelle de la ligne.",
        "en": "It cannot be added to the line's current plan.",
    },
    "already_active": {
        "fr": "Elle est déjà active sur cette ligne.",
        "en": "It is already active on this line.",
    },
}

# --- reading a line with what it is offered -------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    line: Line
    language: str
    customer_number: str | None = None

    @property
    def options(self) -> list[dict[str, Any]]:
        return [plain(o) for o in (self.line.options or [])]


def _read_line(customer_id: str, line_id: str, *, consistent: bool = False) -> _Line:
    """The line and the customer's language: one BatchGetItem. Another customer's line is as
    unknown as any (its key is under the caller's own partition)."""
    pk = customer_pk(customer_id)
    items = list(Item.batch_get([(pk, f"LINE#{line_id}#META"), (pk, "PROFILE")], consistent_read=consistent))
    line = next((i for i in items if isinstance(i, Line)), None)
    if line is None:
        raise NotFound("No such line.", code="line_not_found")
    profile = next((i for i in items if isinstance(i, Customer)), None)
    return _Line(
        line=line,
        language=spoken(profile.language if profile else None),
        customer_number=profile.customer_number if profile else None,
    )


def _compatible(line: Line, entries: Iterable[CatalogEntry]) -> set[str]:
    return catalog.compatible_options(plain(line.plan), entries)


def _active(options: list[dict[str, Any]], option_id: str, at: datetime) -> dict[str, Any] | None:
    return next((o for o in options if o["id"] == option_id and cycles.in_force(o, at)), None)


def _unavailable(entry: CatalogEntry, held: _Line, compatible: set[str], at: datetime) -> str | None:
    """Why this entry cannot be taken on this line now (None: it can)."""
    line = held.line
    if catalog.category_of(entry) == "plan":
        if entry.entry_id == line.plan.as_dict()["id"]:
            return "current_plan"
        return "line_suspended" if line.status != "active" else None
    if line.status != "active":
        return "line_suspended"
    if entry.entry_id not in compatible:
        return "incompatible_with_plan"
    # A recurring option is on the line or not; a top-up or a one-off can be bought again when the
    # first is used up (each adds its allowance).
    if catalog.term_of(entry) == "recurring" and _active(held.options, entry.entry_id, at) is not None:
        return "already_active"
    return None


def _refuse(code: str) -> Conflict:
    """The edge answers it in the request's language (chalicelib/api/messages.py)."""
    return Conflict(UNAVAILABLE[code]["en"], code=code, translations={"fr": UNAVAILABLE[code]["fr"]})


# --- words ---------------------------------------------------------------------------------------------


def _name(names: dict[str, str], language: str, fallback: str) -> str:
    return names.get(language) or names.get("fr") or fallback


def _billing(amount: int, currency: str, term: str, language: str) -> dict[str, str]:
    price = format_money(amount, currency, language=language)
    if term == "recurring":
        text = {
            "fr": f"{price} ajoutés à votre prochaine facture, puis {price} par mois tant que l'option est active.",
            "en": f"{price} added to your next bill, then {price} a month while the option is active.",
        }
    else:
        text = {
            "fr": f"{price} ajoutés à votre prochaine facture, une seule fois.",
            "en": f"{price} added to your next bill, once.",
        }
    return {"method": "next_bill", "text": text[language]}


def _entry_wire(entry: CatalogEntry, language: str) -> dict[str, Any]:
    descriptions = entry.description.as_dict() if entry.description else {}
    amount = int(entry.price_amount)
    return {
        "id": entry.entry_id,
        "category": catalog.category_of(entry),
        "name": _name(entry.name.as_dict(), language, entry.entry_id),
        "description": _name(descriptions, language, "") or None,
        "allowances": entry.allowances.as_dict(),
        "price": {"amount": amount, "currency": entry.currency},
        "price_text": format_money(amount, entry.currency, language=language),
        "term": catalog.term_of(entry),
    }


def _snapshot_wire(option: dict[str, Any], language: str) -> dict[str, Any]:
    """An option as the line holds it (its terms when it was taken)."""
    descriptions = option.get("description") or {}
    return {
        "id": option["id"],
        "category": option.get("category") or "option",
        "name": _name(option.get("name") or {}, language, option["id"]),
        "description": _name(descriptions, language, "") or None,
        "allowances": option.get("allowances") or {},
        "term": option.get("term") or "recurring",
    }


def _allowance_changes(
    plan: dict[str, Any], before: list[dict[str, Any]], after: list[dict[str, Any]], at: datetime
) -> list[dict[str, Any]]:
    changes = []
    for kind in cycles.KINDS:
        was, will = cycles.included(plan, before, kind, at=at), cycles.included(plan, after, kind, at=at)
        change = (
            "same" if was == will else ("up" if will is None or (was is not None and will > was) else "down")
        )
        changes.append(
            {"kind": kind, "unit": cycles.UNIT[kind], "before": was, "after": will, "change": change}
        )
    return changes


def _cycle_end(line: Line, at: datetime) -> datetime:
    """The first instant of the next cycle (UTC, as cycles are)."""
    start = cycles.next_cycle_start(cycles.cycle_start(at.date(), int(line.anchor_day)))
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


# --- the catalogue of a line ------------------------------------------------------------------------


def line_catalog(*, customer_id: str, line_id: str) -> dict[str, Any]:
    """Every plan the line could move to and every option, top-up and bolt-on, each with whether
    it can be taken now and why not. Two reads: the catalogue (one Query), the line (one
    BatchGetItem with the customer's language)."""
    held = _read_line(customer_id, line_id)
    entries = catalog.load_all()
    compatible, moment = _compatible(held.line, entries), now()
    order = {category: i for i, category in enumerate(catalog.CATEGORIES)}
    items = []
    for entry in sorted(
        entries, key=lambda e: (order[catalog.category_of(e)], int(e.price_amount), e.entry_id)
    ):
        code = _unavailable(entry, held, compatible, moment)
        item = {**_entry_wire(entry, held.language), "available": code is None}
        if code is not None:
            item["unavailable"] = {"code": code, "message": UNAVAILABLE[code][held.language]}
        items.append(item)
    return {"line_id": line_id, "items": items}


# --- buying -------------------------------------------------------------------------------------------


def _option_entry(entries: list[CatalogEntry], option_id: str) -> CatalogEntry:
    entry = next((e for e in entries if e.entry_kind == "option" and e.entry_id == option_id), None)
    if entry is None:
        raise NotFound(f"No option {option_id!r} in the catalogue.", code="option_not_found")
    return entry


def _with_dates(entry: CatalogEntry, line: Line, at: datetime) -> dict[str, Any]:
    """The option's snapshot as the line will hold it: from now, to the end of the cycle unless it
    recurs."""
    snapshot = catalog.snapshot(entry)
    ends = None if snapshot["term"] == "recurring" else iso(_cycle_end(line, at))
    return {**snapshot, "starts_at": iso(at), "ends_at": ends}


def preview(*, customer_id: str, line_id: str, option_id: str) -> dict[str, Any]:
    """What buying this option changes, what it costs and how it is billed; stored 15 minutes under
    a single-use token bound to the line, the option and its price."""
    held = _read_line(customer_id, line_id)
    entries = catalog.load_all()
    entry = _option_entry(entries, option_id)
    moment = now()
    code = _unavailable(entry, held, _compatible(held.line, entries), moment)
    if code is not None:
        raise _refuse(code)
    added = _with_dates(entry, held.line, moment)
    amount, currency, language = int(entry.price_amount), entry.currency, held.language
    summary = {
        "line_id": line_id,
        "option": _snapshot_wire(added, language),
        "allowances_added": added["allowances"],
        "allowances": _allowance_changes(
            held.line.plan.as_dict(), held.options, [*held.options, added], moment
        ),
        # Every option adds to the plan: none takes another's place in today's catalogue.
        "replaces": [],
        "price": {"amount": amount, "currency": currency},
        "price_text": format_money(amount, currency, language=language),
        "billing": _billing(amount, currency, added["term"], language),
        "takes_effect_at": iso(moment),
        "ends_at": added["ends_at"],
    }
    return _store_preview(customer_id, "buy", "opp_", line_id, option_id, amount, currency, summary)


def _store_preview(
    customer_id: str,
    action: str,
    prefix: str,
    line_id: str,
    option_id: str,
    amount: int,
    currency: str,
    summary: dict[str, Any],
) -> dict[str, Any]:
    token = prefix + secrets.token_hex(16)
    expires = now() + PREVIEW_TTL
    OptionPreview(
        customer_pk(customer_id),
        f"ADDON#PREVIEW#{token}",
        action=action,
        line_id=line_id,
        option_id=option_id,
        price_amount=amount,
        currency=currency,
        summary=summary,
        expires_at=epoch(expires),
    ).save()
    return {**summary, "preview_token": token, "preview_expires_at": iso(expires)}


def _shown(customer_id: str, token: str, *, action: str, line_id: str, option_id: str) -> OptionPreview:
    """The preview this change is confirmed with: unknown or spent (400 `preview_required`, or 404
    when the line is not the caller's), for another line or option (400 `preview_mismatch`), or
    older than 15 minutes (410 `preview_expired`)."""
    try:
        shown = OptionPreview.get(customer_pk(customer_id), f"ADDON#PREVIEW#{token}", consistent_read=True)
    except OptionPreview.DoesNotExist:
        if not owns_line(customer_id, line_id):  # another customer's line: as unknown as any (404)
            raise NotFound("No such line.", code="line_not_found") from None
        raise ValidationFailed(
            "Show the preview first: this preview token is unknown or already used.", code="preview_required"
        ) from None
    if shown.action != action or shown.line_id != line_id or shown.option_id != option_id:
        raise ValidationFailed(
            "This preview was for another line or option: preview this change first.", code="preview_mismatch"
        )
    if (shown.expires_at or 0) <= epoch(now()):
        raise Expired("This preview is more than 15 minutes old: preview again.", code="preview_expired")
    return shown


def buy_params(*, line_id: str, option_id: str, amount: int, currency: str) -> dict[str, Any]:
    """What the step-up `option.buy` binds (POST /me/step-up sends the same fields)."""
    return {"line_id": line_id, "option_id": option_id, "amount": amount, "currency": currency}


def removal_params(*, line_id: str, option_id: str) -> dict[str, Any]:
    return {"line_id": line_id, "option_id": option_id}


def buy(
    *,
    customer_id: str,
    session_id: str,
    line_id: str,
    option_id: str,
    preview_token: str,
    key: str,
    challenge_id: str,
    credential: dict[str, Any],
) -> dict[str, Any]:
    """Buy once per Idempotency-Key (billing/idempotency.py): a retry answers the first outcome
    (success or refusal), another body with the key is a 422 `idempotency_key_reused`."""
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "what": "option_purchase",
                "line_id": line_id,
                "option_id": option_id,
                "preview_token": preview_token,
                "challenge_id": challenge_id,
                "credential": credential,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    try:
        return idempotency.run_once(
            customer_id=customer_id,
            key=key,
            fingerprint=fingerprint,
            operation=lambda resumed: _buy(
                customer_id=customer_id,
                session_id=session_id,
                line_id=line_id,
                option_id=option_id,
                preview_token=preview_token,
                purchase_id=purchase_id_for(customer_id, key),
                challenge_id=challenge_id,
                credential=credential,
                resumed=resumed,
            ),
        )
    except idempotency.IdempotencyMismatch:
        raise idempotency.IdempotencyMismatch(
            "This Idempotency-Key was used with another request: use a new key for a new purchase."
        ) from None
    except Conflict as error:
        if error.code != "request_in_progress":
            raise
        raise Conflict(
            "This purchase is still being processed: retry with the same key in a moment.",
            code="request_in_progress",
            retry_after_s=error.retry_after_s,
        ) from None


PENDING_FEED = "CHARGES#PENDING"  # GSI1 partition of the charges no bill has taken yet


def purchase_id_for(customer_id: str, key: str) -> str:
    """One purchase per customer and Idempotency-Key: the charge's key derives from it."""
    return "pur_" + hashlib.sha256(f"{customer_id}|{key}".encode()).hexdigest()[:24]


def _buy(
    *,
    customer_id: str,
    session_id: str,
    line_id: str,
    option_id: str,
    preview_token: str,
    purchase_id: str,
    challenge_id: str,
    credential: dict[str, Any],
    resumed: bool,
) -> dict[str, Any]:
    pk = customer_pk(customer_id)
    if resumed:  # an earlier run of this key died: it may have committed already
        done = _charge(pk, purchase_id)
        if done is not None:
            return _answer(_same_purchase(done, line_id, option_id), customer_id, line_id)
    shown = _shown(customer_id, preview_token, action="buy", line_id=line_id, option_id=option_id)
    held = _read_line(customer_id, line_id, consistent=True)
    entries = catalog.load_all()
    entry = _option_entry(entries, option_id)
    moment = now()
    code = _unavailable(entry, held, _compatible(held.line, entries), moment)
    if code is not None:
        raise _refuse(code)
    amount, currency = int(shown.price_amount), shown.currency
    if int(entry.price_amount) != amount or entry.currency != currency:
        raise Conflict("The price has changed since the preview: preview again.", code="price_changed")
    try:
        stepup.confirm(
            customer_id=customer_id,
            session_id=session_id,
            action=BUY_ACTION,
            params=buy_params(line_id=line_id, option_id=option_id, amount=amount, currency=currency),
            challenge_id=challenge_id,
            credential=credential,
        )
    except NotFound:
        # Spent by an earlier run of this very purchase, which failed before committing: the
        # confirmation was checked then (recorded on the preview). Anything else: confirm again.
        if not (resumed and shown.confirmed_for == purchase_id):
            raise
    else:
        retry_conflicts(
            lambda: shown.update(actions=[OptionPreview.confirmed_for.set(purchase_id)]),
            what="option_preview",
        )
    added = _with_dates(entry, held.line, moment)
    # Options that have ended are dropped from the line as it is written.
    options = [o for o in held.options if cycles.in_force(o, moment)] + [added]
    names = dict(added["name"])
    reason = {
        "fr": f"« {_name(names, 'fr', option_id)} » est active sur votre ligne"
        + (f" jusqu'au {long_date(_last_day(added), 'fr')}." if added["ends_at"] else "."),
        "en": f"\u201c{_name(names, 'en', option_id)}\u201d is active on your line"
        + (f" until {long_date(_last_day(added), 'en')}." if added["ends_at"] else "."),
    }
    request_id, stamp = new_request_id(), iso(moment)
    detail = {
        "option": {"id": option_id, "name": names},
        "price": {"amount": amount, "currency": currency},
        "starts_at": added["starts_at"],
        "ends_at": added["ends_at"],
    }
    request = done_request(
        customer_id=customer_id,
        request_id=request_id,
        kind="option_purchase",
        line_id=line_id,
        reason=reason,
        stamp=stamp,
        detail=detail,
    )
    purchase = {
        "purchase_id": purchase_id,
        "request_id": request_id,
        "line_id": line_id,
        "option": _snapshot_wire(added, held.language),
        "price": {"amount": amount, "currency": currency},
        "price_text": format_money(amount, currency, language=held.language),
        "billing": _billing(amount, currency, added["term"], held.language),
        "charge": {"status": "pending", "amount": {"amount": amount, "currency": currency}},
        "takes_effect_at": added["starts_at"],
        "ends_at": added["ends_at"],
        "created_at": stamp,
    }
    charge = PendingCharge(
        pk,
        f"CHARGE#{purchase_id}",
        purchase_id=purchase_id,
        request_id=request_id,
        customer_id=customer_id,
        line_id=line_id,
        option_id=option_id,
        label=names,
        amount=amount,
        currency=currency,
        status="pending",
        purchase=purchase,
        created_at=stamp,
        GSI1PK=PENDING_FEED,
        GSI1SK=f"{iso_ms(now())}#{purchase_id}",  # milliseconds: the feed lists in purchase order
        customer_number=held.customer_number,
        kind="charge",
        term=added["term"],
        # A recurring option's first month is this charge; from the next cycle the billing system
        # bills it monthly while the line has it (until a subscription_end in this feed).
        monthly_from=iso(_cycle_end(held.line, moment)) if added["term"] == "recurring" else None,
    )
    try:
        with transaction() as tx:
            tx.update(
                held.line,
                actions=[Line.options.set(options), Line.updated_at.set(iso_ms(moment))],
                # Nothing changed on the line since it was read (another purchase, an admin, a
                # plan change), and it is still active.
                condition=(Line.updated_at == held.line.updated_at) & (Line.status == "active"),
                label="line",
            )
            tx.save(charge, condition=PendingCharge.PK.does_not_exist(), label="charge")
            tx.save(request, condition=ServiceRequest.PK.does_not_exist(), label="request")
            tx.delete(shown, condition=OptionPreview.PK.exists(), label="preview")  # a preview confirms once
    except ConditionsFailed as failed:
        if "charge" in failed.labels:  # this key's purchase was committed by a run that died after
            done = _charge(pk, purchase_id)
            if done is not None:
                return _answer(_same_purchase(done, line_id, option_id), customer_id, line_id)
        if "preview" in failed.labels:
            raise ValidationFailed("This preview token was already used.", code="preview_required") from None
        raise Conflict(
            "The line changed while this was confirmed: preview the option again.", code="line_changed"
        ) from None
    _tell(customer_id, request_id, reason, "Achat", "Purchase", names)
    held.line.options = options
    return {"purchase": purchase, "line": line_to_wire(held.line, held.language)}


def _last_day(option: dict[str, Any]) -> date:
    """The last day an option counts (it ends at midnight UTC starting the next cycle)."""
    return datetime.fromisoformat(option["ends_at"]).date() - timedelta(days=1)


def _same_purchase(done: PendingCharge, line_id: str, option_id: str) -> PendingCharge:
    """The committed purchase of this key, if it is this purchase: a key reused after its 24 h
    record expired, for another line or option, is refused, never answered with the old one."""
    if (done.line_id, done.option_id) != (line_id, option_id):
        raise idempotency.IdempotencyMismatch(
            "This Idempotency-Key was used for another purchase: use a new key."
        )
    return done


def _charge(pk: str, purchase_id: str) -> PendingCharge | None:
    try:
        return PendingCharge.get(pk, f"CHARGE#{purchase_id}", consistent_read=True)
    except PendingCharge.DoesNotExist:
        return None


def _answer(charge: PendingCharge, customer_id: str, line_id: str) -> dict[str, Any]:
    """A committed purchase's answer, for a run that resumes it."""
    held = _read_line(customer_id, line_id, consistent=True)
    reason_names = charge.label.as_dict()
    request = ServiceRequest.get(
        customer_pk(customer_id), f"REQUEST#{charge.request_id}", consistent_read=True
    )
    reason = (request.detail.as_dict() if request.detail else {}).get("reason_i18n") or {}
    if reason:
        _tell(customer_id, charge.request_id, reason, "Achat", "Purchase", reason_names)
    return {"purchase": charge.purchase.as_dict(), "line": line_to_wire(held.line, held.language)}


def _tell(
    customer_id: str,
    request_id: str,
    reason: dict[str, str],
    what_fr: str,
    what_en: str,
    names: dict[str, str],
) -> None:
    """The receipt in the inbox (its dedup key makes it once, also when a resumed run tells again)."""
    inbox.notify(
        customer_id=customer_id,
        kind="service.request_updated",
        data={
            "request_id": request_id,
            "status": "done",
            "summary_fr": f"{what_fr} : {_name(names, 'fr', '')}".strip(" :"),
            "summary_en": f"{what_en}: {_name(names, 'en', '')}".strip(" :"),
            "reason_fr": reason["fr"],
            "reason_en": reason["en"],
        },
        dedup_key=f"request:{request_id}:done",
    )


def pending_charges(*, customer_id: str) -> list[dict[str, Any]]:
    """The line items waiting for the customer's next bill (one Query), for the bill import."""
    return [
        {
            "purchase_id": c.purchase_id,
            "line_id": c.line_id,
            "option_id": c.option_id,
            "label": c.label.as_dict(),
            "amount": {"amount": int(c.amount), "currency": c.currency},
            "created_at": c.created_at,
        }
        for c in PendingCharge.query(customer_pk(customer_id), PendingCharge.SK.startswith("CHARGE#"))
        if c.status == "pending" and (c.kind or "charge") == "charge"
    ]


# --- removing a recurring option ----------------------------------------------------------------------


def _removable(held: _Line, option_id: str, at: datetime) -> dict[str, Any]:
    option = _active(held.options, option_id, at)
    if option is None:
        raise NotFound("This line has no such option.", code="option_not_found")
    if (option.get("term") or "recurring") != "recurring":
        raise Conflict(
            "This option ends by itself at the end of the cycle.",
            code="not_removable",
            translations={"fr": "Cette option s'arrête d'elle-même à la fin du cycle."},
        )
    if option.get("ends_at"):
        raise Conflict("This option is already set to end.", code="removal_scheduled")
    return option


def removal_preview(*, customer_id: str, line_id: str, option_id: str) -> dict[str, Any]:
    """What removing this recurring option loses, and when: at the end of the current cycle (the
    allowances of the next one, without it); stored 15 minutes under a single-use token."""
    held = _read_line(customer_id, line_id)
    moment = now()
    option = _removable(held, option_id, moment)
    ends = _cycle_end(held.line, moment)
    kept = [o for o in held.options if o is not option]
    amount, currency, language = int(option["price_amount"]), option["currency"], held.language
    summary = {
        "line_id": line_id,
        "option": _snapshot_wire(option, language),
        "allowances": _allowance_changes(held.line.plan.as_dict(), held.options, kept, moment),
        "price": {"amount": amount, "currency": currency},
        "price_text": format_money(amount, currency, language=language),
        "ends_at": iso(ends),
        "effective_date": ends.date().isoformat(),
    }
    return _store_preview(customer_id, "remove", "orp_", line_id, option_id, amount, currency, summary)


def remove(
    *,
    customer_id: str,
    session_id: str,
    line_id: str,
    option_id: str,
    preview_token: str,
    challenge_id: str,
    credential: dict[str, Any],
) -> dict[str, Any]:
    """Set the option to end with the current cycle (confirmed with `option.remove`), recorded as a
    done `option_removal`; the preview is spent in the same transaction."""
    shown = _shown(customer_id, preview_token, action="remove", line_id=line_id, option_id=option_id)
    held = _read_line(customer_id, line_id, consistent=True)
    moment = now()
    option = _removable(held, option_id, moment)
    stepup.confirm(
        customer_id=customer_id,
        session_id=session_id,
        action=REMOVE_ACTION,
        params=removal_params(line_id=line_id, option_id=option_id),
        challenge_id=challenge_id,
        credential=credential,
    )
    ends = _cycle_end(held.line, moment)
    options = [{**o, "ends_at": iso(ends)} if o is option else o for o in held.options]
    names = dict(option.get("name") or {})
    last = ends.date() - timedelta(days=1)
    reason = {
        "fr": f"« {_name(names, 'fr', option_id)} » reste active jusqu'au {long_date(last, 'fr')}, puis s'arrête.",
        "en": f"\u201c{_name(names, 'en', option_id)}\u201d stays active until {long_date(last, 'en')}, then ends.",
    }
    stamp = iso(moment)
    detail = {
        "option": {"id": option_id, "name": names},
        "price": {"amount": int(option["price_amount"]), "currency": option["currency"]},
        "ends_at": iso(ends),
    }
    request = done_request(
        customer_id=customer_id,
        request_id=new_request_id(),
        kind="option_removal",
        line_id=line_id,
        reason=reason,
        stamp=stamp,
        detail=detail,
        effective=ends.date().isoformat(),
    )
    # The billing system bills the option monthly: it learns here when to stop (never billed itself).
    change_id = "sub_" + request.request_id.removeprefix("req_")
    stop = PendingCharge(
        customer_pk(customer_id),
        f"CHARGE#{change_id}",
        purchase_id=change_id,
        request_id=request.request_id,
        customer_id=customer_id,
        line_id=line_id,
        option_id=option_id,
        label=names,
        amount=int(option["price_amount"]),
        currency=option["currency"],
        status="pending",
        purchase={},
        created_at=stamp,
        GSI1PK=PENDING_FEED,
        GSI1SK=f"{iso_ms(moment)}#{change_id}",
        customer_number=held.customer_number,
        kind="subscription_end",
        term="recurring",
        ends_at=iso(ends),
    )
    try:
        with transaction() as tx:
            tx.update(
                held.line,
                actions=[Line.options.set(options), Line.updated_at.set(iso_ms(moment))],
                condition=Line.updated_at == held.line.updated_at,
                label="line",
            )
            tx.save(request, condition=ServiceRequest.PK.does_not_exist(), label="request")
            tx.save(stop, condition=PendingCharge.PK.does_not_exist(), label="stop")
            tx.delete(shown, condition=OptionPreview.PK.exists(), label="preview")
    except ConditionsFailed as failed:
        if "preview" in failed.labels:
            raise ValidationFailed("This preview token was already used.", code="preview_required") from None
        raise Conflict(
            "The line changed while this was confirmed: preview the removal again.", code="line_changed"
        ) from None
    _tell(customer_id, request.request_id, reason, "Retrait", "Removal", names)
    held.line.options = options
    return {"request": request_to_wire(request), "line": line_to_wire(held.line, held.language)}


# --- the step-up's statements ---------------------------------------------------------------------------


def describe(*, customer_id: str, action: str, params: dict[str, Any]) -> dict[str, str]:
    """The option and its price, per language, for the step-up statement; 404 for another
    customer's line (a step-up is never asked about it) or an option it cannot name."""
    describers: dict[str, Callable[[str, dict[str, Any]], dict[str, str]]] = {
        BUY_ACTION: _describe_buy,
        REMOVE_ACTION: _describe_removal,
    }
    return describers[action](customer_id, params)


def _describe_buy(customer_id: str, params: dict[str, Any]) -> dict[str, str]:
    if not owns_line(customer_id, params["line_id"]):
        raise NotFound("No such line.", code="line_not_found")
    names = catalog.get("option", params["option_id"]).name.as_dict()
    return _named(names, params["option_id"], int(params["amount"]), params["currency"])


def _describe_removal(customer_id: str, params: dict[str, Any]) -> dict[str, str]:
    held = _read_line(customer_id, params["line_id"])
    option = _active(held.options, params["option_id"], now())
    if option is None:
        raise NotFound("This line has no such option.", code="option_not_found")
    names = option.get("name") or {}
    return _named(names, option["id"], int(option["price_amount"]), option["currency"])


def _named(names: dict[str, str], fallback: str, amount: int, currency: str) -> dict[str, str]:
    return {
        "fr": f"« {_name(names, 'fr', fallback)} » ({format_money(amount, currency, language='fr')})",
        "en": f"\u201c{_name(names, 'en', fallback)}\u201d ({format_money(amount, currency, language='en')})",
    }
