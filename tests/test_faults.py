"""Fault injection: with DynamoDB throttling, 500s and lost replies (the write happened, the answer
did not arrive) on a share of calls, ingestion, payments, clearing and push delivery end with exact
results once their normal retries have run (SQS redelivery, the app's retry with the same key, the
scheduler's next run): nothing lost, nothing doubled."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from chalicelib.store.models import SandboxCharge
from tests.support.faults import dynamodb_faults
from tests.support.stepup import add_card

ROOT = Path(__file__).resolve().parent.parent
FAULTS = {"throttle": 0.12, "server_error": 0.06, "lost_reply": 0.06, "conflict": 0.1}


def _line(app_module: Any, enrol: Any) -> tuple[Any, str]:
    app_module.admin_upsert_catalog(
        json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text()), None
    )
    enrolled = enrol()
    line_id = "ln_" + secrets.token_hex(6)
    assert "error" not in app_module.admin_set_line(
        {
            "customer_number": enrolled.customer["customer_number"],
            "line_id": line_id,
            "msisdn": "+33622222222",
            "plan_id": "essentiel-20",
            "anchor_day": 1,
        },
        None,
    )
    return enrolled, line_id


def test_ingestion_counts_every_record_exactly_once(api, app_module, enrol):
    from tests.account.conftest import record, sqs_event

    lines = [_line(app_module, enrol) for _ in range(3)]
    messages = [[record(line_id, "sms", 1) for _ in range(5)] for _ in range(12) for _, line_id in lines]
    event = sqs_event(*messages)
    pending = event["Records"]
    with dynamodb_faults(**FAULTS, seed=11) as seen:
        for _ in range(30):  # SQS redelivers what the handler reports failed
            failed = {
                f["itemIdentifier"]
                for f in app_module.ingest_usage({"Records": pending}, None)["batchItemFailures"]
            }
            pending = [r for r in pending if r["messageId"] in failed]
            if not pending:
                break
        assert not pending
        app_module.ingest_usage(event, None)  # and at-least-once delivery replays a whole batch
    assert seen["lost_reply"] and seen["throttled"] and seen["server_error"]
    for enrolled, line_id in lines:
        usage = api.get(f"/lines/{line_id}/usage", token=enrolled.token).body
        assert (
            next(a for a in usage["allowances"] if a["kind"] == "sms")["used"] == 60
        )  # 12 messages × 5 records


def _retrying(call: Any, ok: tuple[int, ...] = (200, 201)) -> Any:
    """What the app does on a 5xx or 409-in-progress: the same request again, shortly."""
    for _ in range(40):
        answer = call()
        if answer.status in ok or answer.status not in (409, 429, 500, 503):
            return answer
        time.sleep(0.05)
    return answer


def test_a_payment_is_charged_exactly_once(api, app_module, enrol):
    from tests.billing.conftest import bill_document

    enrolled = enrol()
    document = bill_document(enrolled.customer["customer_number"])
    app_module.import_bills({"bills": [document]}, None)
    bill_id = document["bill_id"]
    method = add_card(api, enrolled).body["payment_method_id"]

    def confirmed() -> dict[str, Any]:
        challenge = _retrying(
            lambda: api.post(
                f"/bills/{bill_id}/payments/challenge",
                {"amount": 700, "payment_method_id": method},
                token=enrolled.token,
            )
        )
        assert challenge.status == 200, challenge.body
        credential = enrolled.authenticator.get(challenge.body["options"])
        return {
            "amount": 700,
            "payment_method_id": method,
            "challenge_id": challenge.body["challenge_id"],
            "credential": credential,
        }

    with dynamodb_faults(**FAULTS, seed=5) as seen:
        body, key = confirmed(), str(uuid.uuid4())
        for _ in range(20):
            paid = _retrying(
                lambda b=body, k=key: api.post(
                    f"/bills/{bill_id}/payments", b, token=enrolled.token, headers={"Idempotency-Key": k}
                )
            )
            if paid.status == 201:
                break
            # The confirmation was spent by a run that failed before creating the payment: confirm
            # again, as a new payment (new key). Nothing was charged under the old key.
            assert paid.status == 404 and paid.error_code == "challenge_not_found", paid.body
            body, key = confirmed(), str(uuid.uuid4())
        assert paid.status == 201
        again = _retrying(
            lambda: api.post(
                f"/bills/{bill_id}/payments", body, token=enrolled.token, headers={"Idempotency-Key": key}
            )
        )
    assert seen["calls"] > 20 and _faults(seen) >= 3
    assert again.body["payment_id"] == paid.body["payment_id"]
    bill = api.get(f"/bills/{bill_id}", token=enrolled.token).body
    assert bill["balance"]["amount"] == 1800 - 700
    succeeded = [p for p in bill["payments"] if p["status"] == "succeeded"]
    assert len(succeeded) == 1
    charges = [c for p in bill["payments"] for c in SandboxCharge.query(f"SANDBOX#CHARGE#{p['payment_id']}")]
    assert len(charges) == len([p for p in bill["payments"] if p["status"] != "failed"]) == 1


def test_clearing_charges_each_winner_exactly_once(api, app_module, enrol):
    from chalicelib.bidding import closing
    from tests.bidding.conftest import Bidder, close_now, confirmed_bid, offer_event

    offer_id = app_module.admin_create_offer(offer_event(inventory=3), None)["offer_id"]
    bidders = []
    for n, card in enumerate(
        ("tok_visa", "tok_card_declined", "tok_visa", "tok_visa", "tok_insufficient_funds", "tok_visa")
    ):
        enrolled = enrol()
        method = add_card(api, enrolled, card).body["payment_method_id"]
        who = Bidder(enrolled, method)
        assert (
            api.put(
                f"/offers/{offer_id}/bid", confirmed_bid(api, who, offer_id, 4000 - 300 * n), token=who.token
            ).status
            == 201
        )
        bidders.append(who)
    close_now(offer_id)
    from chalicelib.store.models import Offer

    outcomes = []
    with dynamodb_faults(**FAULTS, seed=7) as seen:
        for _ in range(40):  # the scheduler's runs
            try:
                outcomes.append(closing.clear_offer(offer_id))
            except Exception as error:  # noqa: BLE001 - a run that failed: the next one resumes
                outcomes.append(type(error).__name__)
            if outcomes[-1] == "cleared:done":
                break
            Offer(f"OFFER#{offer_id}", "OFFER").update(actions=[Offer.lease_until.set(0)]) if outcomes[
                -1
            ] == "busy_or_not_due" else None
    assert outcomes[-1] == "cleared:done", outcomes
    assert seen["calls"] > 50 and _faults(seen) >= 5
    entries = app_module.admin_offer_result({"offer_id": offer_id}, None)["entries"]
    assert [e["outcome"] for e in entries] == ["won", "declined", "won", "won", "lost", "lost"]
    charges = [
        sum(1 for _ in SandboxCharge.query(f"SANDBOX#CHARGE#{closing.charge_key(offer_id, b.customer_id)}"))
        for b in bidders
    ]
    assert charges == [1, 1, 1, 1, 0, 0]
    alerts = [
        [
            i["kind"]
            for i in api.get("/me/inbox", token=b.token).body["items"]
            if i["kind"].startswith("bidding.")
        ]
        for b in bidders
    ]
    assert all(len(kinds) == 1 for kinds in alerts), alerts


def test_push_delivery_loses_nothing_and_doubles_nothing(app_module, enrol, api, fcm):
    import os
    from datetime import timedelta

    from chalicelib.common.clock import now
    from chalicelib.notifications import delivery, inbox
    from devtools.stream_poller import StreamPoller

    people = []
    for _ in range(4):
        enrolled = enrol()
        installation = "fid" + secrets.token_hex(8)
        assert (
            api.request(
                "PUT",
                f"/me/devices/{installation}",
                {
                    "fcm_token": "tok-" + installation,
                    "platform": "android",
                    "app_version": "1.0",
                    "locale": "fr",
                },
                token=enrolled.token,
            ).status
            == 200
        )
        people.append((enrolled, installation))
    # The table's stream from here on, retried like Lambda's event source mapping (10 attempts).
    poller = StreamPoller(
        endpoint=os.environ["DYNAMODB_ENDPOINT"],
        table_name=os.environ["APP_TABLE_NAME"],
        handler=app_module.on_table_stream,
        max_retries=10,
    )
    fcm.reset()
    alerts = {
        inbox.notify(
            customer_id=e.customer["customer_id"],
            kind="service.announcement",
            data={"announcement_id": f"f{n}", "message_fr": "x", "message_en": "x"},
            dedup_key=f"faults:{uuid.uuid4()}",
        ).alert_id: installation
        for e, installation in people
        for n in range(3)
    }
    with dynamodb_faults(**FAULTS, seed=3) as seen:
        poller.drain()
        for k in range(1, 30):  # the every-minute schedule, each run past the previous run's leases
            if all(
                fcm.delivered_to("tok-" + target) and _pushed(fcm, alert) for alert, target in alerts.items()
            ):
                break
            with contextlib.suppress(Exception):  # a failed run: the next resumes
                delivery.deliver_due(moment=now() + timedelta(seconds=61 * k))
    assert seen["calls"] > 20 and _faults(seen) >= 3
    pushed = [m["data"]["alert_id"] for m in fcm.accepted if m["data"].get("alert_id") in alerts]
    assert set(pushed) == set(alerts)  # nothing lost
    assert len(pushed) == len(alerts), sorted(pushed)  # nothing doubled


def _pushed(fcm: Any, alert_id: str) -> bool:
    return any(m["data"].get("alert_id") == alert_id for m in fcm.accepted)


def _faults(seen: Any) -> int:
    return seen["throttled"] + seen["server_error"] + seen["lost_reply"]


def test_transaction_conflicts_are_retried_and_counts_stay_exact(enrol):
    """A third of the transactions cancelled by a TransactionConflict, as AWS does when two writers touch
    one hot item (the customer's unread counter) at once: 24 concurrent alerts all land, the badge
    is exactly 24. Mutation: no conflict retry in store/db.py → notify() raises."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.notifications import inbox

    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    before = inbox.unread_count(customer_id=cid)

    def tell(n: int) -> str:
        return inbox.notify(
            customer_id=cid,
            kind="service.announcement",
            data={"announcement_id": f"c{n}", "message_fr": "x", "message_en": "x"},
            dedup_key=f"conflict:{cid}:{n}",
        ).alert_id

    with (
        dynamodb_faults(throttle=0, server_error=0, lost_reply=0, conflict=0.3, seed=7) as counts,
        ThreadPoolExecutor(max_workers=6) as pool,
    ):
        alerts = list(pool.map(tell, range(24)))
    assert counts["conflict"] > 0
    assert len(set(alerts)) == 24
    assert inbox.unread_count(customer_id=cid) == before + 24
