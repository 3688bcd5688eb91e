"""Refresh-token rotation, reuse detection, logout and the customer's sessions."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def test_refresh_rotates_both_tokens(api, enrol):
    enrolled = enrol()
    refreshed = api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]})
    assert refreshed.status == 200
    assert refreshed.body["refresh_token"] != enrolled.session["refresh_token"]
    assert refreshed.body["access_token"] != enrolled.token
    assert api.get("/me/sessions", token=refreshed.body["access_token"]).status == 200
    again = api.post("/auth/token/refresh", {"refresh_token": refreshed.body["refresh_token"]})
    assert again.status == 200


def test_reusing_a_spent_refresh_token_ends_the_whole_session(api, enrol, app_module):
    from chalicelib.store.models import Item, SecurityEvent, customer_pk

    enrolled = enrol()
    spent = enrolled.session["refresh_token"]
    current = api.post("/auth/token/refresh", {"refresh_token": spent}).body["refresh_token"]
    reuse = api.post("/auth/token/refresh", {"refresh_token": spent})
    assert reuse.status == 401
    after = api.post("/auth/token/refresh", {"refresh_token": current})
    assert after.status == 401 and after.error_code == "session_revoked"
    kinds = [e.kind for e in Item.query(customer_pk(enrolled.customer["customer_id"]), Item.SK.startswith("SECEVENT#")) if isinstance(e, SecurityEvent)]
    assert "refresh_token_reuse" in kinds


def test_concurrent_refreshes_with_one_token_never_yield_two_live_tokens(api, enrol):
    from chalicelib.auth import sessions
    from chalicelib.errors import DomainError

    enrolled = enrol()
    token = enrolled.session["refresh_token"]

    def attempt(_: int) -> str | None:
        try:
            return sessions.refresh(refresh_token=token).refresh_token
        except DomainError:
            return None

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(attempt, range(6)))
    winners = [r for r in results if r]
    assert len(winners) <= 1
    if len(results) - len(winners) > 0:
        # A race on one token is a reuse: the session is ended, the winner's token included.
        assert all(api.post("/auth/token/refresh", {"refresh_token": w}).status == 401 for w in winners)


def test_a_forged_refresh_token_is_refused_without_ending_the_session(api, enrol):
    enrolled = enrol()
    customer_id, session_id, _ = enrolled.session["refresh_token"].split(".")
    forged = api.post("/auth/token/refresh", {"refresh_token": f"{customer_id}.{session_id}.{'A' * 43}"})
    assert forged.status == 401 and forged.error_code == "invalid_refresh_token"
    assert api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]}).status == 200


def test_garbage_refresh_tokens_are_a_401(api):
    for token in ["x" * 20, "a.b.c.d.e.f.g", "cus_x.ses_y.zzzzzzzz"]:
        response = api.post("/auth/token/refresh", {"refresh_token": token})
        assert response.status == 401, token


def test_logout_ends_the_session(api, enrol):
    enrolled = enrol()
    assert api.post("/auth/logout", token=enrolled.token).status == 204
    refresh = api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]})
    assert refresh.status == 401 and refresh.error_code == "session_revoked"


def test_list_and_end_my_sessions(api, enrol, sign_in):
    enrolled = enrol()
    other_device = sign_in(enrolled.authenticator).body
    sessions = api.get("/me/sessions", token=enrolled.token).body["sessions"]
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    other_sid = next(s["session_id"] for s in sessions if not s["current"])
    assert api.delete(f"/me/sessions/{other_sid}", token=enrolled.token).status == 204
    assert api.post("/auth/token/refresh", {"refresh_token": other_device["refresh_token"]}).status == 401
    assert len(api.get("/me/sessions", token=enrolled.token).body["sessions"]) == 1


def test_another_customers_session_is_not_found_and_untouched(api, enrol):
    mine, theirs = enrol(), enrol()
    their_sid = api.get("/me/sessions", token=theirs.token).body["sessions"][0]["session_id"]
    response = api.delete(f"/me/sessions/{their_sid}", token=mine.token)
    assert response.status == 404
    assert api.post("/auth/token/refresh", {"refresh_token": theirs.session["refresh_token"]}).status == 200


def test_a_malformed_session_id_is_a_400(api, enrol):
    enrolled = enrol()
    response = api.delete("/me/sessions/not-a-session", token=enrolled.token)
    assert response.status == 400 and response.error_code == "invalid_path_id"
