"""Enrolling a first passkey with an activation code, and adding more with an access token."""
from __future__ import annotations

import pytest

from devtools.soft_authenticator import EDDSA, ES256, RS256, SoftAuthenticator


def _options(api, customer, code=None):
    return api.post(
        "/auth/passkeys/register/options",
        {"customer_number": customer["customer_number"], "activation_code": code or customer["activation_code"]},
    )


def _verify(api, options, authenticator, **create_kw):
    credential = authenticator.create(options.body["options"], **create_kw)
    return api.post("/auth/passkeys/register/verify", {"challenge_id": options.body["challenge_id"], "credential": credential})


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


@pytest.mark.parametrize("algorithm,attestation", [(ES256, "none"), (ES256, "packed"), (EDDSA, "none"), (RS256, "packed")])
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


def test_wrong_codes_lock_after_five_tries_for_known_and_unknown_numbers_alike(api, new_customer):
    customer = new_customer()
    unknown = {"customer_number": customer["customer_number"] + "X", "activation_code": "AAAA-BBBB-CCCC"}
    known_answers, unknown_answers = [], []
    for _ in range(5):
        known_answers.append(_options(api, customer, "AAAA-BBBB-CCCC"))
        unknown_answers.append(api.post("/auth/passkeys/register/options", unknown))
    # Same status and same body, try after try: nothing tells which numbers exist.
    assert [(r.status, r.body) for r in known_answers] == [(r.status, r.body) for r in unknown_answers]
    assert [r.status for r in known_answers] == [401, 401, 401, 401, 429]
    assert known_answers[-1].error_code == "activation_locked"
    assert int(known_answers[-1].headers["Retry-After"]) > 0
    # Locked: even the right code is refused now.
    locked = _options(api, customer)
    assert locked.status == 429 and locked.error_code == "activation_locked"


def test_a_new_code_from_customer_care_lifts_the_lock(api, app_module, new_customer):
    customer = new_customer()
    for _ in range(5):
        _options(api, customer, "AAAA-BBBB-CCCC")
    reissued = app_module.admin_issue_activation_code({"customer_number": customer["customer_number"]}, None)
    assert _options(api, customer).status == 401  # the old code stopped working
    assert _options(api, customer, reissued["activation_code"]).status == 200


def test_an_expired_code_is_told_apart_only_to_its_holder(api, new_customer):
    from chalicelib.store.models import ActivationCode, number_pk

    customer = new_customer()
    item = ActivationCode.get(number_pk(customer["customer_number"]), "ACTIVATION")
    item.update(actions=[ActivationCode.expires_at.set(1)])
    response = _options(api, customer)
    assert response.status == 410 and response.error_code == "activation_code_expired"


def test_options_need_both_fields_without_a_token(api, new_customer):
    customer = new_customer()
    response = api.post("/auth/passkeys/register/options", {"customer_number": customer["customer_number"]})
    assert response.status == 400 and response.error_code == "validation_error"


def test_unknown_fields_are_refused(api, new_customer):
    customer = new_customer()
    response = api.post(
        "/auth/passkeys/register/options",
        {"customer_number": customer["customer_number"], "activation_code": customer["activation_code"], "role": "admin"},
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
def test_registration_is_refused_when_the_ceremony_is_wrong(api, new_customer, authenticator_kw, create_kw, expected):
    customer = new_customer()
    response = _verify(api, _options(api, customer), SoftAuthenticator(**authenticator_kw), **create_kw)
    assert response.status == 401
    assert response.error_code == "invalid_credential"
    assert expected.lower() in response.body["error"]["message"].lower()
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


def test_add_a_second_passkey_with_an_access_token(api, enrol):
    enrolled = enrol()
    options = api.post("/auth/passkeys/register/options", token=enrolled.token)
    assert options.status == 200
    assert [c["id"] for c in options.body["options"]["excludeCredentials"]] == [enrolled.session and _b64(enrolled.authenticator.credential_id)]
    laptop = SoftAuthenticator(backup_eligible=False, backed_up=False)
    added = _verify(api, options, laptop)
    assert added.status == 201
    listed = api.get("/me/passkeys", token=enrolled.token).body["passkeys"]
    assert len(listed) == 2
    assert {p["device_bound"] for p in listed} == {True, False}


def test_adding_with_a_token_and_a_code_is_ambiguous(api, enrol):
    enrolled = enrol()
    response = api.post(
        "/auth/passkeys/register/options",
        {"customer_number": enrolled.customer["customer_number"], "activation_code": "AAAA-BBBB-CCCC"},
        token=enrolled.token,
    )
    assert response.status == 400


def test_adding_with_a_bad_token_is_refused(api):
    response = api.post("/auth/passkeys/register/options", token="not-a-jwt")
    assert response.status == 401 and response.error_code == "invalid_token"


def _b64(raw: bytes) -> str:
    from devtools.soft_authenticator import b64u

    return b64u(raw)
