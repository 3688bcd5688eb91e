def test_enrol_and_sign_in(enrol, sign_in, api):
    enrolled = enrol()
    assert enrolled.session["token_type"] == "Bearer"
    me = api.get("/me/passkeys", token=enrolled.token)
    assert me.status == 200
    assert len(me.body["passkeys"]) == 1
    again = sign_in(enrolled.authenticator)
    assert again.status == 200, again.body
