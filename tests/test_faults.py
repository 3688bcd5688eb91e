"""Fault injection (tests/support/faults.py): DynamoDB throttling, 5xx, lost replies (the write
happened, the answer did not arrive) and write conflicts (a transaction, or a conditional single
write, refused because another transaction holds the item, as AWS does and DynamoDB Local never
does) on a share of calls, from concurrent threads. Alerts and the badge, usage ingestion, payments,
bids, clearing, TTL removals on the stream and push delivery end with exact results once their
normal retries have run (SQS and stream redelivery, the app's retry with the same key, the
scheduler's next run): nothing lost, nothing doubled, one attempt per charge at the provider.

Every assertion holds for any interleaving of the threads; each kind of fault is injected at least
once per test (`ensure_each`), the rest of the draws are seeded. Time comes from the project clock
(`moment=`), never from a wall-clock budget."""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chalicelib.store.models import SandboxCharge
from tests.support.faults import KINDS, dynamodb_faults
from tests.support.stepup import add_card

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def _faults(seed: int) -> Any:
    """Every kind of fault at once, on a bad day's share of the calls."""
    return dynamodb_faults(throttle=0.12, server_error=0.06, lost_reply=0.06, conflict=0.1, seed=seed)


def _only_conflicts(conflict: float) -> Any:
    return dynamodb_faults(throttle=0.0, server_error=0.0, lost_reply=0.0, conflict=conflict)


def _every_kind_injected(seen: Any) -> None:
    assert all(seen[kind] > 0 for kind in KINDS), dict(seen)


def _again(call: Callable[[], T], attempts: int = 12) -> T:
    """A producer's retry of an idempotent call (same dedup key, same records): what SQS, the
    stream or the scheduler do with a call that failed."""
    for _ in range(attempts - 1):
        try:
            return call()
        except Exception:  # noqa: BLE001, S112 - failed past DynamoDB's retries: the same call again
            continue
    return call()


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


# --- the one retry of write conflicts (store/db.py) -----------------------------------------------------


def test_a_write_conflict_is_retried_and_a_failed_condition_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """A conditional write refused by a conflict goes again and lands; a failed condition is the
    database's answer, raised at once (one call); conflicts past the bound are a 503; a transaction
    behaves the same. Mutation: `is_conflict` true for ConditionalCheckFailed → the second block
    makes 9 calls; no retry in `retry_conflicts` → the first block raises UpdateError/PutError."""
    from pynamodb.exceptions import PutError

    from chalicelib.errors import TemporarilyUnavailable
    from chalicelib.store import db
    from chalicelib.store.models import RateWindow

    monkeypatch.setattr(db, "CONFLICT_BASE_S", 0.0)  # no waits: this test counts calls
    item = RateWindow(f"RATE#faults#{uuid.uuid4()}", "W#1", hits=1)
    new = RateWindow.PK.does_not_exist()

    with _only_conflicts(1e-12) as seen:  # exactly one: the first conditional write
        db.retry_conflicts(lambda: item.save(condition=new))
    assert (seen["conflict:PutItem"], seen["calls"]) == (1, 2)

    with _only_conflicts(0.0) as seen, pytest.raises(PutError) as refused:
        db.retry_conflicts(lambda: item.save(condition=new))
    assert refused.value.cause_response_code == "ConditionalCheckFailedException"
    assert seen["calls"] == 1

    with _only_conflicts(1.0) as seen, pytest.raises(TemporarilyUnavailable):
        db.retry_conflicts(
            lambda: item.update(actions=[RateWindow.hits.add(1)], condition=RateWindow.PK.exists())
        )
    assert seen["conflict:UpdateItem"] == seen["calls"] == db.CONFLICT_RETRIES + 1

    other = RateWindow(f"RATE#faults#{uuid.uuid4()}", "W#1", hits=1)
    with _only_conflicts(1e-12) as seen, db.transaction() as tx:
        tx.save(other, condition=new, label="new")
    assert (seen["conflict:TransactWriteItems"], seen["calls"]) == (1, 2)
    with _only_conflicts(0.0) as seen, pytest.raises(db.ConditionsFailed) as failed, db.transaction() as tx:
        tx.save(other, condition=new, label="new")
    assert failed.value.labels == {"new"} and seen["calls"] == 1


# --- the badge ------------------------------------------------------------------------------------------


def test_the_badge_is_exact_after_concurrent_alerts_and_reads_under_faults(enrol: Any) -> None:
    """24 alerts raised by 6 threads at once, then 10 of them read twice each, concurrently, with
    every kind of fault: the badge moves by exactly +24 and -10; then one read whose every answer
    is lost moves it by -1. Mutation: no conflict retry in store/db.py → producers give up after
    their retries; `_mark_read` without its `read_at` condition → the lost answers' resends drop
    the badge by 4."""
    from chalicelib.notifications import inbox

    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    before = inbox.unread_count(customer_id=cid)

    def tell(n: int) -> str:
        return _again(
            lambda: inbox.notify(
                customer_id=cid,
                kind="service.announcement",
                data={"announcement_id": f"c{n}", "message_fr": "x", "message_en": "x"},
                dedup_key=f"burst:{cid}:{n}",
            )
        ).alert_id

    def read(alert_id: str) -> None:
        _again(lambda: inbox.mark_read(customer_id=cid, alert_id=alert_id))

    with _faults(seed=7) as seen, ThreadPoolExecutor(max_workers=6) as pool:
        alerts = list(pool.map(tell, range(24)))
        list(pool.map(read, [a for a in alerts[:10] for _ in range(3)]))  # each read 3 times at once
    _every_kind_injected(seen)
    assert seen["conflict:TransactWriteItems"] > 0
    assert len(set(alerts)) == 24
    assert inbox.unread_count(customer_id=cid) == before + 24 - 10

    # Every answer of one read's transaction lost: botocore sends it 4 times; it counts once.
    with dynamodb_faults(
        throttle=0.0, server_error=0.0, conflict=0.0, lost_reply=1.0, operations=("TransactWriteItems",)
    ) as lost:
        read(alerts[10])
    assert lost["lost_reply"] == 4
    assert inbox.unread_count(customer_id=cid) == before + 24 - 11


def test_ttl_removals_leave_the_badge_once_under_faults(app_module: Any, enrol: Any) -> None:
    """The stream's TTL removals of 6 unread alerts, handled as Lambda does (the batch again from
    the lowest failed record until none fails), then the whole batch again: the badge drops by
    exactly 6. Mutation: `forget_expired` without its marker → the badge drops 12 or more."""
    import os

    import boto3

    from chalicelib.notifications import inbox
    from chalicelib.store.models import InboxItem, customer_pk
    from tests.notifications.test_stream import _ttl_removal

    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    client = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    table = os.environ["APP_TABLE_NAME"]
    batch = []
    for n in range(10):  # 6 expire, 4 stay: the badge cannot hide an error behind its floor of 0
        alert = inbox.notify(
            customer_id=cid,
            kind="service.announcement",
            data={"announcement_id": f"t{n}", "message_fr": "x", "message_en": "x"},
            dedup_key=f"ttl:{cid}:{n}",
        ).alert_id
        if n < 6:
            key = {"PK": {"S": customer_pk(cid)}, "SK": {"S": f"INBOX#{alert}"}}
            batch.append(_ttl_removal(client.get_item(TableName=table, Key=key)["Item"], f"{200 + n}"))
            InboxItem(customer_pk(cid), f"INBOX#{alert}").delete()
    before = inbox.unread_count(customer_id=cid)

    def as_lambda(records: list[dict[str, Any]]) -> None:
        """The event source mapping: the batch again from the lowest failed record, until none fails."""
        for _ in range(30):
            try:
                answer = app_module.on_table_stream({"Records": records}, None)
            except Exception:  # noqa: BLE001, S112 - the whole batch comes back
                continue
            failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            if not failed:
                return
            sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
            records = records[min(sequences.index(s) for s in failed) :]
        raise AssertionError("the batch never went through")

    with _faults(seed=13) as seen:
        as_lambda(batch)
        as_lambda(batch)  # at-least-once: the whole batch again
    assert inbox.unread_count(customer_id=cid) == before - 6
    assert seen["conflict:TransactWriteItems"] > 0 and seen["throttled"] > 0 and seen["server_error"] > 0


# --- usage ----------------------------------------------------------------------------------------------


def test_concurrent_duplicated_usage_records_count_exactly_once(
    api: Any, app_module: Any, enrol: Any
) -> None:
    """40 records of one line and one day, in 8 overlapping messages (each record in two), handed
    to 4 concurrent handlers that SQS redelivers until nothing fails, then the whole lot replayed:
    the day's and the cycle's totals are exactly the 40 records'. Mutation: `_write` without
    its not-counted condition → counted twice; no conflict retry → handlers keep failing days."""
    from tests.account.conftest import record, sqs_event

    enrolled, line_id = _line(app_module, enrol)
    records = [record(line_id, "sms", 1 + n % 4) for n in range(40)]
    messages = [[records[(5 * k + j) % 40] for j in range(10)] for k in range(8)]  # each record twice
    batches = [sqs_event(*messages[t::4]) for t in range(4)]

    def handle(event: dict[str, Any]) -> None:
        pending = event["Records"]
        for _ in range(30):  # SQS redelivers what the handler reports failed, or all if it raised
            try:
                answer = app_module.ingest_usage({"Records": pending}, None)
            except Exception:  # noqa: BLE001, S112 - the whole batch comes back
                continue
            failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            pending = [r for r in pending if r["messageId"] in failed]
            if not pending:
                return
        raise AssertionError(f"{len(pending)} messages never went through")

    with _faults(seed=11) as seen, ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(handle, batches))
        list(pool.map(handle, batches))  # at-least-once delivery replays whole batches
    _every_kind_injected(seen)
    usage = api.get(f"/lines/{line_id}/usage", token=enrolled.token).body
    assert next(a for a in usage["allowances"] if a["kind"] == "sms")["used"] == sum(
        r["quantity"] for r in records
    )


# --- payments -------------------------------------------------------------------------------------------


def _retrying(call: Any, ok: tuple[int, ...] = (200, 201)) -> Any:
    """What the app does on a 5xx or 409-in-progress: the same request again."""
    for _ in range(40):
        answer = call()
        if answer.status in ok or answer.status not in (409, 429, 500, 503):
            return answer
    return answer


def test_a_payment_reaches_the_provider_exactly_once(api: Any, app_module: Any, enrol: Any) -> None:
    """Two customers pay at once, each sending the same request twice in parallel (a double tap)
    and again after every 5xx, with every kind of fault: one payment each, the balance moved once,
    and the provider asked exactly once per payment (counted by the sandbox at every call, not
    from what its idempotency keys deduplicated). Mutation: a new provider key per request in
    billing → two attempts."""
    from chalicelib.billing.gateway import get_gateway
    from chalicelib.billing.sandbox_gateway import SandboxGateway
    from tests.billing.conftest import bill_document

    payers = []
    for _ in range(2):
        enrolled = enrol()
        document = bill_document(enrolled.customer["customer_number"])
        app_module.import_bills({"bills": [document]}, None)
        method = add_card(api, enrolled).body["payment_method_id"]
        payers.append((enrolled, document["bill_id"], method))

    def confirmed(enrolled: Any, bill_id: str, method: str) -> dict[str, Any]:
        challenge = _retrying(
            lambda: api.post(
                f"/bills/{bill_id}/payments/challenge",
                {"amount": 700, "payment_method_id": method},
                token=enrolled.token,
            )
        )
        assert challenge.status == 200, challenge.body
        return {
            "amount": 700,
            "payment_method_id": method,
            "challenge_id": challenge.body["challenge_id"],
            "credential": enrolled.authenticator.get(challenge.body["options"]),
        }

    def pay(payer: tuple[Any, str, str]) -> dict[str, Any]:
        enrolled, bill_id, method = payer
        for _ in range(20):
            body, key = confirmed(*payer), str(uuid.uuid4())

            def send(_: int, b: dict[str, Any] = body, k: str = key) -> Any:
                return _retrying(
                    lambda: api.post(
                        f"/bills/{bill_id}/payments", b, token=enrolled.token, headers={"Idempotency-Key": k}
                    )
                )

            with ThreadPoolExecutor(max_workers=2) as taps:
                answers = list(taps.map(send, range(2)))
            done = [a for a in answers if a.status == 201]
            if done:
                assert len({a.body["payment_id"] for a in done}) == 1
                return dict(done[0].body)
            # The confirmation was spent by a run that failed before creating the payment: confirm
            # again, as a new payment (new key). Nothing was charged under the old key.
            assert all(a.status == 404 and a.error_code == "challenge_not_found" for a in answers), [
                a.body for a in answers
            ]
        raise AssertionError("never paid")

    with _faults(seed=5) as seen, ThreadPoolExecutor(max_workers=2) as pool:
        paid = list(pool.map(pay, payers))
    _every_kind_injected(seen)
    gateway = get_gateway()
    assert isinstance(gateway, SandboxGateway)
    for (enrolled, bill_id, _), payment in zip(payers, paid, strict=True):
        bill = api.get(f"/bills/{bill_id}", token=enrolled.token).body
        assert bill["balance"]["amount"] == 1800 - 700
        # One payment created (a confirmation spent by a failed run created none), charged once.
        assert [(p["payment_id"], p["status"]) for p in bill["payments"]] == [
            (payment["payment_id"], "succeeded")
        ]
        assert len(gateway.attempts_for(payment["payment_id"])) == 1
        assert sum(1 for _ in SandboxCharge.query(f"SANDBOX#CHARGE#{payment['payment_id']}")) == 1


# --- bids -----------------------------------------------------------------------------------------------


def test_bids_and_their_changes_count_exactly_under_faults(api: Any, app_module: Any, enrol: Any) -> None:
    """Three bidders move their bids three times each, at the same time, retrying every 5xx with
    the same request (and confirming again when the confirmation was spent by a failed run): each
    ends with one bid at its last amount and exactly three placements counted; then one placement
    whose every answer is lost, and one whose commit is answered by a conflict on botocore's
    resend: each counted once. Mutation: in bids.py, the bid's save without its challenge
    condition → the conflict retry counts the last placement again (6)."""
    from chalicelib.bidding import bids, offers
    from tests.bidding.conftest import Bidder, give_line, offer_event

    offer_id = app_module.admin_create_offer(offer_event(inventory=2), None)["offer_id"]
    bidders = []
    for _ in range(3):
        enrolled = enrol()
        method = add_card(api, enrolled).body["payment_method_id"]
        bidders.append(Bidder(enrolled, method, give_line(app_module, enrolled)))
    moves = {b.customer_id: [2000 + 100 * n + 700 * k for k in range(3)] for n, b in enumerate(bidders)}

    def confirmed(who: Bidder, amount: int) -> dict[str, Any]:
        """confirmed_bid, retrying the challenge on a 5xx as the app does."""
        challenge = _retrying(
            lambda: api.post(
                f"/offers/{offer_id}/bid/challenge",
                {"amount": amount, "payment_method_id": who.method_id, "line_id": who.line_id},
                token=who.token,
            )
        )
        assert challenge.status == 200, challenge.body
        return {
            "amount": amount,
            "payment_method_id": who.method_id,
            "line_id": who.line_id,
            "challenge_id": challenge.body["challenge_id"],
            "credential": who.enrolled.authenticator.get(challenge.body["options"]),
        }

    def bid(who: Bidder) -> None:
        for amount in moves[who.customer_id]:
            for _ in range(20):
                body = confirmed(who, amount)
                placed = _retrying(lambda b=body: api.put(f"/offers/{offer_id}/bid", b, token=who.token))
                if placed.status in (200, 201):
                    assert placed.body["amount"]["amount"] == amount, placed.body
                    break
                assert placed.status == 404 and placed.error_code == "challenge_not_found", placed.body
            else:
                raise AssertionError("never placed")

    with _faults(seed=17) as seen, ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(bid, bidders))
    _every_kind_injected(seen)
    offer = offers.get_offer(offer_id, consistent=True)
    placed = {
        b.customer_id: offers.visible_offer(b.customer_id, offer_id, consistent=True)[2] for b in bidders
    }
    assert {c: int(b.amount) for c, b in placed.items() if b is not None} == {
        c: amounts[-1] for c, amounts in moves.items()
    }
    assert [bids.placements(offer.offer_id, b.customer_id, consistent=True) for b in bidders] == [3, 3, 3]

    # Every answer of the bid's transaction lost: botocore sends it 4 times, the app answers 503,
    # the app sends the same request again and gets the bid. One change counted, not four.
    who = bidders[0]
    body = confirmed(who, 4500)
    with dynamodb_faults(
        throttle=0.0, server_error=0.0, conflict=0.0, lost_reply=1.0, operations=("TransactWriteItems",)
    ) as lost:
        assert api.put(f"/offers/{offer_id}/bid", body, token=who.token).status == 503
    assert lost["lost_reply"] == 4
    again = api.put(f"/offers/{offer_id}/bid", body, token=who.token)
    assert again.status == 200 and again.body["amount"]["amount"] == 4500, again.body
    assert bids.placements(offer.offer_id, who.customer_id, consistent=True) == 4
    # The transaction commits, its answer is lost, and botocore's resend meets a conflict: the
    # conflict retry sends it again, as a new call. Still one change counted.
    with dynamodb_faults(
        throttle=0.0,
        server_error=0.0,
        conflict=0.0,
        lost_reply=0.0,
        operations=("TransactWriteItems",),
        sequence=("lost_reply", "conflict"),
    ) as twice:
        placed = api.put(f"/offers/{offer_id}/bid", confirmed(who, 4900), token=who.token)
    assert placed.status == 200 and placed.body["amount"]["amount"] == 4900, placed.body
    assert (twice["lost_reply"], twice["conflict"]) == (1, 1)
    assert bids.placements(offer.offer_id, who.customer_id, consistent=True) == 5


def test_a_payment_whose_key_claim_answer_was_lost_goes_through_at_once(
    api: Any, app_module: Any, enrol: Any
) -> None:
    """The payment's transaction (which claims its Idempotency-Key) is written but its answer lost;
    botocore's resend meets a conflict and the retry's conditions fail on the claim just written.
    The run recognises its own claim and pays at once, instead of waiting 2 s and answering 409
    until its own lease expires. Mutation: `idempotency.is_ours` answering False → 409."""
    from chalicelib.billing.gateway import get_gateway
    from tests.billing.conftest import bill_document

    enrolled = enrol()
    document = bill_document(enrolled.customer["customer_number"])
    app_module.import_bills({"bills": [document]}, None)
    method = add_card(api, enrolled).body["payment_method_id"]
    challenge = api.post(
        f"/bills/{document['bill_id']}/payments/challenge",
        {"amount": 700, "payment_method_id": method},
        token=enrolled.token,
    )
    body = {
        "amount": 700,
        "payment_method_id": method,
        "challenge_id": challenge.body["challenge_id"],
        "credential": enrolled.authenticator.get(challenge.body["options"]),
    }
    with dynamodb_faults(
        throttle=0.0,
        server_error=0.0,
        conflict=0.0,
        lost_reply=0.0,
        operations=("TransactWriteItems",),
        sequence=("lost_reply", "conflict"),
    ) as lost:
        paid = api.post(
            f"/bills/{document['bill_id']}/payments",
            body,
            token=enrolled.token,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    assert lost["lost_reply:TransactWriteItems"] == 1
    assert paid.status == 201, paid.body
    assert len(get_gateway().attempts_for(paid.body["payment_id"])) == 1  # type: ignore[attr-defined]


def test_a_database_busy_past_every_retry_is_a_503_with_retry_after(api: Any, enrol: Any) -> None:
    """Every DynamoDB call throttled: botocore's retries and ours run out, and the customer gets a
    503 `temporarily_unavailable` with Retry-After, the answer the app retries, never a 500.
    Mutation: removing `is_transient` from the edge's error mapping → 500 `internal_error`."""
    enrolled = enrol()
    with dynamodb_faults(throttle=1.0, server_error=0.0, conflict=0.0, lost_reply=0.0) as seen:
        answer = api.get("/me/inbox", token=enrolled.token)
    assert seen["throttled"] >= 1
    assert answer.status == 503 and answer.error_code == "temporarily_unavailable", answer.body
    assert int(answer.headers["Retry-After"]) >= 1


# --- clearing -------------------------------------------------------------------------------------------


def test_clearing_charges_each_winner_exactly_once(
    api: Any, app_module: Any, enrol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six bids, three units, two declining cards; the scheduler's runs overlap (two at a time)
    while DynamoDB fails in every way: the published outcome, each charged bid asked of the
    provider exactly once (counted by the sandbox at every call), though the first run dies between
    a charge and its record; one alert per bidder. Mutation: `_charge` charging without asking
    first when `charge_started_at` is set → a second attempt for the first winner."""
    from chalicelib.bidding import bids, closing
    from chalicelib.billing.gateway import get_gateway
    from chalicelib.billing.sandbox_gateway import SandboxGateway
    from chalicelib.store.models import Offer
    from tests.bidding.conftest import Bidder, close_now, confirmed_bid, give_line, offer_event

    monkeypatch.setattr(closing, "grace_hours", lambda: 0)  # declines cascade at once, as published before
    offer_id = app_module.admin_create_offer(offer_event(inventory=3), None)["offer_id"]
    bidders = []
    for n, card in enumerate(
        ("tok_visa", "tok_card_declined", "tok_visa", "tok_visa", "tok_insufficient_funds", "tok_visa")
    ):
        enrolled = enrol()
        method = add_card(api, enrolled, card).body["payment_method_id"]
        who = Bidder(enrolled, method, give_line(app_module, enrolled))
        placed = api.put(
            f"/offers/{offer_id}/bid", confirmed_bid(api, who, offer_id, 4000 - 300 * n), token=who.token
        )
        assert placed.status == 201, placed.body
        bidders.append(who)
    close_now(offer_id)

    crashes = [1]

    def crash_after_the_first_charge(**_: Any) -> None:
        if crashes:  # the run dies between a charge and its record: the next run must ask first
            crashes.pop()
            raise RuntimeError("the function timed out")

    def run(_: int) -> str:
        try:
            return closing.clear_offer(offer_id, hooks={"charged": crash_after_the_first_charge})
        except Exception as error:  # noqa: BLE001 - a run that failed: the next one resumes
            return type(error).__name__

    outcomes: list[str] = []
    with _faults(seed=7) as seen, ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(40):  # the scheduler's runs, two overlapping each time
            outcomes += list(pool.map(run, range(2)))
            if "cleared:done" in outcomes:
                break
            if all(o == "busy_or_not_due" for o in outcomes[-2:]):
                # A lease taken by a claim whose answer was lost: let the next runs have it now.
                Offer(f"OFFER#{offer_id}", "OFFER").update(actions=[Offer.lease_until.set(0)])
    assert "cleared:done" in outcomes and not crashes, outcomes
    _every_kind_injected(seen)
    entries = app_module.admin_offer_result({"offer_id": offer_id}, None)["entries"]
    assert [e["outcome"] for e in entries] == ["won", "declined", "won", "won", "lost", "lost"]
    gateway = get_gateway()
    assert isinstance(gateway, SandboxGateway)
    attempts = [len(gateway.attempts_for(bids.bid_id_for(offer_id, b.customer_id))) for b in bidders]
    assert attempts == [1, 1, 1, 1, 0, 0]
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


# --- push -----------------------------------------------------------------------------------------------


def test_push_delivery_loses_nothing_and_doubles_nothing(
    app_module: Any, enrol: Any, api: Any, fcm: Any
) -> None:
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
    started = now()
    with _faults(seed=3) as seen:
        poller.drain()
        for k in range(1, 30):  # the every-minute schedule, each run past the previous run's leases
            if all(
                fcm.delivered_to("tok-" + target) and _pushed(fcm, alert) for alert, target in alerts.items()
            ):
                break
            with contextlib.suppress(Exception):  # a failed run: the next resumes
                delivery.deliver_due(moment=started + timedelta(seconds=61 * k))
    _every_kind_injected(seen)
    pushed = [m["data"]["alert_id"] for m in fcm.accepted if m["data"].get("alert_id") in alerts]
    assert set(pushed) == set(alerts)  # nothing lost
    assert len(pushed) == len(alerts), sorted(pushed)  # nothing doubled


def _pushed(fcm: Any, alert_id: str) -> bool:
    return any(m["data"].get("alert_id") == alert_id for m in fcm.accepted)


def test_a_resumed_payment_asks_the_provider_before_charging_again(
    api: Any, app_module: Any, enrol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The charge went through but recording it failed (DynamoDB past its retries): the app's
    retry with the same Idempotency-Key resumes the payment, which must ask the provider what
    became of its attempt, not call `charge` a second time (the random faults above reach this
    path rarely; this reaches it every time). Mutation: drop the lookup in
    `payments._charge_and_settle` (charge again on resume) → two attempts."""
    from chalicelib.billing import settlement
    from chalicelib.billing.gateway import get_gateway
    from chalicelib.billing.sandbox_gateway import SandboxGateway
    from tests.billing.conftest import bill_document

    enrolled = enrol()
    document = bill_document(enrolled.customer["customer_number"])
    app_module.import_bills({"bills": [document]}, None)
    bill_id = document["bill_id"]
    method = add_card(api, enrolled).body["payment_method_id"]
    challenge = api.post(
        f"/bills/{bill_id}/payments/challenge",
        {"amount": 700, "payment_method_id": method},
        token=enrolled.token,
    )
    body = {
        "amount": 700,
        "payment_method_id": method,
        "challenge_id": challenge.body["challenge_id"],
        "credential": enrolled.authenticator.get(challenge.body["options"]),
    }
    real, failures = settlement.settle, [1]

    def settle_failing_once(*args: Any, **kwargs: Any) -> Any:
        if failures:
            failures.pop()
            raise RuntimeError("DynamoDB failed past its retries")
        return real(*args, **kwargs)

    monkeypatch.setattr(settlement, "settle", settle_failing_once)
    key = str(uuid.uuid4())
    first = api.post(
        f"/bills/{bill_id}/payments", body, token=enrolled.token, headers={"Idempotency-Key": key}
    )
    assert first.status == 503, first.body
    again = api.post(
        f"/bills/{bill_id}/payments", body, token=enrolled.token, headers={"Idempotency-Key": key}
    )
    assert again.status == 201, again.body
    gateway = get_gateway()
    assert isinstance(gateway, SandboxGateway)
    assert len(gateway.attempts_for(again.body["payment_id"])) == 1
