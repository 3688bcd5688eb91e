"""The operators' console actions: reset a customer's passkeys, end their sessions, segments,
announcements. Called with console events, as the Test button does."""

from __future__ import annotations

from typing import Any


def _inbox_kinds(api: Any, token: str) -> list[str]:
    return [i["kind"] for i in api.get("/me/inbox", token=token).body["items"]]


def test_revoking_sessions_stops_refresh_at_once(api, app_module, enrol):
    enrolled = enrol()
    answer = app_module.admin_revoke_sessions(
        {"customer_number": enrolled.customer["customer_number"], "reason": "stolen_phone"}, None
    )
    assert answer["sessions_ended"] == 1
    refreshed = api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]})
    assert refreshed.status == 401


def test_resetting_passkeys_removes_them_ends_sessions_and_gives_a_new_code(api, app_module, enrol, sign_in):
    from devtools.soft_authenticator import SoftAuthenticator

    enrolled = enrol()
    number = enrolled.customer["customer_number"]
    answer = app_module.admin_reset_passkeys({"customer_number": number, "reason": "lost_all_devices"}, None)
    assert answer["passkeys_removed"] == 1 and answer["sessions_ended"] == 1
    assert sign_in(enrolled.authenticator).status == 401  # the old passkey is gone
    assert api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]}).status == 401
    # The customer enrols again with the new code.
    fresh = SoftAuthenticator()
    options = api.post(
        "/auth/passkeys/register/options",
        {"enrolment_handle": answer["enrolment_handle"], "activation_code": answer["activation_code"]},
    )
    assert options.status == 200, options.body
    verify = api.post(
        "/auth/passkeys/register/verify",
        {"challenge_id": options.body["challenge_id"], "credential": fresh.create(options.body["options"])},
    )
    assert verify.status == 201
    assert [
        p["name"] for p in api.get("/me/passkeys", token=verify.body["access_token"]).body["passkeys"]
    ] != []
    assert (
        app_module.admin_reset_passkeys({"customer_number": "NOPE-1"}, None)["error"]["code"]
        == "customer_not_found"
    )


def test_segments_decide_offer_eligibility(api, app_module, enrol):
    from tests.bidding.conftest import offer_event

    enrolled = enrol()
    offer_id = app_module.admin_create_offer(offer_event(eligibility={"segments": ["loyal-5y"]}), None)[
        "offer_id"
    ]
    assert api.get(f"/offers/{offer_id}", token=enrolled.token).status == 404
    number = enrolled.customer["customer_number"]
    assert app_module.admin_set_segments({"customer_number": number, "segments": ["loyal-5y"]}, None)[
        "segments"
    ] == ["loyal-5y"]
    assert api.get(f"/offers/{offer_id}", token=enrolled.token).status == 200
    bad = app_module.admin_set_segments({"customer_number": number, "segments": ["Loyal 5y"]}, None)
    assert bad["error"]["code"] == "validation_error" and "segments.0" in bad["error"]["message"]


def test_an_announcement_reaches_its_segment_once(api, app_module, enrol):
    import uuid

    segment = "seg-" + uuid.uuid4().hex[:8]
    member, outsider = enrol(), enrol()
    app_module.admin_set_segments(
        {"customer_number": member.customer["customer_number"], "segments": [segment]}, None
    )
    event = {
        "announcement_id": "outage-" + segment,
        "segment": segment,
        "message": {"fr": "Coupure prévue.", "en": "Planned outage."},
    }
    first = app_module.admin_send_announcement(event, None)
    assert first["done"] and first["told"] == 1
    again = app_module.admin_send_announcement(event, None)
    assert again["told"] == 0 and again["already_told"] == 1
    assert _inbox_kinds(api, member.token).count("service.announcement") == 1
    assert "service.announcement" not in _inbox_kinds(api, outsider.token)
    everyone = app_module.admin_send_announcement(
        {**event, "announcement_id": "all-" + segment, "segment": "all"}, None
    )
    assert everyone["told"] >= 2


def test_an_announcement_out_of_time_says_to_run_it_again(app_module, enrol):
    from chalicelib.notifications import announcements

    enrol()
    event = announcements.AnnouncementEvent.model_validate(
        {"announcement_id": "budget-test", "segment": "all", "message": {"fr": "x", "en": "x"}}
    )
    paused = announcements.send(event, budget_s=-1)
    assert paused["done"] is False and "run the same event again" in paused["message"]


def test_resetting_works_for_any_number_of_passkeys(api, app_module, enrol):
    """60 passkeys (planted: an account from before the limit of 10): one transaction would exceed
    DynamoDB's 100 actions. Mutation: delete them in one transaction → the reset fails and
    nothing is removed."""
    from chalicelib.store.models import Customer, Passkey, customer_pk

    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    template = Passkey.get(
        *next(
            (p.PK, p.SK)
            for p in Passkey.gsi1.query(customer_pk(customer_id), Passkey.GSI1SK.startswith("PASSKEY#"))
        )
    )
    for n in range(59):
        planted = Passkey(
            f"CREDENTIAL#planted{n:04d}{customer_id}",
            "CREDENTIAL",
            **{
                k: v
                for k, v in template.attribute_values.items()
                if k not in ("PK", "SK", "credential_id", "GSI1SK")
            },
        )
        planted.credential_id, planted.GSI1SK = (
            f"planted{n:04d}{customer_id}",
            f"PASSKEY#2026-01-01T00:00:00Z#{n:04d}",
        )
        planted.save()
    Customer(customer_pk(customer_id), "PROFILE").update(actions=[Customer.passkey_count.set(60)])
    answer = app_module.admin_reset_passkeys(
        {"customer_number": enrolled.customer["customer_number"], "reason": "lost_all_devices"}, None
    )
    assert answer["passkeys_removed"] == 60 and answer["sessions_ended"] == 1, answer
    assert answer["enrolment_handle"].startswith("enr_") and answer["activation_code"]
    assert list(Passkey.gsi1.query(customer_pk(customer_id), Passkey.GSI1SK.startswith("PASSKEY#"))) == []
    assert Customer.get(customer_pk(customer_id), "PROFILE").passkey_count == 0
