"""Push recipients: one app installation each, registered by the signed-in app.

An installation belongs to one customer at a time: when a phone signs in to another account, the
previous customer's device entry goes, so their alerts never reach someone else's hands.

Installation ids are not secrets, so naming one proves nothing. Pushes therefore go to the FCM
registration token the app presented with it (which only that phone and FCM know), never to the
installation id: whoever registers an id, its alerts reach only the phone that gave the token.
The previous customer's entry is removed only on proof that it is the same phone (the same token
presented again from the new account); otherwise it stays, still reaching only its own token.

Besides the Device items (`DEVICE#<installation id>`, what the app lists), each customer has one
DeviceList item (`DEVICES`): the same devices as a map, which the push fan-out reads in the
BatchGetItem it makes for the profile, instead of one Query per customer. Every write of a Device
item writes the list in the same transaction, so the two never differ: a registration SETs its
map key, an unregistration or a dead token REMOVEs it (conditioned on the list existing). A customer
whose devices predate the list has none: removals then check that there is still none (the Device
items alone are the truth), and their next registration creates it from a consistent Query of the
Device items, each checked unchanged when the list is written. Devices that expire (TTL) keep their
entry, with the same `expires_at`, and reads skip it as they skip the expired Device item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.common.clock import epoch, iso, now
from chalicelib.common.secrets import same, sha256_hex
from chalicelib.errors import Conflict, NotFound
from chalicelib.store.db import ConditionsFailed, Transaction, retry_conflicts, transaction
from chalicelib.store.models import Device, DeviceList, Installation, customer_pk

# FCM considers a token stale after a month unused; the app re-registers at every start.
STALE_AFTER = timedelta(days=30)
MAX_DEVICES = 20
LIST_SK = "DEVICES"
# Each attempt re-reads what a failed condition showed changed (the installation's owner, whether
# the customer's device list exists yet): a few suffice unless another write races every time.
ATTEMPTS = 5


@dataclass(frozen=True)
class Recipient:
    """What a push needs of a device: the token to send to, and which registration it was (a dead
    token's device is removed only if the app has not registered again since: `updated_at`)."""

    installation_id: str
    fcm_token: str
    updated_at: str


def _to_wire(device: Device, current_session: str | None = None) -> dict[str, Any]:
    return {
        "installation_id": device.installation_id,
        "platform": device.platform,
        "app_version": device.app_version,
        "locale": device.locale,
        "created_at": device.created_at,
        "updated_at": device.updated_at,
        "this_session": device.session_id == current_session if current_session else False,
    }


def register(
    *,
    customer_id: str,
    session_id: str,
    installation_id: str,
    fcm_token: str,
    platform: str,
    app_version: str,
    locale: str,
) -> dict[str, Any]:
    """Register or refresh (a refreshed token replaces the old one)."""
    moment = now()
    token_hash = sha256_hex(fcm_token)
    # Whether the device lists exist (ours, and the previous owner's when the phone moves to us) is
    # assumed, not read: a wrong guess fails its condition and the next attempt takes the other way.
    listed, previous_listed = True, True
    for _ in range(ATTEMPTS):  # optimistic: retried if the installation changes hands concurrently
        try:
            current = Installation.get(
                f"INSTALLATION#{installation_id}", "INSTALLATION", consistent_read=True
            )
            owner, owner_token = current.customer_id, current.token_hash
        except Installation.DoesNotExist:
            owner, owner_token = None, None
        same_phone = bool(owner_token) and same(str(owner_token), token_hash)
        try:
            existing = Device.get(customer_pk(customer_id), f"DEVICE#{installation_id}", consistent_read=True)
            created = existing.created_at
        except Device.DoesNotExist:
            created = iso(moment)
            _make_room(customer_id)
        device = Device(
            customer_pk(customer_id),
            f"DEVICE#{installation_id}",
            installation_id=installation_id,
            fcm_token=fcm_token,
            platform=platform,
            app_version=app_version,
            locale=locale,
            session_id=session_id,
            created_at=created,
            updated_at=iso(moment),
            expires_at=epoch(moment + STALE_AFTER),
        )
        mapping = Installation(
            f"INSTALLATION#{installation_id}", "INSTALLATION", customer_id=customer_id, token_hash=token_hash
        )
        others = None if listed else _device_items(customer_id, consistent=True)
        try:
            with transaction() as tx:
                if not owner or owner == customer_id or same_phone:  # the id is ours (or the phone proves it)
                    tx.save(
                        mapping,
                        condition=(Installation.customer_id == owner)
                        if owner
                        else Installation.PK.does_not_exist(),
                        label="owner",
                    )
                # Otherwise another account holds this id and the token differs: no proof it is the
                # same phone, so that account keeps the id and its entry; ours reaches our token only.
                tx.save(device)
                _list_set(tx, device, listed=listed, others=others)
                if owner and owner != customer_id and same_phone:
                    tx.delete(Device(customer_pk(owner), f"DEVICE#{installation_id}"))
                    _list_remove(tx, owner, installation_id, listed=previous_listed, label="previous_list")
            return _to_wire(device, session_id)
        except ConditionsFailed as failed:
            # "snapshot": a device changed since the Query; the list is still absent, so read again.
            listed = listed != ("list" in failed.labels)
            previous_listed = previous_listed != ("previous_list" in failed.labels)
            continue
    raise Conflict(
        "This installation is being registered by another account; try again.", code="device_conflict"
    )


def _make_room(customer_id: str) -> None:
    """Drop the least recently refreshed devices until one more fits under MAX_DEVICES.

    The cap is kept by this check, not by a conditional write: two registrations of a new device
    at once both see 20, both pick the same oldest one, and the second finds it gone already. That
    device is gone as wanted, so it carries on (the two may leave 21 for a while: the next new
    device drops down to the cap again, since every surplus one goes, not only the oldest)."""
    devices = sorted(list_device_items(customer_id), key=lambda d: d.updated_at)
    for device in devices[: max(0, len(devices) - MAX_DEVICES + 1)]:
        try:
            unregister(customer_id=customer_id, installation_id=device.installation_id)
        except NotFound:
            continue  # dropped by a concurrent registration (or its owner) meanwhile


def unregister(*, customer_id: str, installation_id: str) -> None:
    owned, listed = True, True
    for _ in range(ATTEMPTS):
        try:
            with transaction() as tx:
                tx.delete(
                    Device(customer_pk(customer_id), f"DEVICE#{installation_id}"),
                    condition=Device.PK.exists(),
                    label="device",
                )
                if owned:
                    tx.delete(
                        Installation(f"INSTALLATION#{installation_id}", "INSTALLATION"),
                        condition=Installation.customer_id == customer_id,
                        label="owner",
                    )
                _list_remove(tx, customer_id, installation_id, listed=listed)
            return
        except ConditionsFailed as failed:
            if "device" in failed.labels:
                raise NotFound("No such device.", code="device_not_found") from None
            # The mapping moved to another customer already: our device entry alone goes.
            owned = owned and "owner" not in failed.labels
            listed = listed != ("list" in failed.labels)
    raise Conflict("This device is being changed by another request; try again.", code="device_conflict")


def unregister_session_devices(*, customer_id: str, session_ids: set[str]) -> int:
    """Ending sessions (by any path) unregisters the devices they registered."""
    gone = 0
    for device in _device_items(customer_id):
        if device.session_id in session_ids:
            try:
                unregister(customer_id=customer_id, installation_id=device.installation_id)
                gone += 1
            except NotFound:
                pass
    return gone


def remove_dead(*, customer_id: str, installation_id: str, seen_updated_at: str) -> bool:
    """FCM said this installation is gone: remove it, unless the app re-registered since we sent.
    Whether it was removed (not when the list kept changing under every attempt: the next push
    to it meets the same answer and tries again)."""
    listed = True
    for _ in range(ATTEMPTS):
        try:
            with transaction() as tx:
                tx.delete(
                    Device(customer_pk(customer_id), f"DEVICE#{installation_id}"),
                    condition=Device.updated_at == seen_updated_at,
                    label="device",
                )
                _list_remove(tx, customer_id, installation_id, listed=listed)
            return True
        except ConditionsFailed as failed:
            if "device" in failed.labels:
                return False
            listed = not listed
    return False


def forget_listed(*, customer_id: str, installation_id: str) -> None:
    """Take one device out of the customer's list alone (none: nothing to do). For the account's
    erasure, which deletes the Device items in batches of its own: the fan-out, which reads the
    list, must not find a device there once its item is gone."""

    def remove() -> None:
        try:
            DeviceList(customer_pk(customer_id), LIST_SK).update(
                actions=[DeviceList.devices[installation_id].remove()], condition=DeviceList.PK.exists()
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise

    retry_conflicts(remove, what="device_list")  # a REMOVE twice removes nothing more


def _entry(device: Device) -> dict[str, Any]:
    return {
        "fcm_token": device.fcm_token,
        "updated_at": device.updated_at,
        "expires_at": int(device.expires_at or 0),
    }


def _list_set(tx: Transaction, device: Device, *, listed: bool, others: list[Device] | None) -> None:
    """Put `device` in its customer's list, in `tx`. `listed`: the list exists (then one map key is
    SET, so two registrations at once both land). Otherwise the list is created from `others` (a
    consistent Query of the Device items), each checked unchanged: a device registered or removed
    since the Query fails the transaction ("snapshot") rather than be missed or kept."""
    pk = str(device.PK)
    if listed:
        tx.update(
            DeviceList(pk, LIST_SK),
            actions=[DeviceList.devices[device.installation_id].set(_entry(device))],
            condition=DeviceList.PK.exists(),
            label="list",
        )
        return
    entries = {
        d.installation_id: _entry(d) for d in others or [] if d.installation_id != device.installation_id
    }
    entries[device.installation_id] = _entry(device)
    tx.save(DeviceList(pk, LIST_SK, devices=entries), condition=DeviceList.PK.does_not_exist(), label="list")
    for other in others or []:
        if other.installation_id != device.installation_id:
            tx.check(Device, pk, str(other.SK), Device.updated_at == other.updated_at, label="snapshot")


def _list_remove(
    tx: Transaction, customer_id: str, installation_id: str, *, listed: bool, label: str = "list"
) -> None:
    """Take `installation_id` out of the customer's list, in `tx`; without a list, check that there
    is still none (one created meanwhile would keep the device: the transaction fails instead)."""
    if listed:
        tx.update(
            DeviceList(customer_pk(customer_id), LIST_SK),
            actions=[DeviceList.devices[installation_id].remove()],
            condition=DeviceList.PK.exists(),
            label=label,
        )
    else:
        tx.check(DeviceList, customer_pk(customer_id), LIST_SK, DeviceList.PK.does_not_exist(), label=label)


def _device_items(customer_id: str, *, consistent: bool = False) -> list[Device]:
    return list(
        Device.query(customer_pk(customer_id), Device.SK.startswith("DEVICE#"), consistent_read=consistent)
    )


def recipients_in(device_list: DeviceList) -> list[Recipient]:
    """The live devices of a customer's list (read with the profile by the fan-out)."""
    moment = epoch(now())
    entries: dict[str, Any] = device_list.devices.as_dict() if device_list.devices else {}
    return [
        Recipient(installation_id=key, fcm_token=str(e["fcm_token"]), updated_at=str(e["updated_at"]))
        for key, e in sorted(entries.items())
        if int(e.get("expires_at") or 0) > moment
    ]


def recipients(customer_id: str) -> list[Recipient]:
    """The live devices of a customer who has no list yet (registered before it existed)."""
    return [
        Recipient(installation_id=d.installation_id, fcm_token=d.fcm_token, updated_at=d.updated_at)
        for d in list_device_items(customer_id)
    ]


def list_device_items(customer_id: str) -> list[Device]:
    moment = epoch(now())
    return [d for d in _device_items(customer_id) if (d.expires_at or 0) > moment]


def list_devices(*, customer_id: str, current_session: str | None = None) -> list[dict[str, Any]]:
    return [_to_wire(d, current_session) for d in list_device_items(customer_id)]
