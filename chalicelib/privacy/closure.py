"""Closing one's account in the app: what ends and when (preview), the passkey-confirmed closure, its
cancellation before it takes effect, and the closure as it stands.

- When: a line ends at the end of its commitment when its plan snapshot states one
  (`commitment_ends`, the last committed day, YYYY-MM-DD), otherwise at once. The lines in this model
  carry no commitment today, so a closure is effective at once; the account's effective date is the
  latest of its lines' (`ends` per line says which rule applied). The erasure job
  (chalicelib/privacy/erasure.py, daily) erases from the first run after that date.
- Confirmed with the step-up `account.close`, bound to the effective date (and, as every step-up,
  to the customer and the session): a confirmation seen for another date changes nothing. ONE
  transaction writes the closure (status `scheduled`, `effective_at`, GSI1 = CLOSURES#scheduled /
  <effective_at>#<customer>: the job's to-do list) and turns autopay off. Then the customer's bids on
  open offers are withdrawn through the bidding service (a bid holds no money until its offer
  clears: nothing to refund or release), and the `account.closure_scheduled` alert says the date.
- A second closure while one is scheduled (or erasing, or closed) is 409 `closure_already_scheduled`;
  a replayed confirmation is refused the same way (and, once the closure is cancelled, by the
  step-up itself: a challenge is single use).
- Cancellation (step-up `account.close_cancel`, bound to the same date) while the closure is still
  scheduled and not yet effective: status `cancelled`. Autopay stays off (the customer turns it on
  again, with its own confirmation) and withdrawn bids stay withdrawn.
- Open bills are not cancelled: closing does not erase what is owed and does not wait for it; the
  bills stay payable (and are kept, pseudonymised, 10 years: erasure.py).
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from typing import Any

from chalicelib.auth import stepup
from chalicelib.common.clock import iso, now
from chalicelib.common.languages import phone_number, spoken
from chalicelib.errors import Conflict, NotFound
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.privacy.models import CLOSURE_SK, AccountClosure, closures_partition
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.kinds import register_item_kinds
from chalicelib.store.models import (
    Bill,
    BillingSettings,
    Customer,
    Item,
    Line,
    Offer,
    OfferBid,
    customer_pk,
    plain,
)

__all__ = [
    "CANCEL_ACTION",
    "CLOSE_ACTION",
    "RETENTION_YEARS",
    "cancel",
    "close",
    "current",
    "describe",
    "open_bids",
    "preview",
    "withdraw_bids",
]

CLOSE_ACTION, CANCEL_ACTION = "account.close", "account.close_cancel"  # step-up actions (auth/stepup.py)
RETENTION_YEARS = 10  # bills and payments: Code de commerce L123-22 (accounting documents, 10 years)

KEPT = [
    {
        "what": "bills_and_payments",
        "for_years": RETENTION_YEARS,
        "basis": "Code de commerce L123-22",
        "form": "pseudonymised",
        "detail": {
            "fr": "Factures, paiements, achats à facturer et échéanciers : gardés 10 ans (obligation comptable), "
            "sans nom ni coordonnées, sous votre numéro client.",
            "en": "Bills, payments, purchases still to be billed and payment arrangements: kept 10 years "
            "(accounting law), without name or contact details, under your customer number.",
        },
    }
]
ERASED = [
    "contact_details",
    "passkeys",
    "sessions",
    "devices",
    "alerts",
    "security_events",
    "preferences",
    "lines_and_usage",
    "requests",
    "payment_methods",
    "cases_and_documents",
    "data_exports",
]


def _closure_id() -> str:
    return f"clo_{secrets.token_hex(10)}"


def _partition(customer_id: str) -> list[Item]:
    """Profile, lines, bills and billing settings: one Query of the customer's partition (read
    consistently: the closure is conditioned on what was read)."""
    register_item_kinds()
    return list(Item.query(customer_pk(customer_id), consistent_read=True))


def _line_end(line: Line, moment: datetime) -> tuple[str, datetime]:
    commitment = (plain(line.plan) or {}).get("commitment_ends")
    if isinstance(commitment, str):
        try:
            last = date.fromisoformat(commitment)
        except ValueError:
            last = None
        if last is not None:
            ends = datetime.combine(last + timedelta(days=1), time(), tzinfo=moment.tzinfo)
            if ends > moment:
                return "end_of_commitment", ends
    return "at_once", moment


def effective_date(effective_at: str) -> str:
    return effective_at[:10]


def _names(entry: dict[str, Any], language: str) -> str:
    names = entry.get("name") or {}
    return str(names.get(language) or names.get("fr") or entry.get("id", ""))


def open_bids(customer_id: str) -> list[dict[str, Any]]:
    """The customer's bids on offers still taking bids (a bid lives in the offer's partition)."""
    from chalicelib.bidding.offers import ACTIVE, bid_key

    found: list[dict[str, Any]] = []
    for offer in Offer.gsi1.query(ACTIVE):
        if offer.status != "open":
            continue
        try:
            bid = OfferBid.get(*bid_key(offer, customer_id))
        except OfferBid.DoesNotExist:
            continue
        found.append(
            {
                "offer_id": offer.offer_id,
                "amount": int(bid.amount),
                "currency": bid.currency,
                # Bids are charged only when the offer clears: withdrawing one releases nothing.
                "money": "nothing_charged",
            }
        )
    return found


def _plan(customer_id: str, moment: datetime) -> dict[str, Any]:
    items = _partition(customer_id)
    profile = next((i for i in items if isinstance(i, Customer)), None)
    if profile is None:
        raise NotFound("No such customer.", code="customer_not_found")
    language = spoken(profile.language)
    lines, effective = [], moment
    for line in (i for i in items if isinstance(i, Line)):
        rule, ends = _line_end(line, moment)
        effective = max(effective, ends)
        plan = plain(line.plan) or {}
        lines.append(
            {
                "line_id": line.line_id,
                "number": phone_number(line.msisdn),
                "status": line.status,
                "plan": {"id": plan.get("id"), "name": _names(plan, language)},
                "options": [
                    {"id": o.get("id"), "name": _names(o, language)}
                    for o in (plain(o) or {} for o in (line.options or []))
                ],
                "ends": rule,
                "ends_at": iso(ends),
            }
        )
    settings = next((i for i in items if isinstance(i, BillingSettings)), None)
    bills = [
        {
            "bill_id": b.bill_id,
            "balance": int(b.balance),
            "currency": b.currency,
            "due_date": b.due_date,
        }
        for b in items
        if isinstance(b, Bill) and int(b.balance) > 0
    ]
    return {
        "profile": profile,
        "settings": settings,
        "closure": next((i for i in items if isinstance(i, AccountClosure)), None),
        "wire": {
            "effective_at": iso(effective),
            "lines": lines,
            "autopay": {"enabled": bool(settings and settings.autopay), "after_closure": False},
            "pending_bids": open_bids(customer_id),
            "open_bills": bills,
            # Closing does not cancel what is owed, and does not wait for it either.
            "open_bills_block_closure": False,
            "kept": KEPT,
            "erased": ERASED,
            "step_up": {"action": CLOSE_ACTION, "effective_date": effective_date(iso(effective))},
        },
    }


def preview(*, customer_id: str) -> dict[str, Any]:
    return dict(_plan(customer_id, now())["wire"])


def _already(closure: AccountClosure) -> Conflict:
    return Conflict(
        f"Your account's closure is already {closure.status} (effective {closure.effective_at}).",
        code="closure_already_scheduled",
    )


def to_wire(closure: AccountClosure) -> dict[str, Any]:
    return {
        "closure_id": closure.closure_id,
        "status": closure.status,
        "requested_at": closure.requested_at,
        "effective_at": closure.effective_at,
        "lines": [plain(x) for x in (closure.lines or [])],
        "autopay_turned_off": bool(closure.autopay_turned_off),
        "withdrawn_bids": list(closure.withdrawn_bids or []),
        "cancelled_at": closure.cancelled_at,
        "erasing_started_at": closure.erasing_started_at,
        "closed_at": closure.closed_at,
        "erase_after": closure.erase_after,
    }


def close(
    *, customer_id: str, session_id: str, challenge_id: str, credential: dict[str, Any]
) -> dict[str, Any]:
    """Schedule the closure (confirmed with `account.close` for the effective date the preview showed)."""
    moment = now()
    planned = _plan(customer_id, moment)
    wire: dict[str, Any] = planned["wire"]
    existing: AccountClosure | None = planned["closure"]
    if existing is not None and existing.status != "cancelled":
        raise _already(existing)
    stepup.confirm(
        customer_id=customer_id,
        session_id=session_id,
        action=CLOSE_ACTION,
        params=close_params(effective_date=wire["step_up"]["effective_date"]),
        challenge_id=challenge_id,
        credential=credential,
    )
    effective_at = str(wire["effective_at"])
    settings: BillingSettings | None = planned["settings"]
    closure = AccountClosure(
        customer_pk(customer_id),
        CLOSURE_SK,
        GSI1PK=closures_partition("scheduled"),
        GSI1SK=f"{effective_at}#{customer_id}",
        closure_id=_closure_id(),
        customer_id=customer_id,
        status="scheduled",
        requested_at=iso(moment),
        effective_at=effective_at,
        lines=[{"line_id": x["line_id"], "ends": x["ends"], "ends_at": x["ends_at"]} for x in wire["lines"]],
        autopay_turned_off=bool(settings and settings.autopay),
        counts={},
    )
    try:
        with transaction() as tx:
            # Absent, or a cancelled one replaced: two closures at once make one.
            tx.save(
                closure,
                condition=AccountClosure.PK.does_not_exist() | (AccountClosure.status == "cancelled"),
                label="closure",
            )
            if settings is not None and settings.autopay:
                tx.update(settings, actions=[BillingSettings.autopay.set(False)], label="autopay")
    except ConditionsFailed:
        raise _already(_read(customer_id)) from None
    # The bids the preview's read found (the erasure job withdraws any placed since).
    withdrawn = withdraw_bids(customer_id, bids=wire["pending_bids"])
    if withdrawn:
        closure.update(actions=[AccountClosure.withdrawn_bids.set(withdrawn)])
    inbox.notify(
        customer_id=customer_id,
        kind="account.closure_scheduled",
        data={
            "closure_id": closure.closure_id,
            "effective_at": effective_at,
            "effective_date": effective_date(effective_at),
        },
        dedup_key=f"closure:{closure.closure_id}:scheduled",
    )
    log_event("account_closure_scheduled", customer_id=customer_id, effective_at=effective_at)
    return to_wire(closure)


def withdraw_bids(customer_id: str, *, bids: list[dict[str, Any]] | None = None) -> list[str]:
    """Withdraw each bid on an open offer through the bidding service; an offer that closed meanwhile
    keeps its bid (the clearing decides it, as for any bid). `bids`: `open_bids` already read by
    the caller (absent: looked up here)."""
    from chalicelib.bidding import bids as bidding

    withdrawn = []
    for bid in open_bids(customer_id) if bids is None else bids:
        try:
            bidding.withdraw(customer_id=customer_id, offer_id=bid["offer_id"])
        except (NotFound, Conflict):
            continue
        withdrawn.append(str(bid["offer_id"]))
    return withdrawn


def _read(customer_id: str) -> AccountClosure:
    try:
        return AccountClosure.get(customer_pk(customer_id), CLOSURE_SK, consistent_read=True)
    except AccountClosure.DoesNotExist:
        raise NotFound("You have not asked to close your account.", code="closure_not_found") from None


def current(*, customer_id: str) -> dict[str, Any]:
    return to_wire(_read(customer_id))


def cancel(
    *, customer_id: str, session_id: str, challenge_id: str, credential: dict[str, Any]
) -> dict[str, Any]:
    """Cancel a scheduled closure (confirmed with `account.close_cancel`) until the erasure job
    takes it: also past its effective date, as an "at once" closure is, until the next daily run
    (erasure.py moves it to `erasing` with a condition on `scheduled`: one of the two wins whole)."""
    closure = _read(customer_id)
    moment = iso(now())
    if closure.status != "scheduled":
        raise _not_cancellable(closure)
    stepup.confirm(
        customer_id=customer_id,
        session_id=session_id,
        action=CANCEL_ACTION,
        params=close_params(effective_date=effective_date(closure.effective_at)),
        challenge_id=challenge_id,
        credential=credential,
    )
    try:
        closure.update(
            actions=[
                AccountClosure.status.set("cancelled"),
                AccountClosure.cancelled_at.set(moment),
                AccountClosure.GSI1PK.set(closures_partition("cancelled")),
            ],
            # The job may have started erasing meanwhile: then it is too late.
            condition=AccountClosure.status == "scheduled",
        )
    except Exception as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise _not_cancellable(_read(customer_id)) from None
        raise
    log_event("account_closure_cancelled", customer_id=customer_id)
    return to_wire(closure)


def _not_cancellable(closure: AccountClosure) -> Conflict:
    return Conflict(
        f"This closure is {closure.status}: it can no longer be cancelled.",
        code="closure_not_cancellable",
    )


# --- the step-up's parameters and statements ------------------------------------------------------------


def close_params(*, effective_date: str) -> dict[str, Any]:
    return {"effective_date": effective_date}


def describe(*, params: dict[str, Any]) -> dict[str, str]:
    day = str(params["effective_date"])
    return {"fr": day, "en": day}
