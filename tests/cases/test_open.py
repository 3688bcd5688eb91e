"""Opening a case from where the customer is stuck: the server attaches the context, only the
customer's own objects, once per Idempotency-Key, at most 5 open, and only clean, bounded text."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from tests.cases.conftest import open_case, opened

VISA = "4242 4242 4242 4242"


def test_a_failed_payment_opens_a_case_carrying_the_payment_the_bill_and_the_alert(
    cases, customer, failed_payment
):
    who = customer()
    bill_id, payment_id = failed_payment(who)
    case = opened(
        cases,
        who,
        {"kind": "payment", "bill_id": bill_id, "payment_id": payment_id},
        message="Ma carte est valide, pourquoi ce refus ?",
    )
    assert case["status"] == "open" and case["topic"] == "billing"  # the topic follows the origin
    linked = case["context"]["linked"]
    assert linked["kind"] == "payment" and linked["id"] == payment_id
    assert linked["state"]["payment"]["status"] == "failed"
    assert linked["state"]["payment"]["failure"]["code"] == "card_declined"
    assert linked["state"]["bill"]["bill_id"] == bill_id and linked["state"]["bill"]["status"] == "open"
    recent = case["context"]["recent"]
    assert "billing.payment_failed" in [a["kind"] for a in recent["alerts"]]
    assert [b["bill_id"] for b in recent["bills"]] == [bill_id]
    assert any(a["type"] == "payment_failed" for a in recent["attention"])
    kinds = [(e["kind"], e["author"]["type"]) for e in case["timeline"]]
    assert kinds == [("opened", "customer"), ("linked", "system"), ("message", "customer")]
    assert case["timeline"][2]["text"] == "Ma carte est valide, pourquoi ce refus ?"
    assert case["timeline"][1]["detail"] == {"kind": "payment", "id": payment_id}


def test_a_search_with_no_answer_carries_the_search_text(cases, customer):
    who = customer()
    case = opened(
        cases,
        who,
        {"kind": "search", "search_text": "facture impayee", "search_id": "srch-42"},
        topic="billing",
    )
    assert case["context"]["search"] == {"search_text": "facture impayee", "search_id": "srch-42"}
    assert case["context"]["linked"] is None and case["topic"] == "billing"
    assert [e["kind"] for e in case["timeline"]] == ["opened", "message"]


def test_every_origin_links_its_object_as_its_owner_serves_it(
    cases, customer, with_bill, with_line, with_request, with_offer
):
    who = customer()
    bill_id = with_bill(who)
    line_id, request_id = with_request(who)
    offer_id = with_offer()
    expectations = {
        "bill": ({"kind": "bill", "bill_id": bill_id}, lambda s: s["bill"]["bill_id"] == bill_id),
        "line": ({"kind": "line", "line_id": line_id}, lambda s: s["line"]["line_id"] == line_id),
        "plan_change": (
            {"kind": "plan_change", "request_id": request_id},
            lambda s: s["status"] == "pending" and s["line_id"] == line_id,
        ),
        "bid": ({"kind": "bid", "offer_id": offer_id}, lambda s: s["offer"]["offer_id"] == offer_id),
        "article": (
            {"kind": "article", "article_id": "facture-comprendre", "voted_not_helpful": True},
            lambda s: s == {"voted_not_helpful": True},
        ),
    }
    topics = []
    for kind, (origin, check) in expectations.items():
        case = opened(cases, who, origin)
        assert case["context"]["linked"]["kind"] == kind and check(case["context"]["linked"]["state"]), case
        assert case["context"]["recent"]["requests"][0]["request_id"] == request_id
        topics.append(case["topic"])
        assert (
            cases.post(f"/me/cases/{case['case_id']}/close", {"solved": True}, token=who.token).status == 200
        )
    assert topics == ["billing", "line", "plan_change", "bidding", "other"]


def test_another_customers_object_is_a_404_and_opens_nothing(cases, customer, failed_payment, with_request):
    owner, intruder = customer(), customer()
    bill_id, payment_id = failed_payment(owner)
    line_id, request_id = with_request(owner)
    for origin, code in (
        ({"kind": "payment", "bill_id": bill_id, "payment_id": payment_id}, "bill_not_found"),
        ({"kind": "bill", "bill_id": bill_id}, "bill_not_found"),
        ({"kind": "line", "line_id": line_id}, "line_not_found"),
        ({"kind": "plan_change", "request_id": request_id}, "request_not_found"),
    ):
        answer = open_case(cases, intruder, origin)
        assert (answer.status, answer.error_code) == (404, code), (origin, answer.body)
    # A payment id of someone else's under one's own bill: still not found.
    own_bill, _ = failed_payment(intruder)
    answer = open_case(cases, intruder, {"kind": "payment", "bill_id": own_bill, "payment_id": payment_id})
    assert (answer.status, answer.error_code) == (404, "payment_not_found")
    assert cases.get("/me/cases", token=intruder.token).body["cases"] == []


def test_an_offer_the_customer_cannot_see_is_a_404(cases, customer, app_module):
    from tests.bidding.conftest import offer_event

    hidden = app_module.admin_create_offer(offer_event(eligibility={"segments": ["nobody-here"]}), None)
    answer = open_case(cases, customer(), {"kind": "bid", "offer_id": hidden["offer_id"]})
    assert (answer.status, answer.error_code) == (404, "offer_not_found")


def test_a_retried_open_answers_the_same_case_and_opens_one(cases, customer):
    who = customer()
    key = str(uuid.uuid4())
    first = open_case(cases, who, key=key, message="Bonjour")
    again = open_case(cases, who, key=key, message="Bonjour")
    assert (first.status, again.status) == (201, 200)
    assert again.body["case_id"] == first.body["case_id"]
    assert [c["case_id"] for c in cases.get("/me/cases", token=who.token).body["cases"]] == [
        first.body["case_id"]
    ]
    other = open_case(cases, who, key=key, message="Autre chose")
    assert (other.status, other.error_code) == (422, "idempotency_key_reused")


def test_concurrent_retries_with_one_key_open_one_case(cases, customer):
    """Mutation: drop the `key` condition of the opening transaction → two cases."""
    who = customer()
    key = str(uuid.uuid4())
    answers: list[Any] = []
    start = threading.Barrier(4)

    def send() -> None:
        start.wait()
        answers.append(open_case(cases, who, key=key))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status for a in answers) == [200, 200, 200, 201]
    assert len({a.body["case_id"] for a in answers}) == 1
    assert len(cases.get("/me/cases", token=who.token).body["cases"]) == 1


def test_at_most_five_open_cases_and_closing_one_frees_a_place(cases, customer):
    who = customer()
    ids = [opened(cases, who)["case_id"] for _ in range(5)]
    refused = open_case(cases, who)
    assert (refused.status, refused.error_code) == (409, "too_many_open_cases")
    assert cases.post(f"/me/cases/{ids[0]}/close", {"solved": False}, token=who.token).status == 200
    assert open_case(cases, who).status == 201
    assert open_case(cases, who).error_code == "too_many_open_cases"


def test_two_concurrent_opens_at_the_limit_exactly_one_succeeds(cases, customer):
    """Four open, two opens at once: the counter's condition lets exactly one through.
    Mutation: open with a read of the count then a write (or no condition) → both succeed."""
    who = customer()
    for _ in range(4):
        opened(cases, who)
    answers: list[Any] = []
    start = threading.Barrier(2)

    def send() -> None:
        start.wait()
        answers.append(open_case(cases, who))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status for a in answers) == [201, 409]
    assert len(cases.get("/me/cases", token=who.token).body["cases"]) == 5


def test_bad_input_is_refused_and_never_echoed(cases, customer):
    who = customer()

    def refused(body: dict[str, Any], code: str, headers: dict[str, str] | None = None) -> None:
        answer = cases.post(
            "/me/cases", body, token=who.token, headers=headers or {"Idempotency-Key": str(uuid.uuid4())}
        )
        assert (answer.status, answer.error_code) == (400, code), (body, answer.body)
        assert VISA not in str(answer.body) and "x" * 2001 not in str(answer.body)

    general = {"kind": "general"}
    refused({"origin": general, "message": "x" * 2001}, "validation_error")
    refused({"origin": general, "message": ""}, "validation_error")
    refused({"origin": general, "message": f"Ma carte {VISA} est refusée"}, "card_number_refused")
    refused({"origin": {"kind": "search", "search_text": VISA}, "message": "x"}, "card_number_refused")
    refused({"origin": general, "message": "x", "priority": "urgent"}, "validation_error")
    refused({"origin": {"kind": "general", "bill_id": "B-1"}, "message": "x"}, "validation_error")
    refused({"origin": {"kind": "teleport"}, "message": "x"}, "validation_error")
    refused({"origin": general, "message": "bell\x07"}, "validation_error")
    refused({"origin": general, "message": "x", "topic": "sales"}, "validation_error")
    refused(
        {"origin": {"kind": "payment", "bill_id": "B-1", "payment_id": "nope"}, "message": "x"},
        "validation_error",
    )
    refused({"origin": general, "message": "x"}, "idempotency_key_required", headers={"X-Other": "1"})
    refused(
        {"origin": general, "message": "x"}, "invalid_idempotency_key", headers={"Idempotency-Key": "short"}
    )
    assert cases.get("/me/cases", token=who.token).body["cases"] == []


def test_messages_follow_accept_language(cases, customer):
    who = customer()
    for _ in range(5):
        opened(cases, who)
    french = cases.post(
        "/me/cases",
        {"origin": {"kind": "general"}, "message": "x"},
        token=who.token,
        headers={"Idempotency-Key": str(uuid.uuid4()), "Accept-Language": "fr-FR,fr;q=0.9,en;q=0.8"},
    )
    english = cases.post(
        "/me/cases",
        {"origin": {"kind": "general"}, "message": "x"},
        token=who.token,
        headers={"Idempotency-Key": str(uuid.uuid4()), "Accept-Language": "en-GB,en;q=0.9"},
    )
    assert french.error_code == english.error_code == "too_many_open_cases"
    assert french.body["error"]["message"].startswith("Vous avez déjà 5 demandes")
    assert english.body["error"]["message"].startswith("You already have 5 open cases")


def test_without_a_token_or_with_an_ended_session_nothing_opens(cases, customer, api):
    who = customer()
    body = {"origin": {"kind": "general"}, "message": "x"}
    anonymous = cases.post("/me/cases", body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert (anonymous.status, anonymous.error_code) == (401, "unauthenticated")
    assert api.post("/auth/logout", token=who.token).status == 204
    ended = open_case(cases, who)
    assert (ended.status, ended.error_code) == (401, "session_revoked")


def test_text_that_is_not_unicode_is_a_400(cases, customer):
    """JSON can escape a lone surrogate (`\\ud800`), which has no UTF-8 form: the body model
    refuses it (pydantic's strict `str`) before anything is stored. Mutation: type the message as
    `object` → the case opens (201) with text no client can read back."""
    who = customer()
    answer = cases.request(
        "POST",
        "/me/cases",
        None,
        token=who.token,
        headers={"Idempotency-Key": str(uuid.uuid4())},
        raw=b'{"origin": {"kind": "general"}, "message": "caf\\ud800"}',
    )
    assert (answer.status, answer.error_code) == (400, "validation_error")
