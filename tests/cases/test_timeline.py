"""A case seen by its customer: the list (newest first, by status, a page at a time), the case with
its whole timeline, replies, "did this solve it?"; and nobody else's."""

from __future__ import annotations

import uuid

from tests.cases.conftest import open_case, opened, random_case_id


def test_the_list_is_newest_first_filtered_by_status_and_paginated(cases, customer):
    who = customer()
    ids = [opened(cases, who, message=f"n°{i}")["case_id"] for i in range(3)]
    cases.post(f"/me/cases/{ids[1]}/close", {"solved": True}, token=who.token)
    listed = cases.get("/me/cases", token=who.token).body
    assert [c["case_id"] for c in listed["cases"]] == ids[::-1] and listed["next_cursor"] is None
    assert [c["case_id"] for c in cases.get("/me/cases?status=closed", token=who.token).body["cases"]] == [
        ids[1]
    ]
    assert [c["case_id"] for c in cases.get("/me/cases?status=open", token=who.token).body["cases"]] == [
        ids[2],
        ids[0],
    ]
    first = cases.get("/me/cases?limit=2", token=who.token).body
    assert [c["case_id"] for c in first["cases"]] == [ids[2], ids[1]] and first["next_cursor"]
    rest = cases.get(f"/me/cases?limit=2&cursor={first['next_cursor']}", token=who.token).body
    assert [c["case_id"] for c in rest["cases"]] == [ids[0]] and rest["next_cursor"] is None
    # Another customer's cursor does not read this customer's cases.
    stranger = customer()
    foreign = cases.get(f"/me/cases?limit=2&cursor={first['next_cursor']}", token=stranger.token)
    assert (foreign.status, foreign.error_code) == (400, "invalid_cursor")
    assert cases.get("/me/cases?status=lost", token=who.token).error_code == "validation_error"


def test_a_reply_joins_the_timeline_and_hands_the_turn_back(cases, customer, agent):
    who = customer()
    case = opened(cases, who)
    agent("admin_case_reply", customer_id=who.id, case_id=case["case_id"], message="Pouvez-vous préciser ?")
    waiting = cases.get(f"/me/cases/{case['case_id']}", token=who.token).body
    assert (waiting["status"], waiting["awaiting"]) == ("awaiting_customer", "reply")
    replied = cases.post(f"/me/cases/{case['case_id']}/messages", {"message": "Voici."}, token=who.token)
    assert replied.status == 201
    assert (replied.body["status"], replied.body["awaiting"]) == ("open", None)
    steps = [(e["kind"], e["author"], e["text"], e["status"]) for e in replied.body["timeline"][-2:]]
    assert steps == [
        ("message", {"type": "agent"}, "Pouvez-vous préciser ?", "awaiting_customer"),
        ("message", {"type": "customer"}, "Voici.", "open"),
    ]
    assert replied.body["timeline"][-1]["reason"] == "customer_replied"
    # A second message while it is already the agents' turn changes no status.
    again = cases.post(
        f"/me/cases/{case['case_id']}/messages", {"message": "Et aussi…"}, token=who.token
    ).body
    assert again["timeline"][-1]["status"] is None and again["status"] == "open"
    assert "operator" not in str(again["timeline"])  # agents' names stay in the console


def test_did_this_solve_it_closes_with_the_answer(cases, customer, agent):
    who = customer()
    case = opened(cases, who)
    agent("admin_case_resolve", customer_id=who.id, case_id=case["case_id"], reason="Remboursement effectué.")
    resolved = cases.get(f"/me/cases/{case['case_id']}", token=who.token).body
    assert resolved["status"] == "resolved" and resolved["resolution"]["reason"] == "Remboursement effectué."
    closed = cases.post(
        f"/me/cases/{case['case_id']}/close",
        {"solved": False, "comment": "Pas encore reçu."},
        token=who.token,
    )
    assert closed.status == 200 and closed.body["status"] == "closed"
    assert (
        closed.body["feedback"]["solved"] is False
        and closed.body["feedback"]["comment"] == "Pas encore reçu."
    )
    last = closed.body["timeline"][-1]
    assert (last["kind"], last["author"]["type"], last["status"], last["reason"]) == (
        "status",
        "customer",
        "closed",
        "not_solved",
    )
    again = cases.post(f"/me/cases/{case['case_id']}/close", {"solved": True}, token=who.token)
    assert (again.status, again.error_code) == (409, "case_closed")
    late = cases.post(f"/me/cases/{case['case_id']}/messages", {"message": "Encore moi"}, token=who.token)
    assert (late.status, late.error_code) == (409, "case_closed")


def test_closing_a_resolved_case_does_not_free_a_second_place(cases, customer, agent):
    """Resolving took the case off the open count; closing it afterwards must not take it off
    again. Mutation: always decrement on close → a sixth case opens."""
    who = customer()
    first = opened(cases, who)
    agent("admin_case_resolve", customer_id=who.id, case_id=first["case_id"], reason="Fait.")
    cases.post(f"/me/cases/{first['case_id']}/close", {"solved": True}, token=who.token)
    for _ in range(5):
        assert open_case(cases, who).status == 201
    assert open_case(cases, who).error_code == "too_many_open_cases"


def test_another_customers_case_is_a_404_everywhere_and_stays_as_it_was(cases, customer):
    owner, intruder = customer(), customer()
    case = opened(cases, owner)
    before = cases.get(f"/me/cases/{case['case_id']}", token=owner.token).body
    path = f"/me/cases/{case['case_id']}"
    for method, suffix, body in (
        ("GET", "", None),
        ("POST", "/messages", {"message": "pwned"}),
        ("POST", "/close", {"solved": True}),
        ("POST", "/documents/upload", {"content_type": "image/png"}),
        ("POST", "/documents", {"upload_id": "upl_" + "0" * 24}),
    ):
        answer = cases.request(method, path + suffix, body, token=intruder.token)
        assert (answer.status, answer.error_code) == (404, "case_not_found"), (suffix, answer.body)
        unknown = cases.request(method, f"/me/cases/{random_case_id()}{suffix}", body, token=owner.token)
        assert unknown.body == answer.body  # the same answer as an unknown id: ids leak nothing
    assert cases.get(f"/me/cases/{case['case_id']}", token=owner.token).body == before
    assert cases.get("/me/cases", token=intruder.token).body["cases"] == []


def test_bad_path_ids_and_bodies_are_400(cases, customer):
    who = customer()
    case = opened(cases, who)
    assert cases.get("/me/cases/CASE-1", token=who.token).error_code == "invalid_path_id"
    for body in ({"message": "x" * 2001}, {"message": "hi", "cc": "x"}, {"message": 3}):
        answer = cases.post(f"/me/cases/{case['case_id']}/messages", body, token=who.token)
        assert (answer.status, answer.error_code) == (400, "validation_error"), body
    answer = cases.post(f"/me/cases/{case['case_id']}/close", {"solved": "yes"}, token=who.token)
    assert answer.error_code == "validation_error"
    answer = cases.post(
        f"/me/cases/{case['case_id']}/messages", {"message": "carte 4000 0566 5566 5556"}, token=who.token
    )
    assert answer.error_code == "card_number_refused"


def test_the_timeline_is_bounded(cases, customer, monkeypatch):
    """Mutation: drop the `events` bound from the move's condition or check → more steps than allowed."""
    from chalicelib.cases import service

    monkeypatch.setattr(service, "MAX_EVENTS", 5)
    who = customer()
    case = opened(cases, who)  # opened + message: 2 steps
    for i in range(3):
        assert (
            cases.post(f"/me/cases/{case['case_id']}/messages", {"message": str(i)}, token=who.token).status
            == 201
        )
    full = cases.post(f"/me/cases/{case['case_id']}/messages", {"message": "one more"}, token=who.token)
    assert (full.status, full.error_code) == (409, "case_timeline_full")
    assert len(cases.get(f"/me/cases/{case['case_id']}", token=who.token).body["timeline"]) == 5


def test_case_writes_are_rate_limited_per_customer(cases, customer, case_settings):
    case_settings(
        rate_limits={
            "case_write_customer": (3, 3600),
            "call_code_customer": (5, 3600),
            "call_code_guesses": (20, 600),
        }
    )
    who, other = customer(), customer()
    case = opened(cases, who)
    for _ in range(2):
        cases.post(f"/me/cases/{case['case_id']}/messages", {"message": "x"}, token=who.token)
    limited = cases.post(f"/me/cases/{case['case_id']}/messages", {"message": "x"}, token=who.token)
    assert (limited.status, limited.error_code) == (429, "rate_limited") and int(
        limited.headers["Retry-After"]
    ) >= 1
    assert open_case(cases, other, key=str(uuid.uuid4())).status == 201  # per customer


def test_the_customers_reads_are_one_dynamodb_call_each(cases, customer):
    """GET /me/cases is one Query of GSI1, GET /me/cases/{id} one Query of the case's prefix
    (the case, its timeline, its documents). Mutation: read the case with a GetItem then its
    timeline → 2 calls."""
    from bench.common import calls, count_dynamodb_calls

    who = customer()
    case = opened(cases, who)
    count_dynamodb_calls()
    for path in ("/me/cases", f"/me/cases/{case['case_id']}", "/me/cases?status=open&limit=5"):
        with calls() as seen:
            assert cases.get(path, token=who.token).status == 200
        assert dict(seen) == {"Query": 1}, (path, dict(seen))
