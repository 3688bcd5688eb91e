"""Pushing inbox items to the customer's devices, each device at most once per alert.

An item is claimed before sending (a conditional update with a 60 s lease, so two workers never
push the same alert at once), sent to the devices that have not had it yet, and the outcome per
device is recorded on the item. A crash between the send and the record is the only way a device
can get an alert twice: the lease expires and the next attempt sends again (at least once, never
lost). Quiet hours and FCM's transient errors (UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED, with its
Retry-After) defer the item under GSI1 `DEFERRED#<day>#<shard>`, where `deliver_due` (every minute)
finds it; an item that cannot be pushed after MAX_ATTEMPTS stays in the inbox, marked failed.

A batch (a stream batch, a sweep page: up to 100 alerts) costs a handful of DynamoDB calls, not a
few per alert: every claim in one TransactWriteItems (each with its own condition; the claims whose
condition fails are dropped and the rest sent again), the claimed items with their customers'
profile, preferences, badge and device list (notifications/devices.py) in one consistent
BatchGetItem (pages of 100 keys), and every outcome in one more TransactWriteItems. A customer whose
devices predate the device list has none yet: one device Query each, after the read. The customers'
part of the read, when it fills pages of its own, is sent while the claims' transaction runs: a
batch waits for DynamoDB about once before its pushes go.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.common.clock import iso, now
from chalicelib.notifications import devices as device_store
from chalicelib.notifications import inbox, payloads, preferences, senders
from chalicelib.notifications.devices import Recipient
from chalicelib.notifications.senders import PushSender
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, retry_conflicts, transaction
from chalicelib.store.models import (
    Customer,
    DeviceList,
    InboxCounter,
    InboxItem,
    Item,
    NotificationPreferences,
    customer_pk,
)

# The sweep's index is spread by customer over this many keys per day (deferred_pk).
DEFERRED_SHARDS = 8

IO_THREADS = 4  # overlap a batch's DynamoDB round-trips (DynamoDB Local serialises writes: no gain there)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 6
CLAIMABLE = ("pending", "deferred", "retrying")
PUSH_WINDOW = timedelta(seconds=payloads.TTL_SECONDS)  # older alerts are for the inbox only
TRANSACTION_ITEMS = 100  # DynamoDB's most per TransactWriteItems (a sweep of more: several, side by side)
PAGE_KEYS = 100  # DynamoDB's most keys per BatchGetItem (pynamodb pages a longer read)


T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Job:
    item: InboxItem
    customer: Customer
    prefs: preferences.Preferences
    badge: int
    pending: list[Recipient] = field(default_factory=list)


@dataclass
class _Context:
    customer: Customer
    prefs: preferences.Preferences
    badge: int
    devices: list[Recipient] | None  # None: no device list yet (its Device items are queried)


def _claim_update(
    customer_id: str, alert_id: str, moment: datetime, *, due_only: bool
) -> tuple[InboxItem, list[Action], Any]:
    """The claim of one alert: the item, its actions and their condition."""
    item = InboxItem(customer_pk(customer_id), f"INBOX#{alert_id}")
    claimable = InboxItem.delivery_status.is_in(*CLAIMABLE) | (
        (InboxItem.delivery_status == "sending") & (InboxItem.deliver_after < iso(moment))
    )
    condition = InboxItem.PK.exists() & claimable
    if due_only:
        condition &= InboxItem.deliver_after.does_not_exist() | (InboxItem.deliver_after <= iso(moment))
    lease_end = iso(moment + LEASE)
    actions: list[Action] = [
        InboxItem.delivery_status.set("sending"),
        InboxItem.deliver_after.set(lease_end),  # the lease: reclaimable after it
        InboxItem.delivery_attempts.add(1),
        # Indexed for the sweep: if this worker dies mid-send, deliver_due picks it up.
        InboxItem.GSI1PK.set(deferred_pk(lease_end[:10], customer_id)),
        InboxItem.GSI1SK.set(f"{lease_end}#{customer_id}#{alert_id}"),
    ]
    return item, actions, condition


def _claim(customer_id: str, alert_id: str, moment: datetime, *, due_only: bool) -> InboxItem | None:
    """Claim one alert alone (one UpdateItem returning the item)."""
    item, actions, condition = _claim_update(customer_id, alert_id, moment, due_only=due_only)
    try:
        # The item is in the transactions that mark it read: a conflict with one is retried.
        retry_conflicts(lambda: item.update(actions=actions, condition=condition), what="inbox_item")
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None  # delivered, being delivered, or not due: nothing to do
        raise
    return item


def _claim_all(targets: list[tuple[str, str]], moment: datetime, *, due_only: bool) -> list[tuple[str, str]]:
    """Claim these alerts in a few transactions of TRANSACTION_ITEMS, sent side by side; returns
    those claimed. A claim whose condition fails (delivered, being delivered, not due) is dropped
    and the others of its transaction sent again: nothing of a cancelled transaction was written."""

    def claim(pending: list[tuple[str, str]]) -> list[tuple[str, str]]:
        while pending:
            try:
                with transaction() as tx:
                    for customer_id, alert_id in pending:
                        item, actions, condition = _claim_update(
                            customer_id, alert_id, moment, due_only=due_only
                        )
                        tx.update(
                            item, actions=actions, condition=condition, label=f"{customer_id}|{alert_id}"
                        )
            except ConditionsFailed as failed:
                pending = [t for t in pending if f"{t[0]}|{t[1]}" not in failed.labels]
                continue
            break
        return pending

    return [t for claimed in _parallel(claim, _chunks(targets)) for t in claimed]


def _chunks(items: list[T]) -> list[list[T]]:
    return [items[start : start + TRANSACTION_ITEMS] for start in range(0, len(items), TRANSACTION_ITEMS)]


def _context_keys(customer_ids: list[str]) -> list[tuple[str, str]]:
    return [
        (customer_pk(c), sk)
        for c in customer_ids
        for sk in ("PROFILE", "PREFS#NOTIFICATIONS", "COUNTER#INBOX", device_store.LIST_SK)
    ]


def _batch_read(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """One consistent BatchGetItem (pages of PAGE_KEYS)."""
    return {(i.PK, i.SK): i for i in Item.batch_get(keys, consistent_read=True)} if keys else {}


def _pages(keys: int) -> int:
    return -(-keys // PAGE_KEYS)


def _read(
    claimed: list[tuple[str, str]], context_read: dict[tuple[str, str], Any] | None = None
) -> tuple[list[InboxItem], dict[str, _Context]]:
    """The claimed items as the claims left them, and their customers' context (unless read
    already: `context_read`), in one consistent batched read."""
    keys = [(customer_pk(c), f"INBOX#{a}") for c, a in claimed]
    if context_read is None:
        keys += _context_keys(sorted({c for c, _ in claimed}))
    found = {**(context_read or {}), **_batch_read(keys)}
    items = [
        item for c, a in claimed if isinstance(item := found.get((customer_pk(c), f"INBOX#{a}")), InboxItem)
    ]
    return items, _context_of({i.customer_id for i in items}, found)


def _context_of(customer_ids: set[str], found: dict[tuple[str, str], Any]) -> dict[str, _Context]:
    context = {}
    for customer_id in customer_ids:
        pk = customer_pk(customer_id)
        customer = found.get((pk, "PROFILE"))
        if not isinstance(customer, Customer):
            continue
        stored = found.get((pk, "PREFS#NOTIFICATIONS"))
        prefs = preferences.from_item(
            stored if isinstance(stored, NotificationPreferences) else None, customer
        )
        counter = found.get((pk, "COUNTER#INBOX"))
        badge = max(0, int(counter.unread)) if isinstance(counter, InboxCounter) else 0
        listed = found.get((pk, device_store.LIST_SK))
        devices = device_store.recipients_in(listed) if isinstance(listed, DeviceList) else None
        context[customer_id] = _Context(customer, prefs, badge, devices)
    return context


def _parallel(fn: Callable[[T], R], items: list[T]) -> list[R]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(IO_THREADS, len(items))) as pool:
        return list(pool.map(fn, items))


def deliver(
    targets: list[tuple[str, str]],
    *,
    moment: datetime | None = None,
    sender: PushSender | None = None,
    due_only: bool = False,
) -> dict[str, str]:
    """Push these (customer id, alert id) alerts; returns each alert's delivery status."""
    moment = moment or now()
    unique = list(dict.fromkeys(targets))  # one item appears once in a transaction
    statuses: dict[str, str] = {}
    # The customers' profile, preferences, badge and devices, when they fill pages of their own (a
    # batch of many alerts), are read while the claims' transaction runs: the same BatchGetItem
    # calls as one read after the claims, but sent with them.
    customers = sorted({c for c, _ in unique})
    context_keys = _context_keys(customers)
    early = _pages(len(unique)) + _pages(len(context_keys)) == _pages(len(unique) + len(context_keys))
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        context_read = pool.submit(_batch_read, context_keys) if early else None
        claimed_keys = _claim_all(unique, moment, due_only=due_only)
        if not claimed_keys:
            return statuses
        claimed, context = _read(claimed_keys, context_read.result() if context_read else None)
    unlisted = sorted(c for c, ctx in context.items() if ctx.devices is None)
    devices_of = {c: ctx.devices for c, ctx in context.items() if ctx.devices is not None}
    devices_of.update(zip(unlisted, _parallel(device_store.recipients, unlisted), strict=True))
    writes: list[tuple[InboxItem, list[Action]]] = []
    jobs: list[_Job] = []
    for item in claimed:
        if item.customer_id not in context:
            statuses[item.alert_id] = _finish(item, "failed", {}, writes)
            continue
        ctx = context[item.customer_id]
        customer, prefs, badge = ctx.customer, ctx.prefs, ctx.badge
        if not prefs.allows(item.category):
            statuses[item.alert_id] = _finish(item, "suppressed", {}, writes)
            continue
        if moment - datetime.fromisoformat(item.created_at.replace("Z", "+00:00")) > PUSH_WINDOW:
            statuses[item.alert_id] = _finish(item, "expired", {}, writes)
            continue
        quiet_end = prefs.quiet_until(item.category, moment)
        if quiet_end is not None:
            statuses[item.alert_id] = _defer(item, quiet_end, "deferred", {}, writes)
            continue
        already = item.delivered.as_dict() if item.delivered else {}
        pending = [d for d in devices_of[item.customer_id] if d.installation_id not in already]
        jobs.append(_Job(item=item, customer=customer, prefs=prefs, badge=badge, pending=pending))

    messages = [
        # To the FCM registration token the app presented with this installation, never to an id
        # someone else could claim: a device entry only ever reaches the phone that registered it.
        # An alert's message is built once, then addressed to each of its devices.
        message
        for job in jobs
        if job.pending
        for message in payloads.messages_for(
            targets=[d.fcm_token for d in job.pending], alert=inbox.to_wire(job.item), badge=job.badge
        )
    ]
    outcomes = iter((sender or senders.get_sender()).send(messages) if messages else [])
    for job in jobs:
        statuses[job.item.alert_id] = _record(job, [(d, next(outcomes)) for d in job.pending], moment, writes)
    _write(writes)
    return statuses


def _write(writes: list[tuple[InboxItem, list[Action]]]) -> None:
    """Every outcome of the batch, in transactions of TRANSACTION_ITEMS sent side by side
    (unconditional updates: the claims' leases are what keeps another worker off these items)."""

    def write(chunk: list[tuple[InboxItem, list[Action]]]) -> None:
        with transaction() as tx:
            for item, actions in chunk:
                tx.update(item, actions=actions)

    _parallel(write, _chunks(writes))


def _record(
    job: _Job,
    results: list[tuple[Recipient, senders.Outcome]],
    moment: datetime,
    writes: list[tuple[InboxItem, list[Action]]],
) -> str:
    item = job.item
    delivered = item.delivered.as_dict() if item.delivered else {}
    retry_after: list[int] = []
    for device, outcome in results:
        if outcome.status == senders.SENT:
            delivered[device.installation_id] = "sent"
        elif outcome.status == senders.UNREGISTERED:
            device_store.remove_dead(
                customer_id=item.customer_id,
                installation_id=device.installation_id,
                seen_updated_at=device.updated_at,
            )
            delivered[device.installation_id] = "unregistered"
        elif outcome.status == senders.NOT_SENT:
            delivered[device.installation_id] = "not_sent"
        elif outcome.status == senders.REJECTED:
            delivered[device.installation_id] = f"rejected: {outcome.detail}"
            log_event(
                "push_rejected", customer_id=item.customer_id, alert=item.alert_id, detail=outcome.detail
            )
        else:
            retry_after.append(outcome.retry_after_s or 0)
    if retry_after:
        attempts = int(item.delivery_attempts)
        if attempts < MAX_ATTEMPTS:
            backoff = max(max(retry_after), 30 * 2 ** (attempts - 1))
            return _defer(item, moment + timedelta(seconds=backoff), "retrying", delivered, writes)
        for device, outcome in results:
            delivered.setdefault(device.installation_id, f"failed: {outcome.detail}")
    sent = any(v == "sent" for v in delivered.values())
    fresh = [device for device, _ in results]
    emit("PushSent", sum(1 for d in fresh if delivered.get(d.installation_id) == "sent"))
    emit(
        "PushFailed",
        sum(1 for d in fresh if str(delivered.get(d.installation_id, "")).startswith(("failed", "rejected"))),
    )
    if sent:
        status = "sent"
    elif delivered and all(v == "not_sent" for v in delivered.values()):
        status = "not_sent"  # the console sender: nobody was told
    else:
        status = "no_devices" if all(v == "unregistered" for v in delivered.values()) else "failed"
    log_event(
        "push_delivered",
        customer_id=item.customer_id,
        alert=item.alert_id,
        status=status,
        devices=len(delivered),
    )
    return _finish(item, status, delivered, writes)


def _finish(
    item: InboxItem, status: str, delivered: dict[str, str], writes: list[tuple[InboxItem, list[Action]]]
) -> str:
    actions: list[Action] = [
        InboxItem.delivery_status.set(status),
        InboxItem.delivered.set(delivered),
        InboxItem.delivered_at.set(iso(now())),
        InboxItem.deliver_after.remove(),
        InboxItem.GSI1PK.remove(),
        InboxItem.GSI1SK.remove(),
    ]
    writes.append((item, actions))
    return status


def _defer(
    item: InboxItem,
    until: datetime,
    status: str,
    delivered: dict[str, str],
    writes: list[tuple[InboxItem, list[Action]]],
) -> str:
    when = iso(until)
    actions: list[Action] = [
        InboxItem.delivery_status.set(status),
        InboxItem.delivered.set(delivered),
        InboxItem.deliver_after.set(when),
        InboxItem.GSI1PK.set(deferred_pk(when[:10], item.customer_id)),
        InboxItem.GSI1SK.set(f"{when}#{item.customer_id}#{item.alert_id}"),
    ]
    writes.append((item, actions))
    return status


def deferred_pk(day: str, customer_id: str) -> str:
    """The sweep's index key of a customer's waiting push: its day, spread over DEFERRED_SHARDS by
    customer. Every push's claim indexes its lease there (and its record moves it): one key per
    day took a whole fan-out's rate, ~4,000 WCU/s at 2,000 alerts/s (infra/README.md "Scale")."""
    shard = int(hashlib.sha256(customer_id.encode()).hexdigest()[:8], 16) % DEFERRED_SHARDS
    return f"DEFERRED#{day}#{shard}"


def deferred_pks(day: str) -> list[str]:
    """Every key of a day the sweep reads: the shards, and the unsharded key of items indexed
    before the shards (a lease or a retry of the day the change is deployed)."""
    return [f"DEFERRED#{day}", *(f"DEFERRED#{day}#{n}" for n in range(DEFERRED_SHARDS))]


def deliver_due(*, moment: datetime | None = None, sender: PushSender | None = None) -> dict[str, str]:
    """The scheduled sweep: push every deferred alert whose time has come (quiet hours over, retry due)."""
    moment = moment or now()
    targets: list[tuple[str, str]] = []
    for day in (moment - timedelta(days=1), moment):
        for bucket in deferred_pks(iso(day)[:10]):
            for item in InboxItem.gsi1.query(bucket, iso(moment) + "~" >= InboxItem.GSI1SK):
                targets.append((item.customer_id, item.alert_id))
    statuses: dict[str, str] = {}
    for start in range(0, len(targets), 100):
        statuses.update(deliver(targets[start : start + 100], moment=moment, sender=sender, due_only=True))
    return statuses
