"""A customer who has lost their only phone, served by an agent (the console's case flow).

In the app, a lost line is suspended with a passkey confirmation from another signed-in device
(account/suspension.py). A customer whose only phone is gone has no device left to confirm with,
so they call, and the agent, once the caller proved who they are another way (an identity
document in a shop, or the account's knowledge questions: `identity_check`, recorded), runs
`admin_case_lost_phone`, which in one run:

1. opens a case for the customer (topic `line`, about the line), written by the agent: the next
   adviser, and the customer on their next device, read what was done and why;
2. suspends the line as the customer's own suspension (`by: customer`), so that the customer
   restores it in the app when the phone is found or the SIM replaced, without calling again;
3. ends every session (the lost phone's refresh token stops working, its pushes stop);
4. with `reset_passkeys`, removes the passkeys (the lost phone's can no longer sign in) and issues
   a new activation letter to enrol the next phone: shown once, in the answer, never logged;
5. writes each of these as an `action` step of the case's timeline.

Run again with the same event (a console retry), it opens no second case, suspends nothing twice,
tells the customer once, records its steps once, and neither ends sessions nor resets passkeys a
second time (the customer may have enrolled their next phone meanwhile: it stays signed in).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from chalicelib.account import suspension
from chalicelib.account.schemas import LINE_ID
from chalicelib.account.views import owns_line
from chalicelib.cases import schemas, service
from chalicelib.cases.models import Case, case_sk
from chalicelib.common.clock import iso, now
from chalicelib.common.strict import Strict
from chalicelib.customers import admin as customers_admin
from chalicelib.errors import NotFound
from chalicelib.observability.log import log_event
from chalicelib.store.db import transaction
from chalicelib.store.models import Customer, customer_pk

__all__ = ["IDENTITY_CHECKS", "LostPhoneEvent", "report_lost_phone"]

IDENTITY_CHECKS = ("id_document", "knowledge_questions")


class LostPhoneEvent(Strict):
    customer_id: str = Field(pattern=f"^{schemas.CUSTOMER_ID}$")
    line_id: str = Field(pattern=f"^{LINE_ID}$", description="The line of the lost phone")
    reason: Literal["lost", "stolen"]
    identity_check: Literal["id_document", "knowledge_questions"] = Field(
        description="How the caller proved who they are, without the phone: an identity document "
        "(in a shop) or the account's knowledge questions"
    )
    reset_passkeys: bool = Field(
        default=False,
        description="The lost phone held the only passkey: remove them all and issue a new "
        "activation letter to enrol the next phone",
    )


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def report_lost_phone(event: LostPhoneEvent, operator: str) -> dict[str, Any]:
    """Do what the module says, for `operator`; answers the case, the line, the sessions ended and,
    after a reset, the new activation letter."""
    try:
        customer = Customer.get(customer_pk(event.customer_id), "PROFILE", consistent_read=True)
    except Customer.DoesNotExist:
        raise NotFound("No such customer.", code="customer_not_found") from None
    if not owns_line(event.customer_id, event.line_id):  # before anything is opened or ended
        raise NotFound(f"The customer has no line {event.line_id}.", code="line_not_found")
    moment = now()
    words = suspension.REASONS[event.reason]
    # One case per customer, line, reason and day: a retry of the same event finds it again.
    key = f"lost-phone:{event.line_id}:{event.reason}:{_day(moment)}"
    opened, created = service.open_case(
        customer_id=event.customer_id,
        key=key,
        origin=schemas.LineOrigin(kind="line", line_id=event.line_id),
        topic="line",
        message=(
            f"Téléphone déclaré ({words['fr']}) par téléphone auprès d'un conseiller. "
            f"Lost phone reported ({words['en']}) on a call with an adviser."
        ),
        operator=operator,
    )
    case_id = str(opened["case_id"])
    done = _recorded_actions(event.customer_id, case_id)
    answer, _ = suspension.suspend_for_customer(
        customer_id=event.customer_id,
        line_id=event.line_id,
        reason=event.reason,
        operator=operator,
        case_id=case_id,
    )
    from chalicelib.auth import sessions

    # Once per case: a console retry after the customer enrolled their next phone must not sign
    # that phone out.
    ended = 0
    if "sessions_ended" not in done:
        ended = sessions.revoke_all(customer_id=event.customer_id, reason=f"lost_phone:{case_id}")
    steps: list[tuple[str, dict[str, Any]]] = []
    if "line_suspended" not in done:
        steps.append(
            (
                "line_suspended",
                {"line_id": event.line_id, "reason": event.reason, "identity_check": event.identity_check},
            )
        )
    if "sessions_ended" not in done:
        steps.append(("sessions_ended", {"sessions_ended": ended}))
    letter: dict[str, Any] | None = None
    if event.reset_passkeys and "passkeys_reset" not in done:
        reset = customers_admin.reset_passkeys_of(
            customer_id=event.customer_id,
            customer_number=customer.customer_number,
            reason=f"lost_phone:{case_id}",
        )
        letter = {k: reset[k] for k in ("enrolment_handle", "activation_code", "activation_code_expires_at")}
        steps.append(("passkeys_reset", {"passkeys_removed": reset["passkeys_removed"]}))
    _record(event.customer_id, case_id, operator, steps)
    log_event(
        "lost_phone_reported",
        customer_id=event.customer_id,
        case_id=case_id,
        line_id=event.line_id,
        operator=operator,
        identity_check=event.identity_check,
        sessions_ended=ended,
        passkeys_reset=letter is not None,
    )
    result: dict[str, Any] = {
        "case_created": created,
        "case": service.agent_case(event.customer_id, case_id),
        "line": answer["line"],
        "request": answer["request"],
        "sessions_ended": ended,
        "passkeys_reset": letter is not None or "passkeys_reset" in done,
    }
    if letter is not None:
        result["letter"] = letter
        result["message"] = "Give or send the customer this activation letter: it is shown only once."
    elif event.reset_passkeys:
        result["message"] = (
            "The passkeys were already reset on this case: run admin_issue_activation_code for a new letter."
        )
    return result


def _recorded_actions(customer_id: str, case_id: str) -> set[str]:
    """The `action` steps this case already holds (reasons), so that a retry records none twice."""
    _, events, _ = service.read_case(customer_id, case_id)
    return {str(e.reason) for e in events if e.kind == "action"}


def _record(customer_id: str, case_id: str, operator: str, steps: list[tuple[str, dict[str, Any]]]) -> None:
    if not steps:
        return
    moment = now()
    with transaction() as tx:
        tx.update(
            Case(customer_pk(customer_id), case_sk(case_id)),
            actions=[Case.events.add(len(steps)), Case.updated_at.set(iso(moment))],
            condition=Case.PK.exists(),
        )
        for seq, (reason, detail) in enumerate(steps):
            tx.save(
                service.event(
                    customer_id,
                    case_id,
                    moment,
                    seq,
                    kind="action",
                    author="agent",
                    operator=operator,
                    reason=reason,
                    detail=detail,
                )
            )
