"""A customer's lines: set by admins (`admin_set_line`), read by the customer.

A change an admin makes to an existing line is never made behind the customer's back: it needs a
reason (a code of REASONS), and it is recorded, in the same transaction as the line, as a
`provider_change` request (status `done`, so `GET /me/requests` lists it with what changed: plan
from → to, options added and lost, status, number, cycle day, monthly price before and after);
then the customer gets a `line.changed` alert that names each change in words. Setting a line
exactly as it is records nothing. Creating a line records nothing either: there is no earlier
state to lose, the subscription is the customer's own act, and the line shows in `GET /me`.

A plan or an option that stays keeps its snapshot (the terms the customer subscribed to): setting
a line again never re-prices it silently because the catalogue changed meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, field_validator

from chalicelib.account import catalog, cycles
from chalicelib.billing.money import format_money
from chalicelib.common.clock import iso, iso_ms, now
from chalicelib.common.languages import phone_number
from chalicelib.common.strict import JsonInt, Strict
from chalicelib.customers.formats import CUSTOMER_NUMBER, E164
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import (
    CustomerNumber,
    Line,
    LineOwner,
    ServiceRequest,
    customer_pk,
    number_pk,
    plain,
)

LINE_ID = r"^ln_[a-z0-9]{4,32}$"

# Why a provider changes a line, as the customer reads it. Codes rather than free text typed in
# the console: each reason exists in both languages, is worded once and reviewed like code, and
# no typo, internal jargon or personal detail typed by an operator reaches a lock screen. A new
# situation is a new code here.
REASONS: dict[str, dict[str, str]] = {
    "customer_request": {
        "fr": "À votre demande, auprès de notre service client.",
        "en": "As you asked our customer service.",
    },
    "offer_withdrawn": {
        "fr": "Cette offre ou cette option n'est plus proposée.",
        "en": "This plan or option is no longer offered.",
    },
    "migration": {
        "fr": "Votre offre est remplacée par une offre équivalente.",
        "en": "Your plan is replaced by an equivalent one.",
    },
    "unpaid_bills": {
        "fr": "Des factures restent impayées : réglez-les dans l'app pour réactiver votre ligne.",
        "en": "Some bills are unpaid: pay them in the app to reactivate your line.",
    },
    "line_protection": {
        "fr": "Pour protéger votre ligne (perte, vol ou usage inhabituel).",
        "en": "To protect your line (loss, theft or unusual use).",
    },
    "reactivation": {
        "fr": "Votre ligne peut de nouveau être utilisée.",
        "en": "Your line can be used again.",
    },
    "correction": {
        "fr": "Nous corrigeons une erreur sur votre ligne.",
        "en": "We are correcting a mistake on your line.",
    },
}


class SetLineEvent(Strict):
    customer_number: str = Field(pattern=CUSTOMER_NUMBER)
    line_id: str = Field(pattern=LINE_ID)
    msisdn: str = Field(pattern=E164)
    plan_id: str = Field(pattern=catalog.ENTRY_ID)
    option_ids: list[str] = Field(default_factory=list, max_length=20)
    anchor_day: JsonInt = Field(ge=1, le=28)
    status: Literal["active", "suspended"] = "active"
    # Required to change an existing line (ignored when creating one): a code of REASONS.
    reason: str | None = None

    @field_validator("reason")
    @classmethod
    def _known_reason(cls, value: str | None) -> str | None:
        if value is not None and value not in REASONS:
            raise ValueError(f"unknown reason; one of: {', '.join(REASONS)}")
        return value


def line_key(customer_id: str, line_id: str) -> tuple[str, str]:
    return customer_pk(customer_id), f"LINE#{line_id}#META"


def new_request_id() -> str:
    """Sortable by creation (milliseconds first), unguessable (random tail)."""
    return f"req_{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def done_request(
    *,
    customer_id: str,
    request_id: str,
    kind: str,
    line_id: str,
    reason: dict[str, str],
    stamp: str,
    detail: dict[str, Any],
    effective: str | None = None,
) -> ServiceRequest:
    """A request done when made (a purchase, a removal, a suspension, a provider's change): in
    `GET /me/requests` with its reason in both languages, and no GSI1 entry, so the daily
    plan-change job never sees it. `effective`: its date (default: the day of `stamp`)."""
    return ServiceRequest(
        customer_pk(customer_id),
        f"REQUEST#{request_id}",
        request_id=request_id,
        customer_id=customer_id,
        request_kind=kind,
        line_id=line_id,
        status="done",
        reason=reason["en"],
        detail={**detail, "reason_i18n": reason},
        history=[{"status": "done", "reason": reason, "at": stamp}],
        effective_date=effective or stamp[:10],
        created_at=stamp,
        updated_at=stamp,
    )


def set_line_by(operator: Any) -> Callable[[SetLineEvent], dict[str, Any]]:
    """`set_line` for run_admin, recording who ran it. run_admin checks the event's `operator` (and
    takes it out of the fields the model sees) before the action runs, so here it is valid."""
    who = operator.strip() if isinstance(operator, str) and operator.strip() else None

    def run(event: SetLineEvent) -> dict[str, Any]:
        return set_line(event, operator=who)

    run.__name__ = set_line.__name__  # the admin log names the action
    return run


def set_line(event: SetLineEvent, operator: str | None = None) -> dict[str, Any]:
    """Create a line, or change one with a reason the customer reads; a line id is one customer's
    only. Answers the line, `changed` and, for a change, the `request_id` that records it."""
    try:
        customer_id = CustomerNumber.get(number_pk(event.customer_number), "CUSTNUM").customer_id
    except CustomerNumber.DoesNotExist:
        raise NotFound(
            f"No customer with number {event.customer_number}.", code="customer_not_found"
        ) from None
    try:
        existing: Line | None = Line.get(*line_key(customer_id, event.line_id), consistent_read=True)
    except Line.DoesNotExist:
        existing = None
    before_plan = existing.plan.as_dict() if existing else None
    before_options = [plain(o) for o in (existing.options or [])] if existing else []
    plan, allowed = _plan_for(event.plan_id, before_plan)
    held = {o["id"]: o for o in before_options}
    option_ids = list(dict.fromkeys(event.option_ids))
    options = [held.get(o) or catalog.snapshot(catalog.get("option", o)) for o in option_ids]
    wrong = [o for o in option_ids if o not in allowed]
    if wrong:
        raise ValidationFailed(
            f"Options {wrong} cannot be added to plan {plan['id']}.", code="option_not_compatible"
        )
    # What the customer bought in the app or won (dated options) stays while in force and allowed by
    # the plan: the operator's system, which sends `option_ids`, does not know of them.
    current = now()
    options += [
        o
        for o in before_options
        if (o.get("starts_at") or o.get("grant_id"))
        and o["id"] not in option_ids
        and o["id"] in allowed
        and cycles.in_force(o, current)
    ]
    moment = iso(current)
    line = Line(
        *line_key(customer_id, event.line_id),
        line_id=event.line_id,
        customer_id=customer_id,
        msisdn=event.msisdn,
        plan=plan,
        options=options,
        anchor_day=event.anchor_day,
        status=event.status,
        # The customer's own suspension (account/suspension.py) stays while the line stays suspended.
        suspension=existing.suspension
        if existing is not None and existing.status == event.status == "suspended"
        else None,
        created_at=existing.created_at if existing else moment,
        updated_at=iso_ms(current),  # milliseconds: the optimistic lock of every line write
    )
    request: ServiceRequest | None = None
    if existing is not None:
        detail = _changes(existing, before_plan or {}, before_options, line, plan, options)
        if detail is None:  # set exactly as it is: nothing to record, nothing to tell
            return {"customer_id": customer_id, "changed": False, **line_to_wire(existing)}
        if event.reason is None:
            raise ValidationFailed(
                f"Changing line {event.line_id} needs a reason the customer will read: "
                f'add "reason", one of: {", ".join(REASONS)}.',
                code="reason_required",
            )
        request = _provider_request(customer_id, line, detail, event.reason, operator, moment)
    try:
        with transaction() as tx:
            tx.save(
                LineOwner(
                    f"LINE#{event.line_id}", "OWNER", customer_id=customer_id, anchor_day=event.anchor_day
                ),
                condition=LineOwner.PK.does_not_exist() | (LineOwner.customer_id == customer_id),
                label="owner",
            )
            # The change recorded is the one from the state read above: nobody moved it meanwhile.
            tx.save(
                line,
                condition=Line.PK.does_not_exist()
                if existing is None
                else Line.updated_at == existing.updated_at,
                label="unchanged",
            )
            if request is not None:
                tx.save(request, condition=ServiceRequest.PK.does_not_exist())
    except ConditionsFailed as failed:
        if "owner" in failed.labels:
            raise Conflict(f"Line {event.line_id} belongs to another customer.", code="line_taken") from None
        raise Conflict(
            f"Line {event.line_id} changed while this was being set: read it and run this again.",
            code="line_changed_meanwhile",
        ) from None
    answer = {"customer_id": customer_id, "changed": True, **line_to_wire(line)}
    if request is not None:
        answer["request_id"] = request.request_id
        answer["customer_told"] = _tell_changed(request)
    return answer


def _plan_for(plan_id: str, before: dict[str, Any] | None) -> tuple[dict[str, Any], set[str]]:
    """The plan's snapshot and the options allowed on it. A plan that stays keeps the line's own
    snapshot (its terms), and takes the options it allowed or the current catalogue allows (one made
    compatible since can be added; a plan withdrawn since still allows what it did)."""
    if before is None or before.get("id") != plan_id:
        plan = catalog.snapshot(catalog.get("plan", plan_id))
        return plan, set(plan["compatible_options"])
    allowed = set(before.get("compatible_options") or [])
    with contextlib.suppress(NotFound):  # withdrawn since: what the line's terms allowed
        allowed |= set(catalog.get("plan", plan_id).compatible_options or [])
    return before, allowed


def _named(entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": entry["id"], "name": dict(entry.get("name") or {})}


def _monthly(plan: dict[str, Any], options: list[dict[str, Any]]) -> int:
    """The monthly price: the plan and the recurring options in force (a top-up is paid once)."""
    current = now()
    return int(plan["price_amount"]) + sum(
        int(o["price_amount"])
        for o in options
        if (o.get("term") or "recurring") == "recurring" and cycles.in_force(o, current)
    )


def _changes(
    existing: Line,
    before_plan: dict[str, Any],
    before_options: list[dict[str, Any]],
    line: Line,
    plan: dict[str, Any],
    options: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """What the customer will see changed, as a request's detail; None when nothing did. Only what
    the customer subscribed to or can see counts (a stay's snapshot is the same map)."""
    before_ids = [o["id"] for o in before_options]
    after_ids = [o["id"] for o in options]
    added = [_named(o) for o in options if o["id"] not in before_ids]
    lost = [_named(o) for o in before_options if o["id"] not in after_ids]
    plan_moved = before_plan.get("id") != plan["id"]

    def moved(before: Any, after: Any) -> dict[str, Any] | None:
        return {"from": before, "to": after} if before != after else None

    status = moved(existing.status, line.status)
    msisdn = moved(existing.msisdn, line.msisdn)
    anchor = moved(int(existing.anchor_day), int(line.anchor_day))
    if not (plan_moved or added or lost or status or msisdn or anchor):
        return None
    currency = plan["currency"]
    before_price, after_price = _monthly(before_plan, before_options), _monthly(plan, options)
    detail: dict[str, Any] = {
        "line_id": line.line_id,
        "msisdn": line.msisdn,
        "from_plan": _named(before_plan),
        "to_plan": _named(plan),
        "options_added": added,
        "options_lost": lost,
        "status_change": status,
        "msisdn_change": msisdn,
        "anchor_day_change": anchor,
        "monthly_price": {
            "before": {"amount": before_price, "currency": before_plan.get("currency", currency)},
            "after": {"amount": after_price, "currency": currency},
            "difference": {"amount": after_price - before_price, "currency": currency},
        },
    }
    detail["summary"] = {lang: describe(detail, lang) for lang in ("fr", "en")}
    return detail


def _join(names: list[str], language: str) -> str:
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + (" et " if language == "fr" else " and ") + names[-1]


def _name(entry: dict[str, Any], language: str) -> str:
    names = entry.get("name") or {}
    return str(names.get(language) or names.get("fr") or entry["id"])


def options_lost_words(lost: list[dict[str, Any]], msisdn: str, language: str) -> str:
    """« L'option X a été retirée de votre ligne 06 12 34 56 78. »: the sentence that names what a
    change takes away; empty when it takes nothing."""
    if not lost:
        return ""
    names = _join([f"« {_name(o, 'fr')} »" if language == "fr" else _name(o, "en") for o in lost], language)
    number = phone_number(msisdn)
    if language == "fr":
        if len(lost) == 1:
            return f"L'option {names} a été retirée de votre ligne {number}."
        return f"Les options {names} ont été retirées de votre ligne {number}."
    if len(lost) == 1:
        return f"The {names} option was removed from your line {number}."
    return f"The {names} options were removed from your line {number}."


def describe(detail: dict[str, Any], language: str) -> str:
    """A provider change in words, each change a sentence, in the customer's language."""
    fr = language == "fr"
    number = phone_number(detail["msisdn"])
    said: list[str] = []
    if detail.get("msisdn_change"):
        old = phone_number(detail["msisdn_change"]["from"])
        said.append(
            f"Votre ligne {old} a désormais le numéro {number}."
            if fr
            else f"Your line {old} now has the number {number}."
        )
    if detail["from_plan"]["id"] != detail["to_plan"]["id"]:
        before, after = _name(detail["from_plan"], language), _name(detail["to_plan"], language)
        said.append(
            f"Votre ligne {number} passe de l'offre « {before} » à l'offre « {after} »."
            if fr
            else f"Your line {number} moves from the {before} plan to the {after} plan."
        )
    said.append(options_lost_words(detail["options_lost"], detail["msisdn"], language))
    added = detail["options_added"]
    if added:
        names = _join([f"« {_name(o, 'fr')} »" if fr else _name(o, "en") for o in added], language)
        if fr:
            said.append(
                f"L'option {names} a été ajoutée à votre ligne {number}."
                if len(added) == 1
                else f"Les options {names} ont été ajoutées à votre ligne {number}."
            )
        else:
            said.append(
                f"The {names} option was added to your line {number}."
                if len(added) == 1
                else f"The {names} options were added to your line {number}."
            )
    status = detail.get("status_change")
    if status:
        suspended = status["to"] == "suspended"
        if fr:
            said.append(
                f"Votre ligne {number} est suspendue."
                if suspended
                else f"Votre ligne {number} est de nouveau active."
            )
        else:
            said.append(
                f"Your line {number} is suspended." if suspended else f"Your line {number} is active again."
            )
    anchor = detail.get("anchor_day_change")
    if anchor:
        said.append(
            f"Le cycle de facturation de votre ligne {number} commence désormais le {anchor['to']} de chaque mois."
            if fr
            else f"The billing cycle of your line {number} now starts on day {anchor['to']} of each month."
        )
    price = detail["monthly_price"]
    if price["difference"]["amount"] != 0:
        lang = "fr" if fr else "en"
        before = format_money(price["before"]["amount"], price["before"]["currency"], language=lang)
        after = format_money(price["after"]["amount"], price["after"]["currency"], language=lang)
        said.append(f"Prix mensuel : {before} → {after}." if fr else f"Monthly price: {before} → {after}.")
    return " ".join(s for s in said if s)


def _provider_request(
    customer_id: str,
    line: Line,
    detail: dict[str, Any],
    reason_code: str,
    operator: str | None,
    moment: str,
) -> ServiceRequest:
    # Made by the provider, in effect at once: the customer is told, not asked. `operator` (who ran
    # it) is kept for the audit, never shown to the customer.
    return done_request(
        customer_id=customer_id,
        request_id=new_request_id(),
        kind="provider_change",
        line_id=line.line_id,
        reason=REASONS[reason_code],
        stamp=moment,
        detail={**detail, "reason_code": reason_code, "operator": operator},
    )


def _tell_changed(request: ServiceRequest) -> bool:
    """The `line.changed` alert, once per request (its dedup key). The change is recorded whatever
    happens here: a failure is logged for the operator and answered `customer_told: false` rather
    than raised (a retried admin event would find nothing left to change, and tell nobody)."""
    detail = request.detail.as_dict()
    reason = detail["reason_i18n"]
    try:
        inbox.notify(
            customer_id=request.customer_id,
            kind="line.changed",
            data={
                "request_id": request.request_id,
                "line_id": request.line_id,
                "msisdn": detail["msisdn"],
                "reason": detail["reason_code"],
                "reason_fr": reason["fr"],
                "reason_en": reason["en"],
                "changes_fr": detail["summary"]["fr"],
                "changes_en": detail["summary"]["en"],
            },
            dedup_key=f"request:{request.request_id}:line_changed",
        )
    except Exception as error:  # noqa: BLE001 - the change stands; the operator reads why in the log
        log_event(
            "line_change_alert_failed",
            level=logging.ERROR,
            request=request.request_id,
            error=type(error).__name__,
        )
        return False
    return True


def line_to_wire(line: Line, language: str = "fr") -> dict[str, Any]:
    plan = line.plan.as_dict()
    # An option that has ended (a top-up past its cycle, a removed option) is no longer the line's.
    moment = now()
    options = [o for o in (plain(o) for o in (line.options or [])) if cycles.in_force(o, moment)]
    return {
        "line_id": line.line_id,
        "msisdn": line.msisdn,
        "status": line.status,
        "anchor_day": int(line.anchor_day),
        "plan": _entry_wire(plan, language),
        "options": [_entry_wire(o, language) for o in options],
    }


def _entry_wire(entry: dict[str, Any], language: str) -> dict[str, Any]:
    names = entry.get("name") or {}
    wire: dict[str, Any] = {
        "id": entry["id"],
        "name": names.get(language) or names.get("fr") or entry["id"],
        "allowances": entry.get("allowances") or {},
        "price": {"amount": int(entry["price_amount"]), "currency": entry["currency"]},
    }
    if "starts_at" in entry or "ends_at" in entry:  # bought in the app: from when, until when
        wire["starts_at"], wire["ends_at"] = entry.get("starts_at"), entry.get("ends_at")
    return wire
