"""A lost or stolen phone: the customer suspends a line at once, and restores it, in the app.

- `suspend` (step-up `line.suspend`, bound to the line and the reason): in ONE transaction the line
  becomes `suspended` with `suspension` {reason, at, by: customer}, and `GET /me/requests` gains a
  done `line_suspension`; then the `line.suspended` alert says what to do next (end the lost phone's
  sessions, restore the line when it is found). Suspending a line the customer already suspended
  for the same reason answers it as it is: the same request, no second alert (its dedup key).
- `restore` (step-up `line.restore`): the same for a line the customer suspended (`line_restore`,
  `line.restored`). A line the provider suspended (unpaid bills, fraud) is the provider's to
  restore: 409 `suspended_by_provider`, and the message says to contact support.

Usage records of a suspended line are still counted (the network reports what it carried, and the
bill must match it), but no usage alert is raised for it (ingestion.check_alerts skips lines that
are not active): that is today's behaviour and this module keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.account.lines import done_request, line_key, line_to_wire, new_request_id
from chalicelib.account.plan_change import request_to_wire
from chalicelib.account.views import customer_suspension as _by_customer
from chalicelib.account.views import suspension_wire
from chalicelib.auth import stepup
from chalicelib.common.clock import iso, iso_ms, now
from chalicelib.common.languages import phone_number, spoken
from chalicelib.common.strict import Strict
from chalicelib.errors import Conflict, NotFound
from chalicelib.notifications import inbox
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import Customer, Item, Line, ServiceRequest, customer_pk

__all__ = [
    "REASONS",
    "RESTORE_ACTION",
    "SUSPEND_ACTION",
    "Reason",
    "SuspendBody",
    "describe",
    "restore",
    "suspend",
    "suspend_for_customer",
]

SUSPEND_ACTION, RESTORE_ACTION = "line.suspend", "line.restore"  # step-up actions (auth/stepup.py)
Reason = Literal["lost", "stolen"]
REASONS: dict[str, dict[str, str]] = {
    "lost": {"fr": "perte", "en": "lost"},
    "stolen": {"fr": "vol", "en": "stolen"},
}
# A line whose status moved under a confirmed change (a purchase, an admin) is read again and the
# change retried: the customer confirmed "suspend this line", which still holds. Bounded.
ATTEMPTS = 3


class SuspendBody(Strict):
    reason: Reason


@dataclass(frozen=True)
class _Held:
    line: Line
    language: str


def _read(customer_id: str, line_id: str) -> _Held:
    """The line (consistent: the transaction is conditioned on what is read) and the customer's
    language, in one BatchGetItem. Another customer's line is as unknown as any."""
    pk, sk = line_key(customer_id, line_id)
    items = list(Item.batch_get([(pk, sk), (pk, "PROFILE")], consistent_read=True))
    line = next((i for i in items if isinstance(i, Line)), None)
    if line is None:
        raise NotFound("No such line.", code="line_not_found")
    profile = next((i for i in items if isinstance(i, Customer)), None)
    language = spoken(profile.language if profile else None)
    return _Held(line=line, language=language)


def _line_wire(line: Line, language: str) -> dict[str, Any]:
    return {**line_to_wire(line, language), "suspension": suspension_wire(line)}


def _not_active(line_id: str) -> Conflict:
    return Conflict(
        f"Line {line_id} is not active: it cannot be suspended again.",
        code="line_not_active",
    )


def _provider_suspended() -> Conflict:
    return Conflict(
        "This line was suspended by us, not from the app: contact customer support to restore it.",
        code="suspended_by_provider",
    )


def _request(
    customer_id: str, line: Line, kind: str, reason: dict[str, str], stamp: str, detail: dict[str, Any]
) -> ServiceRequest:
    return done_request(
        customer_id=customer_id,
        request_id=new_request_id(),
        kind=kind,
        line_id=line.line_id,
        reason=reason,
        stamp=stamp,
        detail=detail,
    )


def _tell(customer_id: str, kind: str, request_id: str, line: Line, reason: str | None) -> None:
    """The alert, once per request (its dedup key): a replay that tells again tells nobody twice."""
    data: dict[str, Any] = {
        "request_id": request_id,
        "line_id": line.line_id,
        "msisdn": line.msisdn,
        "number": phone_number(line.msisdn),
    }
    if reason is not None:
        data.update(reason=reason, reason_fr=REASONS[reason]["fr"], reason_en=REASONS[reason]["en"])
    inbox.notify(customer_id=customer_id, kind=kind, data=data, dedup_key=f"request:{request_id}:{kind}")


def _stored_request(customer_id: str, request_id: str) -> ServiceRequest:
    return ServiceRequest.get(customer_pk(customer_id), f"REQUEST#{request_id}", consistent_read=True)


def suspend(
    *,
    customer_id: str,
    session_id: str,
    line_id: str,
    reason: Reason,
    challenge_id: str,
    credential: dict[str, Any],
) -> tuple[dict[str, Any], bool]:
    """Suspend the line now (confirmed with `line.suspend` for this line and reason). Answers
    {request, line} and whether this call suspended it (False: it was already, for this reason)."""
    held = _read(customer_id, line_id)
    _refuse_suspension(held.line, reason)
    stepup.confirm(
        customer_id=customer_id,
        session_id=session_id,
        action=SUSPEND_ACTION,
        params=suspend_params(line_id=line_id, reason=reason),
        challenge_id=challenge_id,
        credential=credential,
    )
    return _suspend(customer_id, held, reason, agent=None)


def suspend_for_customer(
    *, customer_id: str, line_id: str, reason: Reason, operator: str, case_id: str
) -> tuple[dict[str, Any], bool]:
    """The same suspension, made by an agent on the customer's call when the customer has lost their
    only phone and so cannot confirm with a passkey (cases/lost_phone.py checked who is calling). It
    is the customer's suspension (`by: customer`): restorable in the app from their next device.
    The request records the agent and the case."""
    held = _read(customer_id, line_id)
    _refuse_suspension(held.line, reason)
    return _suspend(customer_id, held, reason, agent={"operator": operator, "case_id": case_id})


def _suspend(
    customer_id: str, held: _Held, reason: Reason, *, agent: dict[str, str] | None
) -> tuple[dict[str, Any], bool]:
    line_id = held.line.line_id
    for _ in range(ATTEMPTS):
        if _by_customer(held.line) is not None:  # already: the same request, told once
            return _current(customer_id, held, SUSPEND_ACTION), False
        moment = now()
        stamp = iso(moment)
        words = REASONS[reason]
        number = phone_number(held.line.msisdn)
        told = (
            {
                "fr": f"Ligne {number} suspendue à votre demande ({words['fr']}).",
                "en": f"Line {number} suspended as you asked ({words['en']}).",
            }
            if agent is None
            else {
                "fr": f"Ligne {number} suspendue à votre demande, par un conseiller au téléphone ({words['fr']}).",
                "en": f"Line {number} suspended as you asked, by an adviser on the phone ({words['en']}).",
            }
        )
        detail: dict[str, Any] = {"line_id": line_id, "msisdn": held.line.msisdn, "suspension_reason": reason}
        if agent is not None:
            detail.update(via="agent", case_id=agent["case_id"])  # the operator stays in the case
        request = _request(customer_id, held.line, "line_suspension", told, stamp, detail)
        suspension = {"reason": reason, "at": stamp, "by": "customer", "request_id": request.request_id}
        if agent is not None:
            # Who the agent was stays in the case (the console's timeline), not on the line: the
            # customer's data (and its export) never names an adviser.
            suspension.update(via="agent", case_id=agent["case_id"])
        try:
            with transaction() as tx:
                tx.update(
                    held.line,
                    actions=[
                        Line.status.set("suspended"),
                        Line.suspension.set(suspension),
                        Line.updated_at.set(iso_ms(moment)),
                    ],
                    # What was read is what is suspended: nobody changed it meanwhile, still active.
                    condition=(Line.updated_at == held.line.updated_at) & (Line.status == "active"),
                    label="line",
                )
                tx.save(request, condition=ServiceRequest.PK.does_not_exist(), label="request")
        except ConditionsFailed:
            held = _read(customer_id, line_id)
            _refuse_suspension(held.line, reason)
            continue
        _tell(customer_id, "line.suspended", request.request_id, held.line, reason)
        held.line.status, held.line.suspension = "suspended", suspension
        return {"request": request_to_wire(request), "line": _line_wire(held.line, held.language)}, True
    raise Conflict(
        "The line kept changing while this was confirmed: try again.",
        code="line_changed_meanwhile",
        retry_after_s=1,
    )


def _refuse_suspension(line: Line, reason: str) -> None:
    """Active, or already suspended by the customer for this very reason (answered as it is)."""
    if line.status == "active":
        return
    mine = _by_customer(line)
    if mine is None or mine.get("reason") != reason:
        raise _not_active(line.line_id)


def _current(customer_id: str, held: _Held, action: str) -> dict[str, Any]:
    """The line as the customer's suspension left it, with its request (and the alert told, once:
    an earlier run that committed may have died before telling)."""
    mine = _by_customer(held.line) or {}
    request = _stored_request(customer_id, str(mine["request_id"]))
    if action == SUSPEND_ACTION:
        _tell(customer_id, "line.suspended", request.request_id, held.line, str(mine["reason"]))
    return {"request": request_to_wire(request), "line": _line_wire(held.line, held.language)}


def restore(
    *,
    customer_id: str,
    session_id: str,
    line_id: str,
    challenge_id: str,
    credential: dict[str, Any],
) -> dict[str, Any]:
    """Restore a line the customer suspended (confirmed with `line.restore`): {request, line}."""
    held = _read(customer_id, line_id)
    _refuse_restore(held.line)
    stepup.confirm(
        customer_id=customer_id,
        session_id=session_id,
        action=RESTORE_ACTION,
        params=restore_params(line_id=line_id),
        challenge_id=challenge_id,
        credential=credential,
    )
    for _ in range(ATTEMPTS):
        moment = now()
        stamp = iso(moment)
        number = phone_number(held.line.msisdn)
        before = _by_customer(held.line) or {}
        request = _request(
            customer_id,
            held.line,
            "line_restore",
            {
                "fr": f"Ligne {number} de nouveau active, à votre demande.",
                "en": f"Line {number} active again, as you asked.",
            },
            stamp,
            {
                "line_id": line_id,
                "msisdn": held.line.msisdn,
                "suspension_reason": before.get("reason"),
                "suspended_at": before.get("at"),
            },
        )
        try:
            with transaction() as tx:
                tx.update(
                    held.line,
                    actions=[
                        Line.status.set("active"),
                        Line.suspension.remove(),
                        Line.updated_at.set(iso_ms(moment)),
                    ],
                    condition=(Line.updated_at == held.line.updated_at) & (Line.status == "suspended"),
                    label="line",
                )
                tx.save(request, condition=ServiceRequest.PK.does_not_exist(), label="request")
        except ConditionsFailed:
            held = _read(customer_id, line_id)
            _refuse_restore(held.line)
            continue
        _tell(customer_id, "line.restored", request.request_id, held.line, None)
        held.line.status, held.line.suspension = "active", None
        return {"request": request_to_wire(request), "line": _line_wire(held.line, held.language)}
    raise Conflict(
        "The line kept changing while this was confirmed: try again.",
        code="line_changed_meanwhile",
        retry_after_s=1,
    )


def _refuse_restore(line: Line) -> None:
    if line.status == "active":
        raise Conflict(f"Line {line.line_id} is not suspended.", code="line_not_suspended")
    if _by_customer(line) is None:
        raise _provider_suspended()


# --- the step-up's parameters and statements ------------------------------------------------------------


def suspend_params(*, line_id: str, reason: str) -> dict[str, Any]:
    return {"line_id": line_id, "reason": reason}


def restore_params(*, line_id: str) -> dict[str, Any]:
    return {"line_id": line_id}


def describe(*, customer_id: str, action: str, params: dict[str, Any]) -> dict[str, str]:
    """The line's number (and, to suspend, why) per language, for the step-up statement; 404 for
    another customer's line, so a step-up is never asked about it."""
    try:
        line = Line.get(*line_key(customer_id, params["line_id"]))
    except Line.DoesNotExist:
        raise NotFound("No such line.", code="line_not_found") from None
    number = phone_number(line.msisdn)
    if action == SUSPEND_ACTION:
        words = REASONS[params["reason"]]
        return {"fr": f"{number} ({words['fr']})", "en": f"{number} ({words['en']})"}
    return {"fr": number, "en": number}
