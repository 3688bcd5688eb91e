"""The device list (`PK=CUSTOMER#<id> SK=DEVICES`) that the push fan-out reads with the profile:
always the same devices as the Device items, whatever writes them, and customers without one yet
(devices registered before it existed) pushed to from their Device items."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from chalicelib.notifications import delivery, devices, inbox
from chalicelib.store.models import Device, DeviceList, customer_pk


def listed(customer_id: str) -> list[str] | None:
    """The installation ids in the customer's device list (None: no list), sorted."""
    try:
        item = DeviceList.get(customer_pk(customer_id), devices.LIST_SK, consistent_read=True)
    except DeviceList.DoesNotExist:
        return None
    return sorted(item.devices.as_dict() if item.devices else {})


def _stored(customer_id: str) -> list[str]:
    return sorted(d.installation_id for d in devices._device_items(customer_id, consistent=True))


def _register(customer_id: str, installation_id: str, token: str | None = None) -> None:
    devices.register(
        customer_id=customer_id,
        session_id="ses_list",
        installation_id=installation_id,
        fcm_token=token or f"tok-{installation_id}",
        platform="android",
        app_version="1",
        locale="fr",
    )


def _drop_list(customer_id: str) -> None:
    """A customer as before the list existed: Device items only."""
    DeviceList(customer_pk(customer_id), devices.LIST_SK).delete()


def _alert(customer_id: str) -> str:
    return inbox.notify(
        customer_id=customer_id,
        kind="service.announcement",
        data={"announcement_id": "dl", "message_fr": "x", "message_en": "x"},
        dedup_key=f"dl:{secrets.token_hex(6)}",
    ).alert_id


def _fid() -> str:
    return "fidL" + secrets.token_hex(6)


def test_every_device_write_keeps_the_list_in_step(api: Any, enrol: Any) -> None:
    """Register, refresh, unregister, and a phone moving to another account (the previous owner's
    entry goes): after each, each customer's list names exactly their Device items, with the
    refreshed token. Mutations: `_list_set` left out of `register` → fails; `_list_remove` left
    out of `unregister` → fails; the previous owner's `_list_remove` left out → fails."""
    first, second = (e.customer["customer_id"] for e in (enrol(), enrol()))
    a, b, phone = _fid(), _fid(), _fid()
    _register(first, a)
    _register(first, b)
    _register(first, phone, token="tok-the-phone")
    assert listed(first) == _stored(first) == sorted([a, b, phone])
    _register(first, a, token="tok-refreshed")
    entry = DeviceList.get(customer_pk(first), devices.LIST_SK).devices.as_dict()[a]
    assert entry["fcm_token"] == "tok-refreshed"
    assert entry["updated_at"] == Device.get(customer_pk(first), f"DEVICE#{a}").updated_at
    devices.unregister(customer_id=first, installation_id=b)
    assert listed(first) == _stored(first) == sorted([a, phone])
    _register(second, phone, token="tok-the-phone")  # the same phone, signed in to the other account
    assert listed(first) == _stored(first) == [a]
    assert listed(second) == _stored(second) == [phone]


def test_a_customer_without_a_list_is_pushed_from_the_device_items_then_gets_one(
    api: Any, enrol: Any, fcm: Any
) -> None:
    """Devices registered before the list existed: the fan-out queries them (one Query) and
    reaches each; removing one leaves no list behind (nor a half one); the next registration
    creates the list with every device, and the fan-out stops querying. Mutations: the fallback
    Query dropped from `deliver` → nothing pushed → fails; `register` SETting its key without
    creating the list from the Query → the list lacks the older device → fails."""
    from bench.common import calls, count_dynamodb_calls

    if not getattr(count_dynamodb_calls, "_installed", False):
        count_dynamodb_calls()
        count_dynamodb_calls._installed = True  # type: ignore[attr-defined]
    customer_id = enrol().customer["customer_id"]
    old, gone, new = _fid(), _fid(), _fid()
    _register(customer_id, old)
    _register(customer_id, gone)
    _drop_list(customer_id)
    devices.unregister(customer_id=customer_id, installation_id=gone)
    assert listed(customer_id) is None and _stored(customer_id) == [old]

    alert = _alert(customer_id)
    fcm.reset()
    with calls() as seen:
        assert delivery.deliver([(customer_id, alert)]) == {alert: "sent"}
    assert seen["Query"] == 1
    assert len(fcm.delivered_to(f"tok-{old}")) == 1 and not fcm.delivered_to(f"tok-{gone}")

    _register(customer_id, new)
    assert listed(customer_id) == _stored(customer_id) == sorted([old, new])
    alert = _alert(customer_id)
    fcm.reset()
    with calls() as seen:
        assert delivery.deliver([(customer_id, alert)]) == {alert: "sent"}
    assert "Query" not in seen
    assert len(fcm.delivered_to(f"tok-{old}")) == 1 and len(fcm.delivered_to(f"tok-{new}")) == 1


@pytest.mark.parametrize("meanwhile", ["register", "unregister"])
def test_creating_the_list_loses_no_change_made_meanwhile(
    api: Any, enrol: Any, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    """The list is created from a Query of the Device items; another device registered, or one
    removed, between that Query and the list's write must still be (or not be) in the list: the
    write is conditioned on no list existing and on each queried device being unchanged, and
    retried. Mutations: the list's `does_not_exist` condition dropped → the device registered
    meanwhile is overwritten out of the list → fails; the "snapshot" checks dropped → the device
    removed meanwhile stays listed → fails."""
    customer_id = enrol().customer["customer_id"]
    kept, removed, other, new = _fid(), _fid(), _fid(), _fid()
    for fid in (kept, removed):
        _register(customer_id, fid)
    _drop_list(customer_id)
    real = devices._device_items
    done: list[bool] = []

    def racing(cid: str, *, consistent: bool = False) -> list[Device]:
        snapshot = real(cid, consistent=consistent)
        if consistent and not done:
            done.append(True)
            if meanwhile == "register":
                _register(cid, other)  # creates the list (from its own Query)
            else:
                devices.unregister(customer_id=cid, installation_id=removed)
        return snapshot

    monkeypatch.setattr(devices, "_device_items", racing)
    _register(customer_id, new)
    expected = {"register": [kept, removed, other, new], "unregister": [kept, new]}[meanwhile]
    assert listed(customer_id) == _stored(customer_id) == sorted(expected)


def test_registrations_at_once_all_land_in_the_list(api: Any, enrol: Any) -> None:
    """Eight devices of one customer registered at the same moment, first with no list (they race
    to create it) then with one (map keys SET side by side): every one is listed."""
    from concurrent.futures import ThreadPoolExecutor

    customer_id = enrol().customer["customer_id"]
    for _ in range(2):
        fids = [_fid() for _ in range(8)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda fid: _register(customer_id, fid), fids))
        assert set(fids) <= set(listed(customer_id) or [])
        assert listed(customer_id) == _stored(customer_id)


def test_the_fan_out_skips_an_expired_entry(api: Any, enrol: Any, fcm: Any) -> None:
    """A device whose entry expired (the app has not refreshed it in STALE_AFTER: DynamoDB's TTL
    deletes the Device item, the list keeps the entry) is not pushed to, as the Query skipped it.
    Mutation: drop the `expires_at` filter of `recipients_in` → pushed → fails."""
    customer_id = enrol().customer["customer_id"]
    live, stale = _fid(), _fid()
    _register(customer_id, live)
    _register(customer_id, stale)
    DeviceList(customer_pk(customer_id), devices.LIST_SK).update(
        actions=[DeviceList.devices[stale]["expires_at"].set(1)]
    )
    alert = _alert(customer_id)
    fcm.reset()
    assert delivery.deliver([(customer_id, alert)]) == {alert: "sent"}
    assert len(fcm.delivered_to(f"tok-{live}")) == 1 and not fcm.delivered_to(f"tok-{stale}")


def test_the_erasure_takes_each_device_out_of_the_list_before_deleting_it(api: Any, enrol: Any) -> None:
    """The account's erasure deletes the Device items in its own batches: before each goes, its
    entry leaves the list, so the fan-out never reaches a device whose item is gone (a device left
    by no live session, which ending the sessions did not unregister). Without a list, nothing to
    do. Mutation: drop `forget_listed` from the erasure's `_before_delete` → still listed → fails."""
    from chalicelib.privacy import erasure

    customer_id = enrol().customer["customer_id"]
    orphan, other = _fid(), _fid()
    _register(customer_id, orphan)
    _register(customer_id, other)
    erasure._before_delete(customer_id, Device.get(customer_pk(customer_id), f"DEVICE#{orphan}"))
    assert listed(customer_id) == [other]
    _drop_list(customer_id)
    erasure._before_delete(customer_id, Device.get(customer_pk(customer_id), f"DEVICE#{other}"))
    assert listed(customer_id) is None
