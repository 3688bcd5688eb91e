"""`make demo`'s "customer who cannot pay" steps (issue 16), run by devtools/demo.py: an overdue
bill turned into a payment arrangement.

The billing system sends a bill that fell due 11 days ago; the daily billing job sends the
suspension warning (the date and the amount, in French); `GET /me` shows `bill_overdue` first, with
an arrangement on offer; the app previews 3 instalments, the customer confirms the schedule with
Face ID (step-up `arrangement.create`, bound to it), and the arrangement holds the bill: the
suspension date leaves `attention` and the `billing.arrangement_confirmed` alert is in the inbox.

The job is the `daily_billing` handler, called in-process as `make invoke` would. What a step
should show is checked: a mismatch is printed and the demo ends with status 1.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from devtools.demo import print_step, show, show_admin
from devtools.demo_journey import Journey
from devtools.soft_authenticator import SoftAuthenticator

INSTALMENTS = 3


@dataclass(kw_only=True)
class ArrangementJourney(Journey):
    customer_number: str


def run(
    *,
    api: str,
    http: requests.Session,
    app: Any,
    bearer: dict[str, str],
    phone: SoftAuthenticator,
    customer_number: str,
    first_step: int,
) -> tuple[int, list[str]]:
    """The overdue-bill-to-arrangement journey; the next step number and what did not go as expected."""
    journey = ArrangementJourney(
        api=api,
        http=http,
        app=app,
        bearer=bearer,
        phone=phone,
        customer_number=customer_number,
        steps=itertools.count(first_step),
    )
    bill_id = _overdue_bill(journey)
    _daily_job(journey, bill_id)
    _home_screen(journey, bill_id)
    step_up, balance = _preview(journey)
    if step_up is not None:
        _confirm(journey, step_up, balance, bill_id)
    return next(journey.steps), journey.problems


def _overdue_bill(journey: ArrangementJourney) -> str:
    bill_id = f"B-LATE-{int(time.time())}"
    today = datetime.now(UTC).date()
    result = show_admin(
        journey.step("The billing system sends a bill of 36.01 EUR that fell due 11 days ago, unpaid"),
        "import_bills",
        journey.app.import_bills(
            {
                "bills": [
                    {
                        "bill_id": bill_id,
                        "customer_number": journey.customer_number,
                        "period": {"start": "2026-09-01", "end": "2026-09-30"},
                        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "due_date": (today - timedelta(days=11)).isoformat(),
                        "currency": "EUR",
                        "items": [{"label": "Forfait Premium 100 Go", "amount": 3001, "tax": 600}],
                        "total": 3601,
                    }
                ]
            },
            None,
        ),
    )
    journey.expect(result.get("imported") == [bill_id], f"the bill {bill_id} imported")
    return bill_id


def _daily_job(journey: ArrangementJourney, bill_id: str) -> None:
    from devtools.workers import scheduled_event

    result = journey.app.daily_billing(scheduled_event(), None)
    print_step(
        journey.step("The daily billing job: the suspension warning (date and amount, in French)"),
        "scheduled function daily_billing",
        {"overdue": result.get("overdue")},
        (),
    )
    journey.expect(
        result.get("overdue", {}).get(f"{bill_id}:warning") == "sent", "the suspension warning sent"
    )
    inbox = journey.get("/me/inbox?limit=5").json().get("items", [])
    warning = next((i for i in inbox if i["kind"] == "billing.suspension_warning"), None)
    print_step(journey.step("The warning in the inbox"), "GET /me/inbox?limit=5", warning or {}, ())
    journey.expect(warning is not None and "36,01" in warning["body"], "the warning states 36,01 €")


def _home_screen(journey: ArrangementJourney, bill_id: str) -> None:
    me = show(
        journey.step("The home screen: the overdue bill first, instalments on offer"), journey.get("/me")
    )
    first = (me.get("attention") or [{}])[0]
    journey.expect(
        first.get("type") == "bill_overdue" and first.get("bill_id") == bill_id,
        "bill_overdue first in attention",
    )
    journey.expect(first.get("arrangement_available") is True, "an arrangement on offer")


def _preview(journey: ArrangementJourney) -> tuple[dict[str, Any] | None, int]:
    shown = show(
        journey.step(f"The app previews {INSTALMENTS} instalments: exact amounts, the remainder first"),
        journey.get(f"/me/arrangements/preview?instalments={INSTALMENTS}"),
    )
    step_up = shown.get("step_up")
    journey.expect(step_up is not None, "a schedule to confirm")
    return step_up, int(shown.get("balance", {}).get("amount", 0))


def _confirm(journey: ArrangementJourney, step_up: dict[str, Any], balance: int, bill_id: str) -> None:
    started = show(
        journey.step("Face ID for exactly this schedule (step-up arrangement.create)"),
        journey.post("/me/step-up", step_up),
        ("transaction",),
    )
    confirmation = {
        "challenge_id": started.get("challenge_id"),
        "credential": journey.phone.get(started.get("options", {})),
    }
    made = journey.post(
        "/me/arrangements", {"instalments": INSTALMENTS, "balance": balance, "confirmation": confirmation}
    )
    body = show(journey.step("The arrangement is made: the bill is held by it"), made)
    journey.expect(made.status_code == 201 and body.get("status") == "active", "an active arrangement (201)")
    me = journey.get("/me").json()
    first = (me.get("attention") or [{}])[0]
    print_step(
        journey.step("Home screen again: no suspension date while the arrangement holds"),
        "GET /me",
        first,
        (),
    )
    journey.expect(
        first.get("bill_id") == bill_id and first.get("suspension_date") is None, "no suspension date"
    )
    inbox = journey.get("/me/inbox?limit=5").json().get("items", [])
    journey.expect(
        any(i["kind"] == "billing.arrangement_confirmed" for i in inbox), "the arrangement_confirmed alert"
    )
