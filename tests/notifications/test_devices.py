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
    assert [d["installation_id"] for d in api.get("/me/devices", token=second.token).body["devices"]] == [
        "fidSHARED0001"
    ]


def test_sign_out_unregisters_the_sessions_device_only(api, enrol, sign_in):
    enrolled = enrol()
    other = sign_in(enrolled.authenticator).body
    _put(api, enrolled, "fidMINE000001")
    api.request(
        "PUT",
        "/me/devices/fidOTHER00001",
        {"fcm_token": "tok-cccccccccccc", "platform": "android", "app_version": "1", "locale": "fr"},
        token=other["access_token"],
    )
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


def test_claiming_someone_elses_installation_id_reaches_only_ones_own_token(api, enrol, fcm):
    """Installation ids are not secrets: a stranger who registers the victim's id with their own
    token neither takes the victim's device away nor gets the victim's alerts, and the stranger's
    alerts go to the stranger's token, never to the victim's phone. Only the phone itself (the same
    token, from another account) moves the installation. Mutation: target pushes by installation
    id, or delete the previous owner's entry without the token proof."""
    from chalicelib.notifications import delivery, inbox

    victim, stranger = enrol(), enrol()
    _put(api, victim, "fidVICTIM0001", token="tok-victim-secret-1")
    assert _put(api, stranger, "fidVICTIM0001", token="tok-stranger-000001").status == 200
    assert [d["installation_id"] for d in api.get("/me/devices", token=victim.token).body["devices"]] == [
        "fidVICTIM0001"
    ]
    fcm.reset()
    for who, key in ((victim, "v"), (stranger, "s")):
        alert = inbox.notify(
            customer_id=who.customer["customer_id"],
            kind="service.announcement",
            data={"announcement_id": key, "message_fr": key, "message_en": key},
            dedup_key=f"claim-{key}-{who.customer['customer_id']}",
        )
        delivery.deliver([(who.customer["customer_id"], alert.alert_id)])
    assert [m["data"]["announcement_id"] for m in fcm.delivered_to("tok-victim-secret-1")] == ["v"]
    assert [m["data"]["announcement_id"] for m in fcm.delivered_to("tok-stranger-000001")] == ["s"]
    # The phone itself, signed in to the other account, presents the same token: it moves.
    assert _put(api, stranger, "fidVICTIM0001", token="tok-victim-secret-1").status == 200
    assert api.get("/me/devices", token=victim.token).body["devices"] == []


def test_ending_a_session_by_any_path_unregisters_its_devices(api, app_module, enrol, sign_in):
    """DELETE /me/sessions/{id}, passkey removal, admin revoke and admin reset all end sessions;
    each unregisters the devices those sessions registered. Mutation: unregister on logout only."""
    from tests.support.stepup import confirmation

    enrolled = enrol()
    other = sign_in(enrolled.authenticator).body
    api.request(
        "PUT",
        "/me/devices/fidENDED000001",
        {"fcm_token": "tok-dddddddddddd", "platform": "android", "app_version": "1", "locale": "fr"},
        token=other["access_token"],
    )
    _put(api, enrolled, "fidKEPT0000001")
    other_sid = next(
        s["session_id"]
        for s in api.get("/me/sessions", token=other["access_token"]).body["sessions"]
        if s["current"]
    )
    assert api.delete(f"/me/sessions/{other_sid}", token=enrolled.token).status == 204
    assert [d["installation_id"] for d in api.get("/me/devices", token=enrolled.token).body["devices"]] == [
        "fidKEPT0000001"
    ]

    # A passkey's removal ends the sessions it opened, and their devices go with them.
    options = api.post(
        "/auth/passkeys/register/options",
        {"confirmation": confirmation(api, enrolled, "passkey.add")},
        token=enrolled.token,
    )
    from devtools.soft_authenticator import SoftAuthenticator

    tablet = SoftAuthenticator()
    assert (
        api.post(
            "/auth/passkeys/register/verify",
            {
                "challenge_id": options.body["challenge_id"],
                "credential": tablet.create(options.body["options"]),
                "name": "Tablet",
            },
        ).status
        == 201
    )
    tablet_session = sign_in(tablet).body
    api.request(
        "PUT",
        "/me/devices/fidTABLET00001",
        {"fcm_token": "tok-eeeeeeeeeeee", "platform": "ios", "app_version": "1", "locale": "fr"},
        token=tablet_session["access_token"],
    )
    tablet_id = next(
        p["id"]
        for p in api.get("/me/passkeys", token=enrolled.token).body["passkeys"]
        if p["name"] == "Tablet"
    )
    assert (
        api.delete(
            f"/me/passkeys/{tablet_id}",
            {"confirmation": confirmation(api, enrolled, "passkey.remove", passkey_id=tablet_id)},
            token=enrolled.token,
        ).status
        == 204
    )
    assert [d["installation_id"] for d in api.get("/me/devices", token=enrolled.token).body["devices"]] == [
        "fidKEPT0000001"
    ]

    # The admin's revoke ends the rest.
    app_module.admin_revoke_sessions(
        {"customer_number": enrolled.customer["customer_number"], "reason": "lost_phone"}, None
    )
    from chalicelib.notifications import devices
    from tests.notifications.test_device_list import listed

    assert devices.list_devices(customer_id=enrolled.customer["customer_id"]) == []
    assert listed(enrolled.customer["customer_id"]) == []  # the fan-out's list, in step


def test_two_new_devices_at_once_past_the_cap_both_register(api, enrol, monkeypatch):
    """A customer with 20 devices registers two new phones at the same moment: both registrations
    count 20 and pick the same oldest device to drop; the second finds it dropped by the first.
    That is what it wanted: it carries on (before, its NotFound became a 404 `device_not_found`
    for a registration that had nothing wrong). The next new device brings the count back to the
    cap. Mutation: let `unregister`'s NotFound propagate from `devices._make_room` → one of the two
    raises NotFound; drop only the single oldest device there → 21 devices stay."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.errors import DomainError
    from chalicelib.notifications import devices

    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    session_id = enrolled.session["refresh_token"].split(".")[1]
    for n in range(devices.MAX_DEVICES):
        assert _put(api, enrolled, f"fidRACE{n:06d}").status == 200
    oldest = "fidRACE000000"

    # Both registrations choose what to drop before either drops it.
    both_chose = threading.Barrier(2, timeout=30)
    real_unregister = devices.unregister
    dropping: list[str] = []

    def unregister_together(*, customer_id: str, installation_id: str) -> None:
        dropping.append(installation_id)
        both_chose.wait()
        real_unregister(customer_id=customer_id, installation_id=installation_id)

    monkeypatch.setattr(devices, "unregister", unregister_together)

    def register(installation_id: str) -> str:
        try:
            devices.register(
                customer_id=customer_id,
                session_id=session_id,
                installation_id=installation_id,
                fcm_token=f"tok-{installation_id}",
                platform="android",
                app_version="2.0.1",
                locale="fr-FR",
            )
        except DomainError as error:
            return error.code
        return "registered"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(register, ["fidNEWAAAA0001", "fidNEWBBBB0002"]))
    monkeypatch.setattr(devices, "unregister", real_unregister)

    assert outcomes == ["registered", "registered"]
    assert dropping == [oldest, oldest]  # the race really happened: both dropped the same one
    listed = {d["installation_id"] for d in api.get("/me/devices", token=enrolled.token).body["devices"]}
    assert {"fidNEWAAAA0001", "fidNEWBBBB0002"} <= listed and oldest not in listed
    assert len(listed) == devices.MAX_DEVICES + 1  # one over, for now
    assert _put(api, enrolled, "fidNEWCCCC0003").status == 200
    after = api.get("/me/devices", token=enrolled.token).body["devices"]
    assert len(after) == devices.MAX_DEVICES
    assert "fidNEWCCCC0003" in {d["installation_id"] for d in after}
