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
    assert (reuse.status, reuse.error_code) == (401, "invalid_refresh_token")
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
    reuse = api.post("/auth/token/refresh", {"refresh_token": spent})
    assert (reuse.status, reuse.error_code) == (401, "invalid_refresh_token")
    ended = api.post("/auth/token/refresh", {"refresh_token": second})
    assert (ended.status, ended.error_code) == (401, "session_revoked")  # a reuse: the session ended


def _race(token: str, monkeypatch, racers: int = 6) -> list[tuple[str, str]]:
    """`racers` refreshes with one token, interleaved the way that tests the rotation: every racer
    sends its conditional rotation only once all of them are about to (each thread's first update
    waits for the others), so all of them try to rotate the same hash. Each answer: ("ok", new
    refresh token) or ("error", code)."""
    import threading

    from chalicelib.auth import sessions
    from chalicelib.errors import DomainError

    write_together = threading.Barrier(racers)
    first_write = threading.local()
    real_update = sessions.Session.update

    def update(self, *args, **kwargs):
        if not getattr(first_write, "done", False):
            first_write.done = True
            write_together.wait(timeout=30)
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(sessions.Session, "update", update)

    def attempt(_: int) -> tuple[str, str]:
        try:
            return "ok", sessions.refresh(refresh_token=token).refresh_token
        except DomainError as error:
            return "error", error.code

    try:
        with ThreadPoolExecutor(max_workers=racers) as pool:
            return list(pool.map(attempt, range(racers)))
    finally:
        monkeypatch.setattr(sessions.Session, "update", real_update)


def _stored_session(enrolled):
    from chalicelib.store.models import Session, customer_pk

    customer_id, session_id, _ = enrolled.session["refresh_token"].split(".")
    return Session.get(customer_pk(customer_id), f"SESSION#{session_id}", consistent_read=True)


def test_concurrent_refreshes_with_one_token_rotate_once_and_all_get_that_pair(api, enrol, monkeypatch):
    """Six retries racing on one token (an app that lost the answer), all sending their rotation at
    once: one rotation, and the five that lose the conditional write answer that rotation's
    refresh token (the grace window), the only live one. Mutation: drop the condition on the
    current hash in `refresh` → six rotations (six tokens, a longer spent list)."""
    from chalicelib.common.secrets import sha256_hex

    enrolled = enrol()
    token = enrolled.session["refresh_token"]
    results = _race(token, monkeypatch)
    assert [kind for kind, _ in results] == ["ok"] * 6, results
    [new_token] = {value for _, value in results}
    session = _stored_session(enrolled)
    assert list(session.spent_hashes) == [sha256_hex(token.split(".")[2])]  # rotated exactly once
    assert session.refresh_hash == sha256_hex(new_token.split(".")[2]) and not session.revoked_at
    after = api.post("/auth/token/refresh", {"refresh_token": new_token})
    assert after.status == 200 and after.body["refresh_token"] != new_token


def test_without_the_grace_window_one_racer_wins_and_the_race_is_a_reuse(api, enrol, monkeypatch):
    """The rotation itself, the retry window aside: of six refreshes that all send their rotation
    at once, exactly one rotates; the five others lose the conditional write and are a 401 (they
    presented a token spent meanwhile: the session ends, the winner's pair with it).
    Mutation: drop the condition on the current hash → six winners."""
    from chalicelib.auth import sessions

    enrolled = enrol()
    alone = api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]})
    assert alone.status == 200  # alone, a refresh works
    monkeypatch.setattr(sessions, "GRACE_S", -1)
    results = _race(alone.body["refresh_token"], monkeypatch)
    winners = [value for kind, value in results if kind == "ok"]
    losers = [value for kind, value in results if kind == "error"]
    # A loser reads the session after its write failed: the first to read finds a spent token and
    # ends the session; one that reads after that finds it ended. A 401 either way.
    assert len(winners) == 1 and len(losers) == 5, results
    assert "invalid_refresh_token" in losers and set(losers) <= {"invalid_refresh_token", "session_revoked"}
    assert _stored_session(enrolled).revoked_at  # a spent token came back: the session ended
    ended = api.post("/auth/token/refresh", {"refresh_token": winners[0]})
    assert ended.status == 401 and ended.error_code == "session_revoked"


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
    ended = api.post("/auth/token/refresh", {"refresh_token": other_device["refresh_token"]})
    assert (ended.status, ended.error_code) == (401, "session_revoked")
    assert len(api.get("/me/sessions", token=enrolled.token).body["sessions"]) == 1


def test_another_customers_session_is_not_found_and_untouched(api, enrol):
    mine, theirs = enrol(), enrol()
    their_sid = api.get("/me/sessions", token=theirs.token).body["sessions"][0]["session_id"]
    response = api.delete(f"/me/sessions/{their_sid}", token=mine.token)
    assert (response.status, response.error_code) == (404, "session_not_found")
    assert api.post("/auth/token/refresh", {"refresh_token": theirs.session["refresh_token"]}).status == 200


def test_a_malformed_session_id_is_a_400(api, enrol):
    enrolled = enrol()
    response = api.delete("/me/sessions/not-a-session", token=enrolled.token)
    assert response.status == 400 and response.error_code == "invalid_path_id"


def test_the_spent_list_stays_bounded_and_still_catches_a_reuse_50_rotations_back(api, enrol):
    """A refresh is one conditional UpdateItem that appends the spent hash; the read path trims the
    list back to SPENT_HASHES_KEPT once it holds twice that. However many rotations, the list stays
    within [50, 100] and a token spent 50 rotations ago is a reuse that ends the session.
    Mutation: drop the `_spent_count() < 2 * SPENT_HASHES_KEPT` condition → more than 100 → fails;
    trim to 10 on the read path → the token 50 rotations back is unknown, the session lives → fails."""
    from chalicelib.auth import sessions

    kept = sessions.SPENT_HASHES_KEPT
    enrolled = enrol()
    tokens = [enrolled.session["refresh_token"]]
    for _ in range(2 * kept + 5):
        answer = api.post("/auth/token/refresh", {"refresh_token": tokens[-1]})
        assert answer.status == 200, answer.body
        tokens.append(answer.body["refresh_token"])
    assert kept <= len(_stored_session(enrolled).spent_hashes) <= 2 * kept
    reuse = api.post("/auth/token/refresh", {"refresh_token": tokens[-1 - kept]})
    assert (reuse.status, reuse.error_code) == (401, "invalid_refresh_token")
    ended = api.post("/auth/token/refresh", {"refresh_token": tokens[-1]})
    assert (ended.status, ended.error_code) == (401, "session_revoked")


def test_an_expired_session_does_not_refresh(api, enrol):
    """The one-update refresh checks the expiry a read would have. Mutation: drop
    `Session.expires_at > now` from its condition → the expired session rotates → fails."""
    from chalicelib.store.models import Session

    enrolled = enrol()
    _stored_session(enrolled).update(actions=[Session.expires_at.set(1)])
    answer = api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]})
    assert (answer.status, answer.error_code) == (401, "session_expired")
