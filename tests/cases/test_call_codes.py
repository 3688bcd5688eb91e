"""The phone without starting over: after a passkey confirmation the app gets a one-use code; the
agent enters it and lands on the customer's case. Stored as an HMAC only, single use, one live
code per customer, wrong codes limited for all consoles together."""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.cases.conftest import opened
from tests.support.stepup import step_up_confirmation


def new_code(cases, who, case_id: str | None = None, *, confirmation: dict | None = None) -> Any:
    params = {"case_id": case_id} if case_id else {}
    body: dict[str, Any] = {**params}
    body["confirmation"] = confirmation or step_up_confirmation(who.enrolled, "call_code", **params)
    return cases.post("/me/call-codes", body, token=who.token)


def test_a_code_takes_the_agent_to_the_customers_case_once(cases, customer, agent):
    who = customer()
    case = opened(cases, who, {"kind": "search", "search_text": "portabilité numéro"})
    issued = new_code(cases, who, case["case_id"])
    assert issued.status == 201, issued.body
    code = issued.body["code"]
    assert len(code) == 8 and code.isdigit() and issued.body["display"] == f"{code[:4]} {code[4:]}"
    assert issued.body["case_id"] == case["case_id"]

    verified = agent("admin_call_code_verify", code=issued.body["display"])  # as read out, with its space
    assert verified["verified"] is True and verified["customer_id"] == who.id
    assert verified["customer_number"] == who.number and verified["case_id"] == case["case_id"]
    assert verified["bound_to"] == "case"
    assert verified["context"]["case"]["case_id"] == case["case_id"]
    assert verified["context"]["searches"][0]["search_text"] == "portabilité numéro"
    timeline = cases.get(f"/me/cases/{case['case_id']}", token=who.token).body["timeline"]
    assert (timeline[-1]["kind"], timeline[-1]["author"]) == ("call", {"type": "agent"})

    again = agent("admin_call_code_verify", code=code)
    assert again["error"]["code"] == "call_code_invalid"


def test_a_code_for_the_account_lands_on_the_newest_open_case(cases, customer, agent):
    who = customer()
    older = opened(cases, who)
    newer = opened(cases, who)
    closed = opened(cases, who)
    cases.post(f"/me/cases/{closed['case_id']}/close", {"solved": True}, token=who.token)
    verified = agent("admin_call_code_verify", code=new_code(cases, who).body["code"])
    assert verified["bound_to"] == "account" and verified["case_id"] == newer["case_id"]
    assert older["case_id"] != newer["case_id"]
    nobody = customer()
    alone = agent("admin_call_code_verify", code=new_code(cases, nobody).body["code"])
    assert alone["customer_id"] == nobody.id and alone["case_id"] is None and alone["context"]["case"] is None


def test_two_agents_entering_the_same_code_at_once_one_gets_the_customer(cases, customer, agent):
    """Mutation: drop `used_at does_not_exist` from the verification's condition → both succeed."""
    code = new_code(cases, customer()).body["code"]
    results: list[dict[str, Any]] = []
    start = threading.Barrier(4)

    def verify() -> None:
        start.wait()
        results.append(agent("admin_call_code_verify", code=code))

    threads = [threading.Thread(target=verify) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted("verified" in r for r in results) == [False, False, False, True]
    assert all(r["error"]["code"] == "call_code_invalid" for r in results if "error" in r)


def test_a_new_code_replaces_the_previous_and_an_expired_one_fails(cases, customer, agent, monkeypatch):
    who = customer()
    first = new_code(cases, who).body["code"]
    second = new_code(cases, who).body["code"]
    assert agent("admin_call_code_verify", code=first)["error"]["code"] == "call_code_invalid"
    from chalicelib.cases import callcodes

    later = callcodes.now() + callcodes.VALID
    monkeypatch.setattr(callcodes, "now", lambda: later)
    assert agent("admin_call_code_verify", code=second)["error"]["code"] == "call_code_invalid"


def test_the_code_is_never_stored_nor_logged_in_clear(cases, customer, agent, written):
    """Mutation: key the item by the code itself (or log it) → found in the table or the log.
    The code is looked for as a whole token among the items this test wrote: eight digits can
    occur by chance inside the ids and digests of a table the whole suite filled (a flake)."""
    import os
    import re

    import boto3

    from chalicelib.cases.callcodes import code_hash
    from chalicelib.common.secrets import sha256_hex

    table = boto3.resource(
        "dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3"
    ).Table(os.environ["APP_TABLE_NAME"])

    def dumps() -> set[str]:
        return {json.dumps(item, default=str, sort_keys=True) for item in _scan(table)}

    before = dumps()
    who = customer()
    issued = new_code(cases, who)
    code = issued.body["code"]
    agent("admin_call_code_verify", code=code)
    log, everything = written.take()

    def token(value: str) -> re.Pattern[str]:
        return re.compile(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])")

    assert not token(code).search(everything) and issued.body["display"] not in everything
    written_now = "\n".join(sorted(dumps() - before))
    assert not token(code).search(written_now)
    assert f"CALLCODE#{code_hash(code)}" in written_now  # what is kept: the HMAC with the stage's pepper
    assert sha256_hex(code) not in written_now  # not a plain digest either (10^8 guesses would undo it)


def _scan(table):
    answer = table.scan()
    yield from answer["Items"]
    while "LastEvaluatedKey" in answer:
        answer = table.scan(ExclusiveStartKey=answer["LastEvaluatedKey"])
        yield from answer["Items"]


def test_wrong_codes_lock_verification_for_everyone_then_it_reopens(
    cases, customer, agent, case_settings, monkeypatch
):
    """Every verification is counted before the code is looked at; a right one gives its count
    back. Mutation: count after the lookup, or not at all → the right code still works once locked;
    or never give back → right codes lock it too."""
    from chalicelib.cases import limits

    moment = [10_000_000.0]  # a window of this test's own
    monkeypatch.setattr(limits, "clock", lambda: moment[0])
    case_settings(
        rate_limits={
            "case_write_customer": (30, 60),
            "call_code_customer": (50, 3600),
            "call_code_guesses": (3, 600),
        }
    )
    who = customer()
    for _ in range(3):  # right codes do not count
        assert agent("admin_call_code_verify", code=new_code(cases, who).body["code"])["verified"] is True
    good = new_code(cases, who).body["code"]
    wrong = [f"{(int(good) + n) % 10**8:08d}" for n in (1, 2, 3)]
    for guess in wrong:
        assert agent("admin_call_code_verify", code=guess)["error"]["code"] == "call_code_invalid"
    locked = agent("admin_call_code_verify", code=good)
    assert locked["error"]["code"] == "call_codes_locked"  # even the right code, while locked
    moment[0] += 600  # the next window
    assert agent("admin_call_code_verify", code=good)["verified"] is True


def test_issuing_needs_a_confirmation_of_this_very_code(cases, customer):
    who = customer()
    case = opened(cases, who)
    missing = cases.post("/me/call-codes", {"case_id": case["case_id"]}, token=who.token)
    assert (missing.status, missing.error_code) == (401, "step_up_required")
    for_account = step_up_confirmation(who.enrolled, "call_code")
    mismatch = new_code(cases, who, case["case_id"], confirmation=for_account)
    assert (mismatch.status, mismatch.error_code) == (401, "step_up_mismatch")
    other_action = step_up_confirmation(who.enrolled, "autopay.set", enabled=True)
    assert new_code(cases, who, confirmation=other_action).error_code == "step_up_mismatch"
    confirmed = step_up_confirmation(who.enrolled, "call_code")
    assert new_code(cases, who, confirmation=confirmed).status == 201
    replayed = new_code(cases, who, confirmation=confirmed)
    assert (replayed.status, replayed.error_code) == (404, "challenge_not_found")


def test_another_customers_case_is_a_404_before_the_confirmation_is_spent(cases, customer):
    owner, intruder = customer(), customer()
    case = opened(cases, owner)
    confirmation = step_up_confirmation(intruder.enrolled, "call_code", case_id=case["case_id"])
    answer = new_code(cases, intruder, case["case_id"], confirmation=confirmation)
    assert (answer.status, answer.error_code) == (404, "case_not_found")
    from chalicelib.store.models import Challenge

    assert Challenge.count(f"CHALLENGE#{confirmation['challenge_id']}") == 1  # still unspent


def test_codes_are_rate_limited_per_customer(cases, customer, case_settings):
    case_settings(
        rate_limits={
            "case_write_customer": (30, 60),
            "call_code_customer": (2, 3600),
            "call_code_guesses": (20, 600),
        }
    )
    who = customer()
    assert [new_code(cases, who).status for _ in range(2)] == [201, 201]
    limited = new_code(cases, who)
    assert (limited.status, limited.error_code) == (429, "rate_limited")


def test_a_mistyped_code_is_a_validation_error_not_a_guess(agent):
    for code in ("1234", "12345678901", "abcd efgh"):
        assert agent("admin_call_code_verify", code=code)["error"]["code"] == "validation_error", code
    assert (
        agent("admin_call_code_verify", operator=None, code="12345678")["error"]["code"] == "validation_error"
    )
