"""Push delivery: the real firebase_admin client against a local fake of the FCM v1 API, driven by
DynamoDB Local's real table stream (devtools/stream_poller.py), as Lambda would drive it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.notifications import delivery, inbox
from chalicelib.store.models import InboxCounter, InboxItem, customer_pk
from tests.support.push_contract import validate_push


def _tok(installation_id: str) -> str:
    """The FCM token each test phone registers with: pushes go to it, so the fake FCM is asked by it."""
    return "tok-" + installation_id


def _device(api, enrolled, installation_id: str | None = None, **body):
    installation_id = installation_id or "fid" + secrets.token_hex(8)
    payload = {
        "fcm_token": _tok(installation_id),
        "platform": "android",
        "app_version": "1.2.0",
        "locale": "fr-FR",
        **body,
    }
    response = api.request("PUT", f"/me/devices/{installation_id}", payload, token=enrolled.token)
    assert response.status == 200, response.body
    return installation_id


def _announce(customer_id: str, key: str) -> str:
    return inbox.notify(
        customer_id=customer_id,
        kind="service.announcement",
        data={
            "announcement_id": key,
            "message_fr": "Maintenance ce soir.",
            "message_en": "Maintenance tonight.",
        },
        dedup_key=key,
    ).alert_id


def _item(customer_id: str, alert_id: str) -> InboxItem:
    return InboxItem.get(customer_pk(customer_id), f"INBOX#{alert_id}", consistent_read=True)


@pytest.fixture
def customer_with_devices(api, enrol, stream, fcm):
    stream.drain()  # whatever earlier tests left on the stream
    enrolled = enrol()
    phones = [_device(api, enrolled), _device(api, enrolled, platform="ios")]
    stream.drain()  # the enrolment's passkey_added alert, delivered to both
    fcm.reset()
    return enrolled, phones


def test_a_sign_in_reaches_the_inbox_once_and_each_device_once(
    api, customer_with_devices, sign_in, stream, fcm
):
    enrolled, phones = customer_with_devices
    assert sign_in(enrolled.authenticator).status == 200
    stream.drain()
    items = api.get("/me/inbox", token=enrolled.token).body["items"]
    new_session = [i for i in items if i["kind"] == "security.new_session"]
    assert len(new_session) == 1 and new_session[0]["deep_link"] == "selfcare://security/sessions"
    for phone in phones:
        got = fcm.delivered_to(_tok(phone))
        assert len(got) == 1 and got[0]["data"]["alert_id"] == new_session[0]["id"]
        validate_push(got[0])
    assert _item(enrolled.customer["customer_id"], new_session[0]["id"]).delivery_status == "sent"


def test_redelivered_stream_records_push_nothing_twice(customer_with_devices, stream, fcm, app_module):
    enrolled, phones = customer_with_devices
    cid = enrolled.customer["customer_id"]
    alert = _announce(cid, "redeliver")
    stream.drain()
    assert all(len(fcm.delivered_to(_tok(p))) == 1 for p in phones)
    # The same INSERT record again, as a retried batch would bring it.
    item = _item(cid, alert)
    record = {
        "eventID": "x",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-3",
        "dynamodb": {
            "Keys": {},
            "NewImage": item.serialize(),
            "SequenceNumber": "42",
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:eu-west-3:0:table/t/stream/x",
    }
    assert app_module.on_table_stream({"Records": [record, record]}, None) == {"batchItemFailures": []}
    assert all(len(fcm.delivered_to(_tok(p))) == 1 for p in phones)


def test_an_unregistered_installation_is_pruned(api, customer_with_devices, stream, fcm):
    enrolled, (gone, alive) = customer_with_devices
    fcm.behave(_tok(gone), "unregistered")
    alert = _announce(enrolled.customer["customer_id"], "prune")
    stream.drain()
    assert [d["installation_id"] for d in api.get("/me/devices", token=enrolled.token).body["devices"]] == [
        alive
    ]
    assert len(fcm.delivered_to(_tok(alive))) == 1
    from tests.notifications.test_device_list import listed

    # Gone from the list the fan-out reads too (same transaction): never pushed to again.
    assert listed(enrolled.customer["customer_id"]) == [alive]
    item = _item(enrolled.customer["customer_id"], alert)
    assert item.delivery_status == "sent" and item.delivered.as_dict() == {
        gone: "unregistered",
        alive: "sent",
    }


def test_invalid_argument_prunes_only_with_an_fcm_error_detail(api, customer_with_devices, stream, fcm):
    enrolled, (bad_token, bad_payload) = customer_with_devices
    fcm.behave(_tok(bad_token), "invalid")
    fcm.behave(_tok(bad_payload), "bad-payload")
    alert = _announce(enrolled.customer["customer_id"], "invalid")
    stream.drain()
    remaining = [d["installation_id"] for d in api.get("/me/devices", token=enrolled.token).body["devices"]]
    assert remaining == [bad_payload]  # our payload was wrong there: keep the device, log it
    delivered = _item(enrolled.customer["customer_id"], alert).delivered.as_dict()
    assert delivered[bad_token] == "unregistered" and delivered[bad_payload].startswith("rejected")


def test_a_transient_failure_is_retried_later_and_delivered_once(customer_with_devices, stream, fcm):
    enrolled, (flaky, steady) = customer_with_devices
    cid = enrolled.customer["customer_id"]
    fcm.behave(
        _tok(flaky), "unavailable:3"
    )  # two attempts now (with the client's one retry), ok on the third
    alert = _announce(cid, "transient")
    stream.drain()
    item = _item(cid, alert)
    assert item.delivery_status == "retrying"
    assert datetime.fromisoformat(item.deliver_after.replace("Z", "+00:00")) >= datetime.now(UTC) + timedelta(
        seconds=25
    )
    assert fcm.delivered_to(_tok(flaky)) == [] and len(fcm.delivered_to(_tok(steady))) == 1
    assert alert not in delivery.deliver_due(moment=datetime.now(UTC))  # not due yet
    later = delivery.deliver_due(moment=datetime.now(UTC) + timedelta(minutes=2))
    assert later[alert] == "sent"
    assert len(fcm.delivered_to(_tok(flaky))) == 1 and len(fcm.delivered_to(_tok(steady))) == 1  # never twice
    assert delivery.deliver_due(moment=datetime.now(UTC) + timedelta(minutes=10)) == {}


def test_quota_exceeded_backs_off_at_least_a_minute(customer_with_devices, stream, fcm):
    enrolled, (limited, _) = customer_with_devices
    cid = enrolled.customer["customer_id"]
    fcm.behave(_tok(limited), "quota:1")
    alert = _announce(cid, "quota")
    started = datetime.now(UTC)
    stream.drain()
    item = _item(cid, alert)
    assert item.delivery_status == "retrying"
    assert datetime.fromisoformat(item.deliver_after.replace("Z", "+00:00")) >= started + timedelta(
        seconds=89
    )  # its Retry-After: 90


def test_quiet_hours_defer_the_push_then_deliver_it(api, customer_with_devices, stream, fcm):
    enrolled, phones = customer_with_devices
    cid = enrolled.customer["customer_id"]
    local = datetime.now(ZoneInfo("Europe/Paris"))
    start, end = (
        (local - timedelta(hours=1)).strftime("%H:%M"),
        (local + timedelta(hours=1)).strftime("%H:%M"),
    )
    saved = api.request(
        "PUT",
        "/me/notification-preferences",
        {"quiet_hours": {"start": start, "end": end}},
        token=enrolled.token,
    )
    assert saved.status == 200 and saved.body["quiet_hours"] == {"start": start, "end": end}
    alert = _announce(cid, "quiet")
    stream.drain()
    item = _item(cid, alert)
    assert item.delivery_status == "deferred" and fcm.accepted == []
    assert api.get("/me/inbox", token=enrolled.token).body["items"][0]["id"] == alert  # in the inbox at once
    during = delivery.deliver_due(moment=datetime.now(UTC) + timedelta(minutes=30))
    assert alert not in during
    after = delivery.deliver_due(moment=datetime.now(UTC) + timedelta(hours=1, minutes=2))
    assert after[alert] == "sent"
    assert all(len(fcm.delivered_to(_tok(p))) == 1 for p in phones)


def test_security_alerts_ignore_quiet_hours_and_preferences(api, customer_with_devices, sign_in, stream, fcm):
    enrolled, phones = customer_with_devices
    api.request(
        "PUT",
        "/me/notification-preferences",
        {
            "categories": {"usage": False, "billing": False, "bidding": False, "service": False},
            "quiet_hours": {"start": "00:00", "end": "23:59"},
        },
        token=enrolled.token,
    )
    sign_in(enrolled.authenticator)
    stream.drain()
    assert all(
        len(fcm.delivered_to(_tok(p))) == 1
        and fcm.delivered_to(_tok(p))[0]["data"]["kind"] == "security.new_session"
        for p in phones
    )


def test_a_switched_off_category_keeps_the_inbox_item_but_pushes_nothing(
    api, customer_with_devices, stream, fcm
):
    enrolled, _ = customer_with_devices
    cid = enrolled.customer["customer_id"]
    api.request(
        "PUT", "/me/notification-preferences", {"categories": {"service": False}}, token=enrolled.token
    )
    alert = _announce(cid, "muted")
    stream.drain()
    assert fcm.accepted == []
    assert _item(cid, alert).delivery_status == "suppressed"
    assert alert in [i["id"] for i in api.get("/me/inbox", token=enrolled.token).body["items"]]


def test_security_alerts_cannot_be_switched_off(api, enrol):
    enrolled = enrol()
    refused = api.request(
        "PUT", "/me/notification-preferences", {"categories": {"security": False}}, token=enrolled.token
    )
    assert refused.status == 400 and refused.error_code == "security_alerts_required"
    prefs = api.get("/me/notification-preferences", token=enrolled.token).body
    assert prefs["categories"]["security"] is True and prefs["time_zone"] == "Europe/Paris"
    assert (
        api.request(
            "PUT",
            "/me/notification-preferences",
            {"quiet_hours": {"start": "25:00", "end": "07:00"}},
            token=enrolled.token,
        ).status
        == 400
    )


def test_no_devices_means_inbox_only(api, enrol, stream, fcm):
    stream.drain()
    enrolled = enrol()
    alert = _announce(enrolled.customer["customer_id"], "nodevice")
    stream.drain()
    assert _item(enrolled.customer["customer_id"], alert).delivery_status == "no_devices"
    assert fcm.accepted == [] or all(m["data"]["alert_id"] != alert for m in fcm.accepted)


def test_every_kind_builds_a_push_that_matches_its_schema_and_fits_4kb():
    from chalicelib.notifications import payloads
    from chalicelib.notifications.catalog import KINDS
    from tests.support.push_contract import schema_for

    for kind in KINDS.values():
        fields = schema_for(kind.kind)["allOf"][1]["properties"]["data"]["properties"]
        # "v" for every value, or the first allowed (or example) one where the contract gives them
        values = {
            k: (fields.get(k, {}).get("enum") or fields.get(k, {}).get("examples") or ["v"])[0]
            for k in kind.data_keys
        }
        title, body, link = kind.render("fr", values)
        message = payloads.message_for(
            target="fid-123456789",
            alert={
                "id": "alr_" + "0" * 24,
                "kind": kind.kind,
                "category": kind.category,
                "title": title,
                "body": body * 40,
                "deep_link": link,
                "data": values,
            },
            badge=3,
        )
        validate_push(message)


def test_a_worker_that_dies_mid_send_is_taken_over_after_its_lease(customer_with_devices, fcm):
    enrolled, phones = customer_with_devices
    cid = enrolled.customer["customer_id"]
    # notify() without the stream: nobody delivers it yet.
    alert = _announce(cid, "crash")
    moment = datetime.now(UTC)
    assert delivery._claim(cid, alert, moment, due_only=False) is not None  # a worker claims it, then dies
    assert delivery.deliver([(cid, alert)], moment=moment) == {}  # the lease holds: no second sender
    assert delivery.deliver_due(moment=moment + timedelta(seconds=30)) == {}
    taken_over = delivery.deliver_due(moment=moment + timedelta(seconds=61))
    assert taken_over == {alert: "sent"}
    assert all(len(fcm.delivered_to(_tok(p))) == 1 for p in phones)


def test_an_unreadable_item_of_another_kind_never_blocks_the_stream(app_module):
    """AWS retries every record after the lowest failed one: a record of a kind this handler does
    not read (here a payment with a corrupt amount) must not fail. Mutation: decode every image."""
    record = {
        "eventID": "p",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-3",
        "dynamodb": {
            "Keys": {},
            "NewImage": {
                "PK": {"S": "CUSTOMER#x"},
                "SK": {"S": "BILL#b#PAY#p"},
                "type": {"S": "payment"},
                "amount": {"S": "not a number"},
            },
            "SequenceNumber": "7",
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:eu-west-3:0:table/t/stream/x",
    }
    assert app_module.on_table_stream({"Records": [record]}, None) == {"batchItemFailures": []}


def test_firebase_admin_is_reached_through_one_seam_and_nothing_global_is_patched(fcm):
    """firebase_admin has no public setting for the FCM endpoint or its HTTP transport, so
    `senders._messaging_session` is the one access to its internals: this checks it still works
    with the version pinned in requirements.txt. A sender pointed at the fake delivers through the
    real client; its app's session carries our retry policy (one quick retry, never sleeping on
    Retry-After); firebase_admin's own FCM URL constant is untouched, so another app in the process
    still addresses Google. Mutation: patch `_MessagingService.FCM_URL` as before → fails; skip
    `_tune_transport` → the retry assertion fails and nothing reaches the fake."""
    import re
    from pathlib import Path

    import firebase_admin
    from firebase_admin import messaging

    from chalicelib.notifications import payloads, senders

    pinned = re.search(
        r"^firebase-admin==(\S+)$",
        (Path(__file__).resolve().parents[2] / "requirements.txt").read_text(),
        re.MULTILINE,
    )
    assert pinned and firebase_admin.__version__ == pinned.group(1)  # the version this seam was checked with

    sender = senders.FcmSender(project_id="selfcare-seam", credentials_source="none", endpoint=fcm.url)
    message = payloads.message_for(
        target="tok-seam",
        alert={
            "id": "alr_" + "1" * 24,
            "kind": "service.announcement",
            "category": "service",
            "title": "t",
            "body": "b",
            "deep_link": "selfcare://inbox",
            "data": {"announcement_id": "seam"},
        },
        badge=1,
    )
    assert sender.send([message]) == [senders.Outcome(senders.SENT)]
    assert len(fcm.delivered_to("tok-seam")) == 1

    session = senders._messaging_session(sender._firebase_app())
    retry = session.get_adapter(senders.FCM_ORIGIN + "/v1/projects/selfcare-seam/messages:send").max_retries
    assert (retry.status, retry.respect_retry_after_header, retry.backoff_factor) == (1, False, 0.2)
    assert messaging._MessagingService.FCM_URL.startswith(senders.FCM_ORIGIN + "/")


def test_a_batch_with_alerts_already_taken_pushes_each_of_the_others_once(customer_with_devices, fcm):
    """The batch's claims are one transaction: a claim whose condition fails (an alert delivered
    already, or leased by another worker) is dropped and the others are claimed again, each pushed
    once. Mutation: in `_claim_all`, give the batch up on a failed condition (`pending = []`) → the
    fresh alerts stay unpushed → fails; keep the refused claims (no filtering on `failed.labels`)
    → the transaction fails again and again, or the leased alert is pushed twice → fails."""
    enrolled, phones = customer_with_devices
    cid = enrolled.customer["customer_id"]
    moment = datetime.now(UTC)
    done = _announce(cid, "batch-done")
    assert delivery.deliver([(cid, done)], moment=moment) == {done: "sent"}
    leased = _announce(cid, "batch-leased")
    assert delivery._claim(cid, leased, moment, due_only=False) is not None  # another worker's lease
    fresh = [_announce(cid, f"batch-fresh-{n}") for n in range(3)]
    fcm.reset()
    targets = [(cid, done), (cid, fresh[0]), (cid, leased), (cid, fresh[1]), (cid, fresh[2]), (cid, fresh[0])]
    statuses = delivery.deliver(targets, moment=moment)
    assert statuses == {alert: "sent" for alert in fresh}
    for phone in phones:
        pushed = sorted(m["data"]["alert_id"] for m in fcm.delivered_to(_tok(phone)))
        assert pushed == sorted(fresh)  # once each, the duplicate target included
    assert _item(cid, leased).delivery_status == "sending"  # left to its worker (then the sweep)
    assert all(
        _item(cid, a).delivery_status == "sent" and len(_item(cid, a).delivered.as_dict()) == 2 for a in fresh
    )


def test_the_sweeps_index_is_spread_by_customer_and_read_whole(customer_with_devices, stream, fcm):
    """A waiting push is indexed under its day's shard (`DEFERRED#<day>#<n>`, by customer: a fan-out
    no longer writes one key per day), customers spread over every shard, and the sweep reads each
    shard and the unsharded key of items indexed before the shards.
    Mutations: deferred_pk without the shard → the first assertion fails; deferred_pks without the
    unsharded key → the legacy alert is never delivered."""
    enrolled, (flaky, steady) = customer_with_devices
    cid = enrolled.customer["customer_id"]
    fcm.behave(_tok(flaky), "unavailable:3")
    alert = _announce(cid, "sharded")
    stream.drain()
    item = _item(cid, alert)
    assert item.delivery_status == "retrying"
    assert (
        item.GSI1PK
        == delivery.deferred_pk(item.deliver_after[:10], cid)
        != f"DEFERRED#{item.deliver_after[:10]}"
    )
    shards = {delivery.deferred_pk("2026-11-27", f"cus_{n:024x}") for n in range(400)}
    assert len(shards) == delivery.DEFERRED_SHARDS
    # Indexed the old way (before the shards): still found and delivered, once.
    item.update(actions=[InboxItem.GSI1PK.set(f"DEFERRED#{item.deliver_after[:10]}")])
    later = delivery.deliver_due(moment=datetime.now(UTC) + timedelta(minutes=2))
    assert later[alert] == "sent"
    assert len(fcm.delivered_to(_tok(flaky))) == 1 and len(fcm.delivered_to(_tok(steady))) == 1


def test_a_full_batch_reads_its_customers_with_the_claims_and_pushes_each_alert_once(
    customer_with_devices, fcm
):
    """98 alerts of one customer: the items fill a page of the read, so the customer's profile,
    preferences, badge and device list are read in a page of their own while the claims'
    transaction runs (the same two BatchGetItem calls as one read after it; no device Query). Each
    alert reaches each phone once, with the badge that was read. Mutations: the early read's items
    left out of `_read`'s `found` → no profile, every alert `failed` → fails; the early read sent for
    a batch that fits one page (`early = True`) → 1 alert takes 2 BatchGetItem → test_call_counts
    fails; the device list's key left out of `_context_keys` → a Query → fails."""
    from bench.common import calls, count_dynamodb_calls

    if not getattr(count_dynamodb_calls, "_installed", False):
        count_dynamodb_calls()
        count_dynamodb_calls._installed = True  # type: ignore[attr-defined]
    enrolled, phones = customer_with_devices
    cid = enrolled.customer["customer_id"]
    alerts = [_announce(cid, f"full-{secrets.token_hex(4)}-{n}") for n in range(98)]
    fcm.reset()
    with calls() as seen:
        statuses = delivery.deliver([(cid, a) for a in alerts])
    assert statuses == {a: "sent" for a in alerts}
    assert dict(seen) == {"TransactWriteItems": 2, "BatchGetItem": 2}
    badges = set()
    for phone in phones:
        pushed = fcm.delivered_to(_tok(phone))
        assert sorted(m["data"]["alert_id"] for m in pushed) == sorted(alerts)
        badges |= {m["apns"]["payload"]["aps"]["badge"] for m in pushed}
    unread = int(InboxCounter.get(customer_pk(cid), "COUNTER#INBOX", consistent_read=True).unread)
    assert badges == {unread} and unread >= 98


def test_an_alerts_messages_are_built_once_and_differ_by_their_target_only():
    """One alert to several phones: one message per target, in order, the same text for all (the
    4 KB limit measured with the longest target), and firebase_admin's Message of each is what
    converting it alone gives. Mutations: `messages_for` measuring with the shortest target → the
    longest one's message exceeds 4 KB → fails; the shared conversion keyed by the converter
    instead of by the part → another alert's text → fails; the body shortened by characters
    counted with its ellipsis (as before) → data too long for any body loops forever → times out."""
    import json

    from firebase_admin import _messaging_encoder

    from chalicelib.notifications import payloads, senders

    def alert(n: int, body: str) -> dict:
        return {
            "id": f"alr_{n:024d}",
            "kind": "service.announcement",
            "category": "service",
            "title": f"Information {n}",
            "body": body,
            "deep_link": "selfcare://inbox",
            "data": {"announcement_id": "a" * 2500},
        }

    targets = ["short", "t" * 600, "mid" * 20]
    messages = payloads.messages_for(targets=targets, alert=alert(1, "é" * 900), badge=2)
    assert [m["token"] for m in messages] == targets
    assert len({m["notification"]["body"] for m in messages}) == 1
    for message in messages:
        assert len(json.dumps(message, ensure_ascii=False).encode()) <= payloads.MAX_BYTES
        validate_push(message)
    assert payloads.message_for(target="t" * 600, alert=alert(1, "é" * 900), badge=2) == messages[1]
    assert len(messages[0]["notification"]["body"]) < 900  # shortened to fit the longest
    # Data too long for any body: shortened down to 20 characters, then given up (FCM refuses it).
    hopeless = payloads.message_for(
        target="x", alert={**alert(3, "b" * 500), "data": {"d": "a" * 5000}}, badge=0
    )
    assert hopeless["notification"]["body"] == "b" * 20 + "…"

    others = payloads.messages_for(targets=targets[:2], alert=alert(2, "Maintenance."), badge=5)
    shared: dict = {}
    encoder = _messaging_encoder.MessageEncoder()
    for message in messages + others:
        together = encoder.default(senders._to_firebase(message, shared))
        alone = encoder.default(senders._to_firebase(message))
        assert json.dumps(together, sort_keys=True) == json.dumps(alone, sort_keys=True)
    assert len(shared) == 6  # notification, android, apns: once per alert
