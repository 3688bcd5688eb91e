"""Usernameless sign-in with a passkey."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.soft_authenticator import SoftAuthenticator


def test_usernameless_options_allow_any_discoverable_credential(api):
    response = api.post("/auth/passkeys/login/options")
    assert response.status == 200
    options = response.body["options"]
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    assert options["rpId"] == "localhost"


def test_sign_in_opens_a_session_and_records_it(api, enrol, sign_in):
    enrolled = enrol()
    response = sign_in(enrolled.authenticator)
    assert response.status == 200
    assert response.body["customer_id"] == enrolled.customer["customer_id"]
    sessions = api.get("/me/sessions", token=response.body["access_token"]).body["sessions"]
    assert len(sessions) == 2  # the enrolment's and this one
    passkey = api.get("/me/passkeys", token=response.body["access_token"]).body["passkeys"][0]
    assert passkey["last_used_at"] is not None


def test_a_replayed_challenge_is_refused(api, enrol):
    enrolled = enrol()
    options = api.post("/auth/passkeys/login/options").body
    body = {
        "challenge_id": options["challenge_id"],
        "credential": enrolled.authenticator.get(options["options"]),
    }
    assert api.post("/auth/passkeys/login/verify", body).status == 200
    replay = api.post("/auth/passkeys/login/verify", body)
    assert replay.status == 404 and replay.error_code == "challenge_not_found"


def test_an_expired_challenge_is_refused(api, enrol):
    from chalicelib.store.models import Challenge

    enrolled = enrol()
    options = api.post("/auth/passkeys/login/options").body
    item = Challenge.get(f"CHALLENGE#{options['challenge_id']}", "CHALLENGE")
    item.update(actions=[Challenge.expires_at.set(1)])
    response = api.post(
        "/auth/passkeys/login/verify",
        {
            "challenge_id": options["challenge_id"],
            "credential": enrolled.authenticator.get(options["options"]),
        },
    )
    assert response.status == 410 and response.error_code == "challenge_expired"


def test_a_registration_challenge_cannot_be_used_to_sign_in(api, enrol, new_customer):
    enrolled = enrol()
    customer = new_customer()
    reg = api.post(
        "/auth/passkeys/register/options",
        {"enrolment_handle": customer["enrolment_handle"], "activation_code": customer["activation_code"]},
    ).body
    credential = enrolled.authenticator.get({"challenge": reg["options"]["challenge"]})
    response = api.post(
        "/auth/passkeys/login/verify", {"challenge_id": reg["challenge_id"], "credential": credential}
    )
    assert response.status == 404


def test_concurrent_verifies_with_one_challenge_pass_once(api, enrol):
    """Two devices racing with the same challenge: the conditional delete lets exactly one through."""
    from chalicelib.auth import passkeys
    from chalicelib.errors import DomainError

    enrolled = enrol()
    options = api.post("/auth/passkeys/login/options").body
    credential = enrolled.authenticator.get(options["options"])

    def attempt(_: int) -> str:
        try:
            passkeys.login(challenge_id=options["challenge_id"], credential=credential, device="race")
            return "ok"
        except DomainError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) - {"ok"} == {"challenge_not_found"}


@pytest.mark.parametrize(
    "change,get_kw",
    [
        ({"user_verified": False}, {}),
        ({}, {"origin": "https://evil.example"}),
        ({}, {"rp_id": "evil.example"}),
    ],
    ids=["no-user-verification", "wrong-origin", "wrong-rp-id"],
)
def test_sign_in_is_refused_when_the_assertion_is_wrong(enrol, sign_in, change, get_kw):
    enrolled = enrol()
    for name, value in change.items():
        setattr(enrolled.authenticator, name, value)
    response = sign_in(enrolled.authenticator, **get_kw)
    assert response.status == 401 and response.error_code == "invalid_credential"


def test_an_unknown_credential_is_refused(sign_in):
    stranger = SoftAuthenticator(user_handle=b"x" * 32)
    response = sign_in(stranger)
    assert response.status == 401 and response.error_code == "invalid_credential"


def test_the_user_handle_must_own_the_credential(enrol, sign_in):
    victim, attacker = enrol(), enrol()
    # The attacker's authenticator claims the victim's account with its own credential.
    attacker.authenticator.user_handle = victim.authenticator.user_handle
    response = sign_in(attacker.authenticator)
    assert response.status == 401


def test_a_forged_signature_is_refused_with_the_answer_of_an_unknown_passkey(enrol, sign_in, caplog):
    """Known and unknown credentials get byte-identical answers; the reason is only in the log."""
    enrolled = enrol()
    impostor = SoftAuthenticator(
        credential_id=enrolled.authenticator.credential_id, user_handle=enrolled.authenticator.user_handle
    )
    caplog.clear()
    response = sign_in(impostor)
    unknown = sign_in(SoftAuthenticator())
    assert response.status == unknown.status == 401
    assert response.body == unknown.body
    assert "signature" not in response.body["error"]["message"].lower() and "signature" in caplog.text.lower()


def test_a_counter_that_goes_backwards_is_refused_and_recorded(api, enrol, sign_in):
    from chalicelib.store.models import Item, SecurityEvent, customer_pk

    enrolled = enrol(backup_eligible=False, backed_up=False, count_step=1)
    assert sign_in(enrolled.authenticator).status == 200  # counter 1
    assert sign_in(enrolled.authenticator).status == 200  # counter 2
    enrolled.authenticator.sign_count = 0  # a clone starting from an older state: next is 1 <= 2
    response = sign_in(enrolled.authenticator)
    assert response.status == 401
    events = [
        e
        for e in Item.query(customer_pk(enrolled.customer["customer_id"]), Item.SK.startswith("SECEVENT#"))
        if isinstance(e, SecurityEvent) and e.kind == "sign_count_regression"
    ]
    assert len(events) == 1
    assert events[0].detail.as_dict() == {
        "passkey_id": api.get("/me/passkeys", token=enrolled.token).body["passkeys"][0]["id"],
        "stored": 2,
        "presented": 1,
    }


def test_synced_passkeys_that_always_report_zero_keep_working(enrol, sign_in):
    enrolled = enrol()  # count_step=0, like iCloud Keychain / Google Password Manager
    for _ in range(3):
        assert sign_in(enrolled.authenticator).status == 200


def test_backup_eligibility_may_not_change(enrol, sign_in):
    enrolled = enrol(backup_eligible=False, backed_up=False)
    enrolled.authenticator.backup_eligible = True
    assert sign_in(enrolled.authenticator).status == 401


def test_malformed_credentials_are_a_clear_400(api):
    options = api.post("/auth/passkeys/login/options").body
    response = api.post(
        "/auth/passkeys/login/verify", {"challenge_id": options["challenge_id"], "credential": {"id": "x"}}
    )
    assert response.status == 400 and response.error_code == "invalid_credential"
    bad_id = api.post("/auth/passkeys/login/verify", {"challenge_id": "chl_nope", "credential": {}})
    assert bad_id.status == 400 and "challenge_id" in bad_id.body["error"]["message"]


def test_a_refused_attempt_spends_the_challenge(api, enrol):
    """The challenge is read beside the passkey and deleted in the sign-in's transaction; an attempt
    refused before that transaction (a wrong origin here) must spend it all the same: a challenge
    is good for one attempt. Mutation: drop `challenges.discard` in `passkeys._login`'s refusal
    path → the second, valid assertion on the same challenge signs in → fails."""
    enrolled = enrol()
    options = api.post("/auth/passkeys/login/options").body
    wrong = enrolled.authenticator.get(options["options"], origin="https://evil.example")
    refused = api.post(
        "/auth/passkeys/login/verify", {"challenge_id": options["challenge_id"], "credential": wrong}
    )
    assert refused.status == 401
    right = enrolled.authenticator.get(options["options"])
    again = api.post(
        "/auth/passkeys/login/verify", {"challenge_id": options["challenge_id"], "credential": right}
    )
    assert (again.status, again.error_code) == (404, "challenge_not_found")


def test_a_challenge_read_then_spent_by_another_sign_in_is_refused(api, enrol, monkeypatch):
    """The window between the read and the transaction: another sign-in spends the challenge after
    this one read it. The transaction's condition on the challenge refuses the second, even for a
    synced passkey whose counter (always 0) cannot. Mutation: drop `challenges.spend_in` from the
    transaction in `passkeys._login` → two sessions from one challenge → fails."""
    from chalicelib.auth import challenges, passkeys

    enrolled = enrol()  # count_step=0: the sign count guards nothing
    options = api.post("/auth/passkeys/login/options").body
    credential = enrolled.authenticator.get(options["options"])
    real_accept = challenges.accept
    raced: list[str] = []

    def accept_then_race(item, *, purpose):
        spent = real_accept(item, purpose=purpose)
        if not raced:  # the first sign-in, between its read and its write: another one completes
            raced.append("racing")
            other = passkeys.login(challenge_id=options["challenge_id"], credential=credential, device="x")
            raced.append(other.session_id)
        return spent

    monkeypatch.setattr(challenges, "accept", accept_then_race)
    late = api.post(
        "/auth/passkeys/login/verify", {"challenge_id": options["challenge_id"], "credential": credential}
    )
    assert len(raced) == 2 and (late.status, late.error_code) == (404, "challenge_not_found")
