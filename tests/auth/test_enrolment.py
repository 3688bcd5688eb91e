"""Enrolling a first passkey with the letter's enrolment handle and activation code, and adding
more with an access token and a passkey confirmation."""

from __future__ import annotations

import pytest

from devtools.soft_authenticator import EDDSA, ES256, RS256, SoftAuthenticator
from tests.support.stepup import confirmation


def _options(api, customer, code=None, handle=None):
    return api.post(
        "/auth/passkeys/register/options",
        {
            "enrolment_handle": handle or customer["enrolment_handle"],
            "activation_code": code or customer["activation_code"],
        },
    )


def _verify(api, options, authenticator, **create_kw):
    credential = authenticator.create(options.body["options"], **create_kw)
    return api.post(
        "/auth/passkeys/register/verify",
        {"challenge_id": options.body["challenge_id"], "credential": credential},
    )


def test_creation_options_require_a_discoverable_credential_and_user_verification(api, new_customer):
    customer = new_customer()
    response = _options(api, customer)
    assert response.status == 200
    options = response.body["options"]
    assert options["rp"]["id"] == "localhost"
    assert options["user"]["name"] == customer["customer_number"]
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-8, -7, -257]
    assert options["excludeCredentials"] == []


@pytest.mark.parametrize(
    "algorithm,attestation", [(ES256, "none"), (ES256, "packed"), (EDDSA, "none"), (RS256, "packed")]
)
def test_every_offered_algorithm_enrols_and_signs_in(api, new_customer, sign_in, algorithm, attestation):
    customer = new_customer()
    phone = SoftAuthenticator(algorithm=algorithm, attestation=attestation)
    enrolled = _verify(api, _options(api, customer), phone)
    assert enrolled.status == 201, enrolled.body
    assert enrolled.body["customer_id"] == customer["customer_id"]
    assert sign_in(phone).status == 200


def test_the_activation_code_works_once(api, new_customer):
    customer = new_customer()
    first = _options(api, customer)
    second = _options(api, customer)  # the code is only spent by a successful enrolment
    assert _verify(api, first, SoftAuthenticator()).status == 201
    late = _verify(api, second, SoftAuthenticator())
    assert late.status == 410
    assert late.error_code == "activation_code_used"
    again = _options(api, customer)
    assert again.status == 401 and again.error_code == "invalid_activation_code"


def test_code_is_accepted_in_any_case_and_grouping(api, new_customer):
    customer = new_customer()
    code = customer["activation_code"].replace("-", " ").lower()
    assert _options(api, customer, code).status == 200


def test_wrong_codes_back_off_for_known_and_unknown_handles_alike(api, new_customer):
    """Mutation: a lock keyed by customer number, or no back-off, fails this."""
    customer = new_customer()
    unknown = {"enrolment_handle": "enr_" + "A" * 22, "activation_code": "AAAA-BBBB-CCCC"}
    known_answers, unknown_answers = [], []
    for _ in range(4):
        known_answers.append(_options(api, customer, "AAAA-BBBB-CCCC"))
        unknown_answers.append(api.post("/auth/passkeys/register/options", unknown))
    # Same status and same body, try after try: nothing tells which handles exist.
    assert [(r.status, r.body) for r in known_answers] == [(r.status, r.body) for r in unknown_answers]
    assert [r.status for r in known_answers] == [401, 401, 401, 429]
    assert known_answers[-1].error_code == "activation_backoff"
    # A growing wait in minutes, not a 72 h lock: one minute after the third wrong code.
    assert 1 <= int(known_answers[-1].headers["Retry-After"]) <= 60


def test_back_off_grows_and_is_capped():
    from chalicelib.auth.activation import MAX_BACKOFF_S, backoff_s

    assert [backoff_s(n) for n in range(1, 7)] == [0, 0, 60, 120, 240, 480]
    assert backoff_s(50) == MAX_BACKOFF_S == 3600


def test_a_stranger_with_the_customer_number_cannot_lock_the_customer_out(api, new_customer):
    """Wrong codes sent with any other handle (the number alone is not enough to reach the code)
    leave the letter's holder free to enrol at once. Mutation: attempts counted per customer."""
    customer = new_customer()
    for n in range(10):
        api.post(
            "/auth/passkeys/register/options",
            {"enrolment_handle": f"enr_{n:022d}", "activation_code": "AAAA-BBBB-CCCC"},
        )
    assert _options(api, customer).status == 200


def test_wrong_codes_raise_a_metric(api, new_customer, monkeypatch):
    """Bursts alarm on this metric (infra/resources.json). Mutation: drop the emit."""
    import dataclasses

    from chalicelib.config import get_settings
    from chalicelib.observability import metrics

    seen: list[str] = []
    monkeypatch.setattr(metrics, "write_line", seen.append)
    settings = dataclasses.replace(get_settings(), stage="test")  # "local" emits nothing
    monkeypatch.setattr(metrics, "get_settings", lambda: settings)
    customer = new_customer()
    _options(api, customer, "AAAA-BBBB-CCCC")
    assert any('"ActivationCodeRejected"' in line for line in seen)


def test_a_new_code_from_customer_care_voids_the_old_letter(api, app_module, new_customer):
    customer = new_customer()
    for _ in range(3):
        _options(api, customer, "AAAA-BBBB-CCCC")
    reissued = app_module.admin_issue_activation_code({"customer_number": customer["customer_number"]}, None)
    assert reissued["enrolment_handle"] != customer["enrolment_handle"]
    # The old handle with the new code, and the old code with the new handle: both refused.
    assert _options(api, customer, reissued["activation_code"]).status in (401, 429)
    assert _options(api, customer, handle=reissued["enrolment_handle"]).status == 401
    assert (
        _options(api, customer, reissued["activation_code"], handle=reissued["enrolment_handle"]).status
        == 200
    )


def test_an_expired_code_is_told_apart_only_to_its_holder(api, new_customer):
    from chalicelib.store.models import ActivationCode, number_pk

    customer = new_customer()
    item = ActivationCode.get(number_pk(customer["customer_number"]), "ACTIVATION")
    item.update(actions=[ActivationCode.expires_at.set(1)])
    response = _options(api, customer)
    assert response.status == 410 and response.error_code == "activation_code_expired"


def test_options_need_both_fields_without_a_token(api, new_customer):
    customer = new_customer()
    response = api.post("/auth/passkeys/register/options", {"enrolment_handle": customer["enrolment_handle"]})
    assert response.status == 400 and response.error_code == "validation_error"


def test_unknown_fields_are_refused(api, new_customer):
    customer = new_customer()
    response = api.post(
        "/auth/passkeys/register/options",
        {
            "enrolment_handle": customer["enrolment_handle"],
            "activation_code": customer["activation_code"],
            "role": "admin",
        },
    )
    assert response.status == 400
    assert "role" in response.body["error"]["message"]


@pytest.mark.parametrize(
    "authenticator_kw,create_kw,expected",
    [
        ({}, {"origin": "https://evil.example"}, "origin"),
        ({}, {"rp_id": "evil.example"}, "RP ID"),
        ({"user_verified": False}, {}, "verif"),
    ],
    ids=["wrong-origin", "wrong-rp-id", "no-user-verification"],
)
def test_registration_is_refused_when_the_ceremony_is_wrong(
    api, new_customer, caplog, authenticator_kw, create_kw, expected
):
    """The precise reason is in the log, never in the answer (py_webauthn's text stays ours)."""
    customer = new_customer()
    caplog.clear()
    response = _verify(api, _options(api, customer), SoftAuthenticator(**authenticator_kw), **create_kw)
    assert response.status == 401
    assert response.error_code == "invalid_credential"
    assert expected.lower() not in response.body["error"]["message"].lower()
    assert expected.lower() in caplog.text.lower()
    # Nothing was stored and the code still works.
    assert _verify(api, _options(api, customer), SoftAuthenticator()).status == 201


def test_a_credential_registered_to_another_customer_is_refused(api, new_customer, enrol):
    owner = enrol()
    other = new_customer()
    thief = SoftAuthenticator(credential_id=owner.authenticator.credential_id)
    response = _verify(api, _options(api, other), thief)
    assert response.status == 409 and response.error_code == "credential_already_registered"


def test_a_replayed_registration_challenge_is_refused(api, new_customer):
    customer = new_customer()
    options = _options(api, customer)
    phone = SoftAuthenticator()
    credential = phone.create(options.body["options"])
    body = {"challenge_id": options.body["challenge_id"], "credential": credential}
    assert api.post("/auth/passkeys/register/verify", body).status == 201
    replay = api.post("/auth/passkeys/register/verify", body)
    assert replay.status == 404 and replay.error_code == "challenge_not_found"


def test_add_a_second_passkey_with_an_access_token_and_a_confirmation(api, enrol):
    enrolled = enrol()
    confirmed = confirmation(api, enrolled, "passkey.add")
    options = api.post("/auth/passkeys/register/options", {"confirmation": confirmed}, token=enrolled.token)
    assert options.status == 200, options.body
    assert [c["id"] for c in options.body["options"]["excludeCredentials"]] == [
        _b64(enrolled.authenticator.credential_id)
    ]
    laptop = SoftAuthenticator(backup_eligible=False, backed_up=False)
    added = _verify(api, options, laptop)
    assert added.status == 201
    listed = api.get("/me/passkeys", token=enrolled.token).body["passkeys"]
    assert len(listed) == 2
    assert {p["device_bound"] for p in listed} == {True, False}


def test_a_stolen_access_token_alone_cannot_add_a_passkey(api, enrol):
    """The takeover of the issue: a token without a passkey confirmation, or with a confirmation
    of another change, or signed by an authenticator that is not the customer's, adds nothing."""
    enrolled = enrol()
    bare = api.post("/auth/passkeys/register/options", token=enrolled.token)
    assert bare.status == 401 and bare.error_code == "step_up_required"
    other_change = confirmation(api, enrolled, "autopay.set", enabled=True)
    wrong = api.post("/auth/passkeys/register/options", {"confirmation": other_change}, token=enrolled.token)
    assert wrong.status == 401 and wrong.error_code == "step_up_mismatch"
    thief = SoftAuthenticator()
    forged = confirmation(api, enrolled, "passkey.add", authenticator=thief)
    refused = api.post("/auth/passkeys/register/options", {"confirmation": forged}, token=enrolled.token)
    assert refused.status == 401 and refused.error_code == "invalid_credential"
    assert len(api.get("/me/passkeys", token=enrolled.token).body["passkeys"]) == 1


def test_at_most_ten_passkeys(api, enrol):
    """Mutation: drop the count condition from the enrolment transaction → an 11th is stored."""
    enrolled = enrol()
    for n in range(9):
        options = api.post(
            "/auth/passkeys/register/options",
            {"confirmation": confirmation(api, enrolled, "passkey.add")},
            token=enrolled.token,
        )
        assert options.status == 200, (n, options.body)
        assert _verify(api, options, SoftAuthenticator()).status == 201
    # The 11th: refused at the options, and at the commit if options were fetched before the 10th.
    early = api.post(
        "/auth/passkeys/register/options",
        {"confirmation": confirmation(api, enrolled, "passkey.add")},
        token=enrolled.token,
    )
    assert early.status == 409 and early.error_code == "passkey_limit_reached"
    assert len(api.get("/me/passkeys", token=enrolled.token).body["passkeys"]) == 10


def test_the_limit_holds_at_the_commit(api, enrol):
    enrolled = enrol()
    pending = [
        api.post(
            "/auth/passkeys/register/options",
            {"confirmation": confirmation(api, enrolled, "passkey.add")},
            token=enrolled.token,
        )
        for _ in range(10)
    ]
    results = [_verify(api, options, SoftAuthenticator()).status for options in pending]
    assert results.count(201) == 9 and results.count(409) == 1
    assert len(api.get("/me/passkeys", token=enrolled.token).body["passkeys"]) == 10


def test_adding_with_a_token_and_a_code_is_ambiguous(api, enrol):
    enrolled = enrol()
    response = api.post(
        "/auth/passkeys/register/options",
        {"enrolment_handle": enrolled.customer["enrolment_handle"], "activation_code": "AAAA-BBBB-CCCC"},
        token=enrolled.token,
    )
    assert response.status == 400


def test_adding_with_a_bad_token_is_refused(api):
    response = api.post("/auth/passkeys/register/options", token="not-a-jwt")
    assert response.status == 401 and response.error_code == "invalid_token"


def _b64(raw: bytes) -> str:
    from devtools.soft_authenticator import b64u

    return b64u(raw)
