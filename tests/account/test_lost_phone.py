"""A lost or stolen phone: the customer suspends a line at once with a passkey confirmation bound
to the line and the reason, restores it the same way (only a suspension of their own), and is
nudged to add a second passkey while they have one."""

from __future__ import annotations

from typing import Any

from devtools.soft_authenticator import b64u
from tests.account.conftest import record, sqs_event
from tests.support.stepup import confirmation


def suspend(
    api: Any, enrolled: Any, line_id: str, reason: str = "lost", *, confirmed_for: str | None = None
) -> Any:
    """Step-up `line.suspend` for `confirmed_for` (default: the same reason), then the suspension."""
    confirmed = confirmation(api, enrolled, "line.suspend", line_id=line_id, reason=confirmed_for or reason)
    return api.post(
        f"/lines/{line_id}/suspension", {"reason": reason, "confirmation": confirmed}, token=enrolled.token
    )


def restore(api: Any, enrolled: Any, line_id: str) -> Any:
    confirmed = confirmation(api, enrolled, "line.restore", line_id=line_id)
    return api.post(f"/lines/{line_id}/suspension/removal", {"confirmation": confirmed}, token=enrolled.token)


def _requests(api: Any, enrolled: Any, kind: str) -> list[dict[str, Any]]:
    listed = api.get("/me/requests", token=enrolled.token).body["requests"]
    return [r for r in listed if r["kind"] == kind]


def _alerts(api: Any, enrolled: Any, kind: str) -> list[dict[str, Any]]:
    """The inbox's alerts of `kind` (or of every kind starting with it, when it ends with a dot)."""
    items = api.get("/me/inbox", token=enrolled.token).body["items"]
    return [i for i in items if i["kind"] == kind or (kind.endswith(".") and i["kind"].startswith(kind))]


def _line(api: Any, enrolled: Any, line_id: str) -> dict[str, Any]:
    answer = api.get(f"/lines/{line_id}", token=enrolled.token)
    assert answer.status == 200, answer.body
    return dict(answer.body)


def _used(api: Any, enrolled: Any, line_id: str, kind: str = "data") -> float:
    usage = api.get(f"/lines/{line_id}/usage", token=enrolled.token).body
    return float(next(a for a in usage["allowances"] if a["kind"] == kind)["used"])


def test_a_line_is_suspended_at_once_with_a_passkey(api, app_module, with_line):
    """The line is suspended with its reason, on the line and on the home screen; one done
    `line_suspension` request; one `line.suspended` alert that sends the customer to the sessions.
    Usage the network still reports is counted (the bill must match it), as before this feature.
    Mutation: leave `Line.status.set("suspended")` out of the transaction → the line stays active."""
    enrolled, line_id = with_line()
    answer = suspend(api, enrolled, line_id, "stolen")
    assert answer.status == 201, answer.body
    suspension = answer.body["line"]["suspension"]
    assert answer.body["line"]["status"] == "suspended"
    assert (suspension["reason"], suspension["by"]) == ("stolen", "customer")
    line = _line(api, enrolled, line_id)
    assert (line["status"], line["suspension"]) == ("suspended", suspension)
    home = next(x for x in api.get("/me", token=enrolled.token).body["lines"] if x["line_id"] == line_id)
    assert (home["status"], home["suspension"]) == ("suspended", suspension)
    [request] = _requests(api, enrolled, "line_suspension")
    assert request == answer.body["request"]
    assert (request["status"], request["detail"]["suspension_reason"]) == ("done", "stolen")
    [alert] = _alerts(api, enrolled, "line.suspended")
    assert alert["deep_link"] == "selfcare://security/sessions"
    assert "vol" in alert["body"] and "sessions" in alert["body"] and "réactivez" in alert["body"]
    assert alert["data"]["request_id"] == request["request_id"]
    before = _used(api, enrolled, line_id)
    # 21 GB of the line's 25 GB: past 80 %, which raises an alert on an active line.
    event = sqs_event(record(line_id, "data", 21 * 1024 * 1024))
    assert app_module.ingest_usage(event, None) == {"batchItemFailures": []}
    assert _used(api, enrolled, line_id) == before + 21 * 1024
    assert not _alerts(api, enrolled, "usage.")  # and no usage alert for a suspended line


def test_without_the_right_confirmation_nothing_changes(api, with_line):
    """No confirmation: 400. A confirmation of `lost` sent with `stolen`: 401 step_up_mismatch.
    Mutation: check the confirmation against a fixed reason (`suspend_params(line_id=line_id,
    reason="lost")` in `suspension.suspend`) → the confirmation of `lost` suspends for `stolen`."""
    enrolled, line_id = with_line()
    bare = api.post(f"/lines/{line_id}/suspension", {"reason": "lost"}, token=enrolled.token)
    assert (bare.status, bare.error_code) == (400, "validation_error")
    mismatched = suspend(api, enrolled, line_id, "stolen", confirmed_for="lost")
    assert (mismatched.status, mismatched.error_code) == (401, "step_up_mismatch")
    other_line = confirmation(api, enrolled, "line.restore", line_id=line_id)
    wrong_action = api.post(
        f"/lines/{line_id}/suspension", {"reason": "lost", "confirmation": other_line}, token=enrolled.token
    )
    assert (wrong_action.status, wrong_action.error_code) == (401, "step_up_mismatch")
    line = _line(api, enrolled, line_id)
    assert (line["status"], line["suspension"]) == ("active", None)
    assert not _requests(api, enrolled, "line_suspension")
    assert not _alerts(api, enrolled, "line.suspended")


def test_suspending_again_for_the_same_reason_answers_the_same_suspension(api, with_line):
    """A second tap (another device, a lost answer): 200 with the same request, no second request
    or alert; for the other reason, 409 line_not_active and nothing changes.
    Mutation: drop the early answer for a line the customer already suspended → 409."""
    enrolled, line_id = with_line()
    first = suspend(api, enrolled, line_id, "lost")
    assert first.status == 201, first.body
    again = suspend(api, enrolled, line_id, "lost")
    assert again.status == 200, again.body
    assert again.body == first.body
    other = suspend(api, enrolled, line_id, "stolen")
    assert (other.status, other.error_code) == (409, "line_not_active")
    assert len(_requests(api, enrolled, "line_suspension")) == 1
    assert len(_alerts(api, enrolled, "line.suspended")) == 1
    assert _line(api, enrolled, line_id)["suspension"]["reason"] == "lost"


def test_the_customer_restores_their_own_suspension(api, with_line):
    """Restored: active, no suspension, a done `line_restore` request naming the suspension it
    ended, a `line.restored` alert; restoring an active line is 409 line_not_suspended."""
    enrolled, line_id = with_line()
    assert suspend(api, enrolled, line_id).status == 201
    restored = restore(api, enrolled, line_id)
    assert restored.status == 201, restored.body
    assert (restored.body["line"]["status"], restored.body["line"]["suspension"]) == ("active", None)
    line = _line(api, enrolled, line_id)
    assert (line["status"], line["suspension"]) == ("active", None)
    [request] = _requests(api, enrolled, "line_restore")
    assert request["detail"]["suspension_reason"] == "lost"
    assert len(_alerts(api, enrolled, "line.restored")) == 1
    again = restore(api, enrolled, line_id)
    assert (again.status, again.error_code) == (409, "line_not_suspended")
    # Suspended again later: a new suspension, a new request.
    assert suspend(api, enrolled, line_id, "stolen").status == 201
    assert len(_requests(api, enrolled, "line_suspension")) == 2


def test_a_line_the_provider_suspended_is_not_the_customers_to_restore(api, with_line):
    """An admin suspended it (unpaid bills, fraud): the customer's real confirmation restores
    nothing (409 suspended_by_provider, saying to contact support), nor re-suspends it.
    Mutation: let `_refuse_restore` accept any suspended line → the line becomes active."""
    enrolled, line_id = with_line(status="suspended")
    assert _line(api, enrolled, line_id)["suspension"] == {"reason": None, "at": None, "by": "provider"}
    refused = restore(api, enrolled, line_id)
    assert (refused.status, refused.error_code) == (409, "suspended_by_provider")
    assert "support" in refused.body["error"]["message"]
    french = api.post(
        f"/lines/{line_id}/suspension/removal",
        {"confirmation": confirmation(api, enrolled, "line.restore", line_id=line_id)},
        token=enrolled.token,
        headers={"Accept-Language": "fr"},
    )
    assert "service client" in french.body["error"]["message"]
    also = suspend(api, enrolled, line_id, "lost")
    assert (also.status, also.error_code) == (409, "line_not_active")
    assert _line(api, enrolled, line_id)["status"] == "suspended"
    assert not _requests(api, enrolled, "line_restore") and not _requests(api, enrolled, "line_suspension")


def test_a_single_device_bound_passkey_is_nudged_until_a_second_one_is_added(api, enrol):
    """One device-bound passkey: `add_second_passkey` in `attention` (situation `single_passkey`,
    link to the passkeys); two: gone; the second removed: back. Mutation: compare `passkey_count`
    with 2 → the nudge never shows; leave the synced count out of remove() → it never comes back."""
    from tests.test_ownership import _second_passkey

    enrolled = enrol(backup_eligible=False, backed_up=False)

    def nudges() -> list[dict[str, Any]]:
        attention = api.get("/me", token=enrolled.token).body["attention"]
        return [a for a in attention if a["type"] == "add_second_passkey"]

    nudge = {
        "type": "add_second_passkey",
        "situation": "single_passkey",
        "deep_link": "selfcare://security/passkeys",
    }
    assert nudges() == [nudge]
    second = _second_passkey(api, enrolled)  # a synced one
    assert nudges() == []
    passkey_id = b64u(second.credential_id)
    removed = api.delete(
        f"/me/passkeys/{passkey_id}",
        {"confirmation": confirmation(api, enrolled, "passkey.remove", passkey_id=passkey_id)},
        token=enrolled.token,
    )
    assert removed.status == 204, removed.body
    assert nudges() == [nudge]


def test_a_single_synced_passkey_is_not_nudged(api, enrol):
    """A synced passkey (backup eligible: iCloud Keychain, Google Password Manager) comes back on the
    next phone with the same account: no nudge. Mutation: nudge on passkey_count alone → fails."""
    enrolled = enrol(backup_eligible=True)
    attention = api.get("/me", token=enrolled.token).body["attention"]
    assert [a for a in attention if a["type"] == "add_second_passkey"] == []
