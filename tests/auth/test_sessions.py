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


def _age_rotation(enrolled, seconds: int = 60) -> None:
    """Move the session's last rotation back in time, past the grace window."""
    from chalicelib.store.models import Session, customer_pk

    customer_id, session_id, _ = enrolled.session["refresh_token"].split(".")
    session = Session.get(customer_pk(customer_id), f"SESSION#{session_id}", consistent_read=True)
    session.update(actions=[Session.rotated_at.set(int(session.rotated_at) - seconds)])


def test_reusing_a_spent_refresh_token_ends_the_whole_session(api, enrol, app_module):
    from chalicelib.store.models import Item, SecurityEvent, customer_pk

    enrolled = enrol()
    spent = enrolled.session["refresh_token"]
    current = api.post("/auth/token/refresh", {"refresh_token": spent}).body["refresh_token"]
    _age_rotation(enrolled)
    reuse = api.post("/auth/token/refresh", {"refresh_token": spent})
    assert reuse.status == 401
    after = api.post("/auth/token/refresh", {"refresh_token": current})
    assert after.status == 401 and after.error_code == "session_revoked"
    kinds = [
        e.kind
        for e in Item.query(customer_pk(enrolled.customer["customer_id"]), Item.SK.startswith("SECEVENT#"))
        if isinstance(e, SecurityEvent)
    ]
    assert "refresh_token_reuse" in kinds


def test_a_retry_within_the_grace_window_gets_the_same_new_pair(api, enrol):
    """An app that lost the answer retries with the token it just spent: same new refresh token,
    an access token of the same session, and the session goes on. Mutation: drop the grace check
    → the retry is a reuse and ends the session."""
    enrolled = enrol()
    spent = enrolled.session["refresh_token"]
    first = api.post("/auth/token/refresh", {"refresh_token": spent})
    retry = api.post("/auth/token/refresh", {"refresh_token": spent})
    assert first.status == retry.status == 200
    assert retry.body["refresh_token"] == first.body["refresh_token"]
    assert api.get("/me/sessions", token=retry.body["access_token"]).status == 200
    assert api.post("/auth/token/refresh", {"refresh_token": first.body["refresh_token"]}).status == 200


def test_the_grace_window_covers_only_the_last_rotation(api, enrol):
    enrolled = enrol()
    spent = enrolled.session["refresh_token"]
    second = api.post("/auth/token/refresh", {"refresh_token": spent}).body["refresh_token"]
    api.post("/auth/token/refresh", {"refresh_token": second})
    # `spent` is two rotations old: a reuse, even within seconds.
    assert api.post("/auth/token/refresh", {"refresh_token": spent}).status == 401


def test_concurrent_refreshes_with_one_token_yield_one_pair(api, enrol):
    """Six retries racing on one token: every success answers the same new refresh token, and it
    is the only live one. Mutation: no grace → one winner and the session ended."""
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
    winners = set(results)
    assert len(winners) == 1 and None not in winners
    assert api.post("/auth/token/refresh", {"refresh_token": winners.pop()}).status == 200


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
