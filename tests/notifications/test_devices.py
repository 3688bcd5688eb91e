"""Registering push recipients: refresh, a phone changing hands, sign-out, ownership."""
from __future__ import annotations


def _put(api, enrolled, installation_id, token="tok-aaaaaaaaaaaa", **extra):
    body = {"fcm_token": token, "platform": "ios", "app_version": "2.0.1", "locale": "en-GB", **extra}
    return api.request("PUT", f"/me/devices/{installation_id}", body, token=enrolled.token)


def test_register_then_refresh_the_token_keeps_one_device(api, enrol):
    enrolled = enrol()
    first = _put(api, enrolled, "fidAAAAAAAA1")
    assert first.status == 200 and first.body["this_session"] is True
    again = _put(api, enrolled, "fidAAAAAAAA1", token="tok-bbbbbbbbbbbb", app_version="2.0.2")
    assert again.body["created_at"] == first.body["created_at"] and again.body["app_version"] == "2.0.2"
    from chalicelib.store.models import Device, customer_pk

    stored = Device.get(customer_pk(enrolled.customer["customer_id"]), "DEVICE#fidAAAAAAAA1")
    assert stored.fcm_token == "tok-bbbbbbbbbbbb"
    assert len(api.get("/me/devices", token=enrolled.token).body["devices"]) == 1


def test_a_phone_that_changes_hands_stops_receiving_the_previous_customers_alerts(api, enrol):
    first, second = enrol(), enrol()
    _put(api, first, "fidSHARED0001")
    _put(api, second, "fidSHARED0001")
    assert api.get("/me/devices", token=first.token).body["devices"] == []
    assert [d["installation_id"] for d in api.get("/me/devices", token=second.token).body["devices"]] == ["fidSHARED0001"]


def test_sign_out_unregisters_the_sessions_device_only(api, enrol, sign_in):
    enrolled = enrol()
    other = sign_in(enrolled.authenticator).body
    _put(api, enrolled, "fidMINE000001")
    api.request("PUT", "/me/devices/fidOTHER00001", {"fcm_token": "tok-cccccccccccc", "platform": "android", "app_version": "1", "locale": "fr"},
                token=other["access_token"])
    assert api.post("/auth/logout", token=enrolled.token).status == 204
    remaining = api.get("/me/devices", token=other["access_token"]).body["devices"]
    assert [d["installation_id"] for d in remaining] == ["fidOTHER00001"]


def test_unregister_and_ownership(api, enrol):
    mine, theirs = enrol(), enrol()
    _put(api, theirs, "fidTHEIRS0001")
    assert api.delete("/me/devices/fidTHEIRS0001", token=mine.token).status == 404
    assert len(api.get("/me/devices", token=theirs.token).body["devices"]) == 1
    assert api.delete("/me/devices/fidTHEIRS0001", token=theirs.token).status == 204
    assert api.delete("/me/devices/fidTHEIRS0001", token=theirs.token).status == 404


def test_device_bodies_are_validated(api, enrol):
    enrolled = enrol()
    assert _put(api, enrolled, "fidVALID00001", platform="windows").status == 400
    assert _put(api, enrolled, "fidVALID00001", push_enabled=True).status == 400
    assert _put(api, enrolled, "bad id!").status in (400, 404)
    assert _put(api, enrolled, "short").status == 400


def test_a_customer_keeps_at_most_twenty_devices(api, enrol):
    enrolled = enrol()
    for n in range(22):
        assert _put(api, enrolled, f"fidMANY{n:06d}").status == 200
    devices = api.get("/me/devices", token=enrolled.token).body["devices"]
    assert len(devices) == 20
    assert "fidMANY000000" not in {d["installation_id"] for d in devices}
