"""The customer's passkeys: list, rename, remove (never the last), and nobody else's."""

from __future__ import annotations

from devtools.soft_authenticator import SoftAuthenticator
from tests.support.stepup import confirmation


def _add_passkey(api, enrolled) -> SoftAuthenticator:
    options = api.post(
        "/auth/passkeys/register/options",
        {"confirmation": confirmation(api, enrolled, "passkey.add")},
        token=enrolled.token,
    ).body
    laptop = SoftAuthenticator()
    created = api.post(
        "/auth/passkeys/register/verify",
        {
            "challenge_id": options["challenge_id"],
            "credential": laptop.create(options["options"]),
            "name": "Laptop",
        },
    )
    assert created.status == 201
    return laptop


def test_rename(api, enrol):
    enrolled = enrol()
    passkey_id = api.get("/me/passkeys", token=enrolled.token).body["passkeys"][0]["id"]
    renamed = api.patch(f"/me/passkeys/{passkey_id}", {"name": "  Work phone "}, token=enrolled.token)
    assert renamed.status == 200 and renamed.body["name"] == "Work phone"
    assert api.get("/me/passkeys", token=enrolled.token).body["passkeys"][0]["name"] == "Work phone"


def test_the_last_passkey_cannot_be_removed(api, enrol):
    enrolled = enrol()
    passkey_id = api.get("/me/passkeys", token=enrolled.token).body["passkeys"][0]["id"]
    confirmed = confirmation(api, enrolled, "passkey.remove", passkey_id=passkey_id)
    response = api.delete(f"/me/passkeys/{passkey_id}", {"confirmation": confirmed}, token=enrolled.token)
    assert response.status == 409 and response.error_code == "last_passkey"
    assert len(api.get("/me/passkeys", token=enrolled.token).body["passkeys"]) == 1


def test_removing_a_passkey_ends_its_sessions_and_it_can_no_longer_sign_in(api, enrol, sign_in):
    enrolled = enrol()
    laptop = _add_passkey(api, enrolled)
    laptop_session = sign_in(laptop).body
    passkeys = api.get("/me/passkeys", token=enrolled.token).body["passkeys"]
    laptop_id = next(p["id"] for p in passkeys if p["name"] == "Laptop")
    confirmed = confirmation(api, enrolled, "passkey.remove", passkey_id=laptop_id)
    assert (
        api.delete(f"/me/passkeys/{laptop_id}", {"confirmation": confirmed}, token=enrolled.token).status
        == 204
    )
    assert api.post("/auth/token/refresh", {"refresh_token": laptop_session["refresh_token"]}).status == 401
    assert sign_in(laptop).status == 401
    assert api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]}).status == 200


def test_concurrent_removals_never_remove_the_last_passkey(api, enrol):
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.auth import passkeys
    from chalicelib.errors import DomainError

    enrolled = enrol()
    _add_passkey(api, enrolled)
    ids = [p["id"] for p in api.get("/me/passkeys", token=enrolled.token).body["passkeys"]]

    def remove(passkey_id: str) -> str:
        try:
            passkeys.remove(customer_id=enrolled.customer["customer_id"], passkey_id=passkey_id)
            return "removed"
        except DomainError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(remove, ids))
    assert outcomes == ["last_passkey", "removed"]
    # Read as the service (the removed passkey may be the one whose session this token is).
    assert len(passkeys.list_passkeys(customer_id=enrolled.customer["customer_id"])) == 1


def test_another_customers_passkey_is_not_found_and_unchanged(api, enrol):
    mine, theirs = enrol(), enrol()
    _add_passkey(api, theirs)
    their_id = api.get("/me/passkeys", token=theirs.token).body["passkeys"][0]["id"]
    assert api.patch(f"/me/passkeys/{their_id}", {"name": "mine now"}, token=mine.token).status == 404
    assert api.delete(f"/me/passkeys/{their_id}", token=mine.token).status == 404
    assert (
        api.post("/me/step-up", {"action": "passkey.remove", "passkey_id": their_id}, token=mine.token).status
        == 404
    )
    listed = api.get("/me/passkeys", token=theirs.token).body["passkeys"]
    assert len(listed) == 2 and their_id in {p["id"] for p in listed}
    assert "mine now" not in {p["name"] for p in listed}


def test_an_unknown_passkey_is_not_found(api, enrol):
    enrolled = enrol()
    assert api.delete("/me/passkeys/" + "A" * 43, token=enrolled.token).status == 404


def test_rename_validates_its_body(api, enrol):
    enrolled = enrol()
    passkey_id = api.get("/me/passkeys", token=enrolled.token).body["passkeys"][0]["id"]
    assert api.patch(f"/me/passkeys/{passkey_id}", {"name": ""}, token=enrolled.token).status == 400
    assert (
        api.patch(f"/me/passkeys/{passkey_id}", {"name": "x", "sign_count": 0}, token=enrolled.token).status
        == 400
    )


def test_removing_a_passkey_needs_a_confirmation_of_that_removal(api, enrol):
    """A stolen access token cannot delete the victim's passkeys: no confirmation, a confirmation
    for another passkey, or one replayed, changes nothing."""
    enrolled = enrol()
    laptop = _add_passkey(api, enrolled)
    passkeys = api.get("/me/passkeys", token=enrolled.token).body["passkeys"]
    phone_id = next(p["id"] for p in passkeys if p["name"] != "Laptop")
    laptop_id = next(p["id"] for p in passkeys if p["name"] == "Laptop")
    bare = api.delete(f"/me/passkeys/{laptop_id}", {}, token=enrolled.token)
    assert bare.status == 400
    for_the_other = confirmation(api, enrolled, "passkey.remove", passkey_id=phone_id)
    mismatch = api.delete(f"/me/passkeys/{laptop_id}", {"confirmation": for_the_other}, token=enrolled.token)
    assert mismatch.status == 401 and mismatch.error_code == "step_up_mismatch"
    good = confirmation(api, enrolled, "passkey.remove", passkey_id=laptop_id, authenticator=laptop)
    assert api.delete(f"/me/passkeys/{laptop_id}", {"confirmation": good}, token=enrolled.token).status == 204
    replay = api.delete(f"/me/passkeys/{laptop_id}", {"confirmation": good}, token=enrolled.token)
    assert replay.status == 404
    assert len(api.get("/me/passkeys", token=enrolled.token).body["passkeys"]) == 1


def test_a_confirmation_is_bound_to_its_session(api, enrol, sign_in):
    """Mutation: leave the session out of the binding → a confirmation asked on one session works
    on another."""
    enrolled = enrol()
    laptop = _add_passkey(api, enrolled)
    other = sign_in(enrolled.authenticator).body
    laptop_id = next(
        p["id"]
        for p in api.get("/me/passkeys", token=enrolled.token).body["passkeys"]
        if p["name"] == "Laptop"
    )
    asked_elsewhere = confirmation(
        api,
        enrolled,
        "passkey.remove",
        passkey_id=laptop_id,
        token=other["access_token"],
        authenticator=laptop,
    )
    response = api.delete(
        f"/me/passkeys/{laptop_id}", {"confirmation": asked_elsewhere}, token=enrolled.token
    )
    assert response.status == 401 and response.error_code == "step_up_mismatch"


def test_an_ended_sessions_token_is_refused_at_once_on_factor_routes(api, enrol, sign_in):
    """The access token is still unexpired, but its session was ended: factor, session and money
    routes read the session and refuse it (read-only views accept it until it expires)."""
    enrolled = enrol()
    other = sign_in(enrolled.authenticator).body
    other_sid = next(
        s["session_id"]
        for s in api.get("/me/sessions", token=other["access_token"]).body["sessions"]
        if s["current"]
    )
    assert api.delete(f"/me/sessions/{other_sid}", token=enrolled.token).status == 204
    for method, path, body in [
        ("get", "/me/passkeys", None),
        ("get", "/me/sessions", None),
        ("post", "/me/step-up", {"action": "passkey.add"}),
        ("get", "/me/payment-methods", None),
        ("get", "/me/devices", None),
        (
            "post",
            "/auth/passkeys/register/options",
            {"confirmation": {"challenge_id": "chl_" + "0" * 32, "credential": {"id": "x"}}},
        ),
    ]:
        response = (
            getattr(api, method)(path, body, token=other["access_token"])
            if body
            else getattr(api, method)(path, token=other["access_token"])
        )
        assert response.status == 401 and response.error_code == "session_revoked", (path, response.body)
    assert api.get("/me", token=other["access_token"]).status == 200  # relies on the 15-minute expiry
