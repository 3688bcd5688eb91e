"""`make demo`'s abroad steps (issue 16), run by devtools/demo.py on the demo customer's line.

The network reports data from zone 2 (the rest of the world): the roaming welcome is in the inbox,
with the zone's tariff and the data spending limit in French; the usage shows each zone apart from
the home allowances; more data reaches the 50 EUR limit and data stops; the customer lifts the limit
for the cycle with a passkey bound to exactly that, and data resumes.

Usage records go through the app's SQS handler, in-process, as devtools/usage_simulator.py sends
them. What a step should show is checked: a mismatch is printed and the demo ends with status 1.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from devtools.demo import print_step, show
from devtools.demo_journey import Journey
from devtools.soft_authenticator import SoftAuthenticator
from devtools.usage_simulator import roaming_record, sqs_event


@dataclass(kw_only=True)
class RoamingJourney(Journey):
    line_id: str

    def roam(self, text: str, megabytes: int) -> None:
        """The network reports `megabytes` of data in zone 2 (SQS -> ingest_usage)."""
        record = roaming_record(str(uuid.uuid4()), self.line_id, "zone_2", megabytes * 1024, time.time() - 60)
        print(f"\n== {self.step(text)}")
        self.app.ingest_usage(sqs_event([record]), None)


def run(
    *,
    api: str,
    http: requests.Session,
    app: Any,
    bearer: dict[str, str],
    phone: SoftAuthenticator,
    line_id: str,
    first_step: int,
) -> tuple[int, list[str]]:
    """The abroad journey; the next step number and what did not go as expected."""
    journey = RoamingJourney(
        api=api,
        http=http,
        app=app,
        bearer=bearer,
        phone=phone,
        line_id=line_id,
        steps=itertools.count(first_step),
    )
    journey.roam("Abroad: the network reports 410 MB of data in zone 2 (SQS -> ingest_usage)", 410)
    inbox = journey.get("/me/inbox?limit=10").json()
    welcome = [i for i in inbox.get("items", []) if i["kind"] == "roaming.welcome"]
    print_step(
        journey.step("The roaming welcome, as the customer sees it in the inbox"),
        "GET /me/inbox (roaming.welcome)",
        [{k: i[k] for k in ("title", "body", "deep_link")} for i in welcome],
        (),
    )
    journey.expect(len(welcome) == 1, "one roaming.welcome in the inbox")
    journey.expect(
        bool(welcome) and "Zone 2" in welcome[0]["body"] and "50,00" in welcome[0]["body"],
        "the welcome states the zone and the 50 EUR limit in French",
    )
    usage = show(
        journey.step("Usage per zone: zone 2 apart from the home allowances, and charged"),
        journey.get(f"/lines/{line_id}/usage"),
        ("roaming",),
    )
    zone_2: dict[str, Any] = next((z for z in usage.get("roaming", []) if z["zone"] == "zone_2"), {})
    journey.expect(zone_2.get("charged", {}).get("amount") == 4100, "zone 2 charged 41.00 EUR")
    journey.roam("100 MB more in zone 2: past the 50 EUR limit", 100)
    stopped = show(
        journey.step("Data stopped abroad: the limit, the spend, the state"),
        journey.get(f"/lines/{line_id}/roaming"),
        ("data_limit", "spent", "percent", "data_stopped"),
    )
    journey.expect(stopped.get("data_stopped") is True, "data stopped at 100 % of the limit")
    started = http.post(
        f"{api}/me/step-up",
        headers=bearer,
        json={"action": "roaming.limit", "line_id": line_id, "lifted": True},
    ).json()
    print_step(
        journey.step("Lift the limit for the cycle: the statement the passkey confirms"),
        "POST /me/step-up {action: roaming.limit, lifted: true}",
        started.get("transaction"),
        (),
    )
    confirmation = {"challenge_id": started["challenge_id"], "credential": phone.get(started["options"])}
    lifted = show(
        journey.step("Lifted with the passkey: data resumes"),
        http.put(
            f"{api}/lines/{line_id}/roaming/data-limit",
            headers=bearer,
            json={"lifted": True, "confirmation": confirmation},
        ),
        ("data_limit", "spent", "data_stopped"),
    )
    journey.expect(lifted.get("data_stopped") is False, "data resumed once the limit is lifted")
    return next(journey.steps), journey.problems
