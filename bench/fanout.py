"""Push fan-out: 10,000 alerts to 20,000 devices (5,000 customers x 2 alerts x 2 devices) through
the real firebase_admin client and a local fake of the FCM v1 API, as a ratio to raw `send_each`
calls of the same 20,000 messages (the floor: what FCM's client alone costs here).

Delivery runs as one stream shard would: batches of 100 alerts, one after the other. Items are
seeded with batch writes (not notify()) so that only delivery is measured."""

from __future__ import annotations

import time
from typing import Any

from bench.common import calls


def run(
    *, customers: int = 5000, alerts_per_customer: int = 2, devices_per_customer: int = 2
) -> dict[str, Any]:
    import os

    from devtools.fake_fcm import FakeFcm

    fake = FakeFcm().start()
    os.environ.update(FCM_PROJECT_ID="selfcare-bench", FIREBASE_CREDENTIALS="none", FCM_ENDPOINT=fake.url)
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    from chalicelib.notifications import delivery, payloads, senders
    from chalicelib.notifications.devices import LIST_SK
    from chalicelib.notifications.inbox import new_alert_id
    from chalicelib.store.models import Customer, Device, DeviceList, InboxItem, customer_pk

    sender = senders.FcmSender(project_id="selfcare-bench", credentials_source="none", endpoint=fake.url)
    stamp = "2026-01-01T00:00:00Z"
    targets: list[tuple[str, str]] = []
    seed_started = time.perf_counter()
    with Customer.batch_write() as batch:
        for n in range(customers):
            cid = f"cus_bench{n:07d}"
            batch.save(
                Customer(
                    customer_pk(cid),
                    "PROFILE",
                    customer_id=cid,
                    customer_number=f"BN-{n}",
                    name="Bench",
                    user_handle="x",
                    created_at=stamp,
                    language="en",
                )
            )
            for d in range(devices_per_customer):
                batch.save(
                    Device(
                        customer_pk(cid),
                        f"DEVICE#fid{n:07d}d{d}",
                        installation_id=f"fid{n:07d}d{d}",
                        fcm_token=f"tok-{n:07d}d{d}",
                        platform="android",
                        app_version="1",
                        locale="en",
                        created_at=stamp,
                        updated_at=stamp,
                        expires_at=int(time.time()) + 86400,
                    )
                )
            # The list the fan-out reads them from (as a registration writes it with them).
            batch.save(
                DeviceList(
                    customer_pk(cid),
                    LIST_SK,
                    devices={
                        f"fid{n:07d}d{d}": {
                            "fcm_token": f"tok-{n:07d}d{d}",
                            "updated_at": stamp,
                            "expires_at": int(time.time()) + 86400,
                        }
                        for d in range(devices_per_customer)
                    },
                )
            )
            for a in range(alerts_per_customer):
                alert_id = new_alert_id()
                batch.save(
                    InboxItem(
                        customer_pk(cid),
                        f"INBOX#{alert_id}",
                        alert_id=alert_id,
                        customer_id=cid,
                        kind="service.announcement",
                        category="service",
                        title="Information",
                        body="Maintenance tonight.",
                        language="en",
                        deep_link="selfcare://inbox/a1",
                        data={"announcement_id": "a1"},
                        dedup_key=f"b{n}-{a}",
                        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        delivery_status="pending",
                        expires_at=int(time.time()) + 86400,
                    )
                )
                targets.append((cid, alert_id))
    seed_s = time.perf_counter() - seed_started

    sender.send([])  # create the Firebase app outside the timings (a warm container)
    started = time.perf_counter()
    sent = 0
    with calls() as seen:
        for start in range(0, len(targets), 100):
            statuses = delivery.deliver(targets[start : start + 100], sender=sender)
            sent += sum(1 for s in statuses.values() if s == "sent")
    fanout_s = time.perf_counter() - started
    pushes = len(fake.accepted)

    # The floor: the same messages through send_each, nothing else.
    from firebase_admin import messaging

    messages = [
        payloads.message_for(
            target=m["token"],
            alert={
                "id": m["data"]["alert_id"],
                **{k: m["data"][k] for k in ("kind", "category", "deep_link")},
                "title": m["notification"]["title"],
                "body": m["notification"]["body"],
                "data": {"announcement_id": "a1"},
            },
            badge=0,
        )
        for m in fake.accepted
    ]
    fake.reset()
    app = sender._firebase_app()
    converted = [senders._to_firebase(m) for m in messages]
    raw_started = time.perf_counter()
    for start in range(0, len(converted), senders.BATCH):
        messaging.send_each(converted[start : start + senders.BATCH], app=app)
    raw_s = time.perf_counter() - raw_started
    fake.stop()
    alerts = len(targets)
    return {
        "alerts": alerts,
        "devices": customers * devices_per_customer,
        "pushes_accepted_by_fake_fcm": pushes,
        "alerts_sent": sent,
        "seed_seconds": round(seed_s, 1),
        "fanout_seconds": round(fanout_s, 1),
        "alerts_per_second": round(alerts / fanout_s, 1),
        "pushes_per_second": round(pushes / fanout_s, 1),
        "raw_send_each_seconds": round(raw_s, 1),
        "raw_send_each_pushes_per_second": round(len(converted) / raw_s, 1),
        "ratio_to_raw_send_each": round(fanout_s / raw_s, 2),
        "dynamodb_calls": dict(seen),
        "dynamodb_calls_per_alert": round(sum(seen.values()) / alerts, 2),
    }
