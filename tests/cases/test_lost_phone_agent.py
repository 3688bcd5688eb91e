"""A customer whose only phone is lost or stolen, served by an agent from the console
(`admin_case_lost_phone`, chalicelib/cases/lost_phone.py): a case written by the agent, the line
suspended as the customer's own suspension, every session ended, and with `reset_passkeys` a new
activation letter; then the customer enrols the next phone with it and restores the line in the app."""

from __future__ import annotations

from typing import Any

from devtools.soft_authenticator import SoftAuthenticator
from tests.conftest import Enrolled
from tests.support.stepup import confirmation


def _event(who: Any, line_id: str, **more: Any) -> dict[str, Any]:
    return {
        "customer_id": who.id,
        "line_id": line_id,
        "reason": "stolen",
        "identity_check": "id_document",
        **more,
    }


def _enrol_next_phone(api: Any, who: Any, letter: dict[str, Any]) -> Enrolled:
    phone = SoftAuthenticator()
    options = api.post(
        "/auth/passkeys/register/options",
        {"enrolment_handle": letter["enrolment_handle"], "activation_code": letter["activation_code"]},
    )
    assert options.status == 200, options.body
    verify = api.post(
        "/auth/passkeys/register/verify",
        {
            "challenge_id": options.body["challenge_id"],
            "credential": phone.create(options.body["options"]),
            "name": "New phone",
        },
    )
    assert verify.status == 201, verify.body
    return Enrolled(customer=who.enrolled.customer, authenticator=phone, session=verify.body)


def _kinds(api: Any, token: str, kind: str) -> int:
    return sum(1 for item in api.get("/me/inbox", token=token).body["items"] if item["kind"] == kind)


def test_an_agent_serves_a_customer_whose_only_phone_was_stolen(api, agent, customer, with_line, sign_in):
    """The lost phone stops at once (its refresh token, its passkey), the line is suspended by the
    customer's will, the case tells what was done; the next phone enrols with the letter, reads the
    case and restores the line itself.
    Mutations: `by: "agent"` in suspend_for_customer → the customer cannot restore it (409);
    leave out sessions.revoke_all → the lost phone still refreshes."""
    who = customer()
    line_id = with_line(who)
    lost = who.enrolled
    answer = agent("admin_case_lost_phone", **_event(who, line_id, reset_passkeys=True))
    assert "error" not in answer, answer
    assert answer["case_created"] is True and answer["sessions_ended"] == 1
    assert answer["line"]["status"] == "suspended"
    assert answer["line"]["suspension"]["by"] == "customer"
    assert answer["request"]["kind"] == "line_suspension" and answer["request"]["detail"]["via"] == "agent"
    steps = [(e["kind"], e["reason"]) for e in answer["case"]["timeline"]]
    assert ("action", "line_suspended") in steps and ("action", "sessions_ended") in steps
    assert ("action", "passkeys_reset") in steps
    opened = next(e for e in answer["case"]["timeline"] if e["kind"] == "opened")
    assert opened["author"] == {"type": "agent", "operator": "camille.n2"}

    # The lost phone: its refresh token and its passkey are dead.
    refreshed = api.post("/auth/token/refresh", {"refresh_token": lost.session["refresh_token"]})
    assert refreshed.status == 401, refreshed.body
    signed = sign_in(lost.authenticator)
    assert signed.status in (400, 401), signed.body

    # The next phone: enrolled with the letter, it reads the case (without the agent's name) and
    # restores the line with its own passkey.
    phone = _enrol_next_phone(api, who, answer["letter"])
    case = api.get(f"/me/cases/{answer['case']['case_id']}", token=phone.token)
    assert case.status == 200, case.body
    assert all("operator" not in e["author"] for e in case.body["timeline"])
    assert _kinds(api, phone.token, "line.suspended") == 1
    confirmed = confirmation(api, phone, "line.restore", line_id=line_id)
    restored = api.post(
        f"/lines/{line_id}/suspension/removal", {"confirmation": confirmed}, token=phone.token
    )
    assert restored.status == 201, restored.body
    assert restored.body["line"]["status"] == "active"


def test_a_console_retry_does_everything_once(api, agent, customer, with_line):
    """The same event run twice: one case, one suspension request, one alert, each step recorded
    once, no second passkey reset (no second letter), and a third run after the customer enrolled
    their next phone leaves that phone signed in.
    Mutations: drop the `done` check in report_lost_phone → the steps are recorded twice; end the
    sessions on every run → the new phone's refresh fails."""
    who = customer()
    line_id = with_line(who)
    first = agent("admin_case_lost_phone", **_event(who, line_id, reset_passkeys=True))
    second = agent("admin_case_lost_phone", **_event(who, line_id, reset_passkeys=True))
    assert "error" not in second, second
    assert second["case_created"] is False and second["case"]["case_id"] == first["case"]["case_id"]
    assert "letter" not in second and second["passkeys_reset"] is True
    assert "admin_issue_activation_code" in second["message"]
    actions = [e["reason"] for e in second["case"]["timeline"] if e["kind"] == "action"]
    assert sorted(actions) == ["line_suspended", "passkeys_reset", "sessions_ended"]
    phone = _enrol_next_phone(api, who, first["letter"])  # the first letter still works
    third = agent("admin_case_lost_phone", **_event(who, line_id, reset_passkeys=True))
    assert third["sessions_ended"] == 0  # the next phone, enrolled meanwhile, stays signed in
    assert api.get("/me/sessions", token=phone.token).status == 200
    refreshed = api.post("/auth/token/refresh", {"refresh_token": phone.session["refresh_token"]})
    assert refreshed.status == 200, refreshed.body
    requests = api.get("/me/requests", token=phone.token).body["requests"]
    assert sum(1 for r in requests if r["kind"] == "line_suspension") == 1
    assert _kinds(api, phone.token, "line.suspended") == 1


def test_without_a_reset_the_other_passkeys_keep_working(api, agent, customer, with_line, sign_in):
    """A customer with another device keeps its passkey: only sessions end; no letter.
    Mutation: reset passkeys whatever `reset_passkeys` says → the sign-in fails."""
    who = customer()
    line_id = with_line(who)
    answer = agent(
        "admin_case_lost_phone", **_event(who, line_id, reason="lost", identity_check="knowledge_questions")
    )
    assert "error" not in answer, answer
    assert answer["passkeys_reset"] is False and "letter" not in answer
    assert answer["line"]["suspension"]["reason"] == "lost"
    again = sign_in(who.enrolled.authenticator)
    assert again.status == 200, again.body


def test_refusals_open_nothing(api, agent, customer, with_line):
    """Another customer's line, an unknown customer, no operator, no identity check: an error and
    no case. Mutation: check the line after open_case → a case is left open for a foreign line."""
    who, other = customer(), customer()
    line_id = with_line(other)
    foreign = agent("admin_case_lost_phone", **_event(who, line_id))
    assert foreign["error"]["code"] == "line_not_found", foreign
    assert api.get("/me/cases", token=who.token).body["cases"] == []
    unknown = agent("admin_case_lost_phone", **_event(who, line_id, customer_id="cus_" + "0" * 24))
    assert unknown["error"]["code"] == "customer_not_found", unknown
    nobody = agent("admin_case_lost_phone", operator=None, **_event(other, line_id))
    assert nobody["error"]["code"] == "validation_error", nobody
    unchecked = _event(other, line_id)
    del unchecked["identity_check"]
    assert agent("admin_case_lost_phone", **unchecked)["error"]["code"] == "validation_error"
    assert api.get(f"/lines/{line_id}", token=other.token).body["status"] == "active"
