"""Push recipients: one app installation each, registered by the signed-in app.

An installation belongs to one customer at a time: when a phone signs in to another account, the
previous customer's device entry goes, so their alerts never reach someone else's hands.

Installation ids are not secrets, so naming one proves nothing. Pushes therefore go to the FCM
registration token the app presented with it (which only that phone and FCM know), never to the
installation id: whoever registers an id, its alerts reach only the phone that gave the token.
The previous customer's entry is removed only on proof that it is the same phone (the same token
presented again from the new account); otherwise it stays, still reaching only its own token.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DeleteError

from chalicelib.common.clock import epoch, iso, now
from chalicelib.common.secrets import same, sha256_hex
from chalicelib.errors import Conflict, NotFound
from chalicelib.store.db import ConditionsFailed, retry_conflicts, transaction
from chalicelib.store.models import Device, Installation, customer_pk

# FCM considers a token stale after a month unused; the app re-registers at every start.
STALE_AFTER = timedelta(days=30)
MAX_DEVICES = 20


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
    for _ in range(3):  # optimistic: retried if the installation changes hands concurrently
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
                if owner and owner != customer_id and same_phone:
                    tx.delete(Device(customer_pk(owner), f"DEVICE#{installation_id}"))
            return _to_wire(device, session_id)
        except ConditionsFailed:
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
    try:
        with transaction() as tx:
            tx.delete(
                Device(customer_pk(customer_id), f"DEVICE#{installation_id}"),
                condition=Device.PK.exists(),
                label="device",
            )
            tx.delete(
                Installation(f"INSTALLATION#{installation_id}", "INSTALLATION"),
                condition=Installation.customer_id == customer_id,
                label="owner",
            )
    except ConditionsFailed as failed:
        if "device" in failed.labels:
            raise NotFound("No such device.", code="device_not_found") from None
        # The mapping moved to another customer already: our device entry alone goes.
        retry_conflicts(Device(customer_pk(customer_id), f"DEVICE#{installation_id}").delete, what="device")


def unregister_session_devices(*, customer_id: str, session_ids: set[str]) -> int:
    """Ending sessions (by any path) unregisters the devices they registered."""
    gone = 0
    for device in Device.query(customer_pk(customer_id), Device.SK.startswith("DEVICE#")):
        if device.session_id in session_ids:
            try:
                unregister(customer_id=customer_id, installation_id=device.installation_id)
                gone += 1
            except NotFound:
                pass
    return gone


def remove_dead(*, customer_id: str, installation_id: str, seen_updated_at: str) -> bool:
    """FCM said this installation is gone: remove it, unless the app re-registered since we sent."""
    device = Device(customer_pk(customer_id), f"DEVICE#{installation_id}")
    try:
        # The device's entry is in the transactions that register it: a conflict is retried.
        retry_conflicts(lambda: device.delete(condition=Device.updated_at == seen_updated_at), what="device")
    except DeleteError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def list_device_items(customer_id: str) -> list[Device]:
    moment = epoch(now())
    return [
        d
        for d in Device.query(customer_pk(customer_id), Device.SK.startswith("DEVICE#"))
        if (d.expires_at or 0) > moment
    ]


def list_devices(*, customer_id: str, current_session: str | None = None) -> list[dict[str, Any]]:
    return [_to_wire(d, current_session) for d in list_device_items(customer_id)]
