"""Agents work from the console: the queue by age and topic, the whole context of a case and its
customer in one read, replies that reach the customer as a push and an inbox item, requests for a
document, resolving with a reason; every step in the timeline with its author."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from tests.cases.conftest import PNG, open_case, opened, random_case_id, upload
from tests.support.push_contract import validate_push


def test_the_queue_lists_open_cases_by_topic_oldest_first(cases, customer, agent):
    who, other = customer(), customer()
    billing_old = opened(cases, who, topic="billing")
    usage = opened(cases, other, topic="usage")
    billing_new = opened(cases, other, topic="billing")
    done = opened(cases, who, topic="billing")
    agent("admin_case_resolve", customer_id=who.id, case_id=done["case_id"], reason="Fait.")
    agent("admin_case_reply", customer_id=other.id, case_id=billing_new["case_id"], message="Une précision ?")

    listed = agent("admin_case_list", operator=None, topic="billing", limit=200)
    ours = [
        c
        for c in listed["cases"]
        if c["case_id"] in {billing_old["case_id"], billing_new["case_id"], done["case_id"]}
    ]
    assert [(c["case_id"], c["status"]) for c in ours] == [
        (billing_old["case_id"], "open"),
        (billing_new["case_id"], "awaiting_customer"),
    ]  # oldest first; the resolved one left the queue
    assert ours[0]["customer_id"] == who.id and ours[0]["age_minutes"] >= 0
    assert all(c["topic"] == "billing" for c in listed["cases"])
    waiting = agent("admin_case_list", operator=None, topic="billing", status="open", limit=200)
    assert billing_new["case_id"] not in {c["case_id"] for c in waiting["cases"]}
    everything = agent("admin_case_list", operator=None, limit=200)
    ids = [c["case_id"] for c in everything["cases"]]
    assert usage["case_id"] in ids and billing_old["case_id"] in ids
    assert everything["cases"] == sorted(everything["cases"], key=lambda c: (c["opened_at"], c["case_id"]))
    assert everything["by_topic"]["usage"] >= 1
    assert agent("admin_case_list", operator=None, topic="sales")["error"]["code"] == "validation_error"


def test_the_agent_reads_the_case_and_the_customer_in_one_query(
    cases, customer, agent, failed_payment, with_request, api, app_module
):
    """Mutation: read the case with its own Query, or follow the profile with a GetItem → 2 calls."""
    from bench.common import calls, count_dynamodb_calls

    who = customer()
    bill_id, payment_id = failed_payment(who)
    line_id, request_id = with_request(who)
    earlier = opened(cases, who, {"kind": "search", "search_text": "résilier sans frais"})
    case = opened(
        cases, who, {"kind": "payment", "bill_id": bill_id, "payment_id": payment_id}, message="Refusé ?"
    )
    form = cases.post(
        f"/me/cases/{case['case_id']}/documents/upload", {"content_type": "image/png"}, token=who.token
    ).body
    assert upload(form, PNG).status_code == 204
    cases.post(f"/me/cases/{case['case_id']}/documents", {"upload_id": form["upload_id"]}, token=who.token)
    agent("admin_case_reply", customer_id=who.id, case_id=case["case_id"], message="Je regarde.")

    count_dynamodb_calls()
    with calls() as seen:
        context = agent("admin_case_context", operator=None, customer_id=who.id, case_id=case["case_id"])
    assert dict(seen) == {"Query": 1}, dict(seen)

    assert "error" not in context, context
    assert (
        context["customer"]["customer_id"] == who.id and context["customer"]["customer_number"] == who.number
    )
    assert [line["line_id"] for line in context["lines"]] == [line_id]
    [bill] = context["bills"]
    assert bill["bill_id"] == bill_id and [p["payment_id"] for p in bill["payments"]] == [payment_id]
    assert bill["payments"][0]["status"] == "failed"
    assert [r["request_id"] for r in context["requests"]] == [request_id]
    kinds = {a["kind"] for a in context["alerts"]}
    assert {"billing.payment_failed", "case.replied"} <= kinds
    assert any(n["kind"] == "payment_failed" for n in context["attention"])
    assert [c["case_id"] for c in context["other_cases"]] == [earlier["case_id"]]
    assert context["searches"] == [
        {"case_id": earlier["case_id"], "search_text": "résilier sans frais", "at": earlier["opened_at"]}
    ]
    assert context["counts"]["open_cases"] == 2
    the_case = context["case"]
    assert the_case["case_id"] == case["case_id"] and the_case["customer_id"] == who.id
    assert the_case["context"]["linked"]["state"]["payment"]["status"] == "failed"
    authors = [(e["kind"], e["author"]) for e in the_case["timeline"]]
    assert authors == [
        ("opened", {"type": "customer"}),
        ("linked", {"type": "system"}),
        ("message", {"type": "customer"}),
        ("document", {"type": "customer"}),
        ("message", {"type": "agent", "operator": "camille.n2"}),
    ]
    [document] = the_case["documents"]
    import requests

    downloaded = requests.get(document["download_url"], timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == PNG
    assert "fcm_token" not in str(context) and "IDEMP#" not in str(context)


def test_a_reply_reaches_the_customer_as_a_push_and_an_inbox_item_that_opens_the_case(
    cases, customer, agent, api, stream, fcm
):
    who = customer()
    installation, token = "fid" + secrets.token_hex(8), "fcm-" + secrets.token_hex(16)
    registered = api.put(
        f"/me/devices/{installation}",
        {"fcm_token": token, "platform": "ios", "app_version": "3.4.0", "locale": "fr-FR"},
        token=who.token,
    )
    assert registered.status == 200, registered.body
    case = opened(cases, who)
    stream.drain()
    fcm.reset()
    replied = agent(
        "admin_case_reply",
        customer_id=who.id,
        case_id=case["case_id"],
        message="Votre remboursement part demain.",
    )
    assert replied["notified"] is True and replied["case"]["status"] == "awaiting_customer"
    event_id = replied["case"]["timeline"][-1]["event_id"]
    stream.drain()
    [push] = fcm.delivered_to(token)
    validate_push(push)
    assert push["data"]["kind"] == "case.replied" and push["data"]["case_id"] == case["case_id"]
    assert push["data"]["event_id"] == event_id and push["data"]["status"] == "awaiting_customer"
    assert push["data"]["deep_link"] == f"selfcare://cases/{case['case_id']}"
    assert "remboursement" not in str(push)  # the agent's words are read in the app, not on the lock screen
    items = api.get("/me/inbox", token=who.token).body["items"]
    assert (
        items[0]["kind"] == "case.replied" and items[0]["deep_link"] == f"selfcare://cases/{case['case_id']}"
    )
    assert items[0]["body"] == "Un conseiller a répondu à votre demande."


def test_asking_for_a_document_and_resolving_are_steps_with_their_author(cases, customer, agent):
    who = customer()
    case = opened(cases, who)
    asked = agent(
        "admin_case_request_document",
        operator="sam@example.com",
        customer_id=who.id,
        case_id=case["case_id"],
        what="Une photo du courrier de relance",
    )
    assert (asked["case"]["status"], asked["case"]["awaiting"]) == ("awaiting_customer", "document")
    step = asked["case"]["timeline"][-1]
    assert (step["kind"], step["text"], step["author"]) == (
        "document_requested",
        "Une photo du courrier de relance",
        {"type": "agent", "operator": "sam@example.com"},
    )
    resolved = agent(
        "admin_case_resolve", customer_id=who.id, case_id=case["case_id"], reason="Relance annulée."
    )
    step = resolved["case"]["timeline"][-1]
    assert (step["kind"], step["status"], step["reason"]) == ("status", "resolved", "Relance annulée.")
    assert resolved["case"]["resolution"]["reason"] == "Relance annulée."
    seen = cases.get(f"/me/cases/{case['case_id']}", token=who.token).body
    assert [(e["kind"], e["author"]) for e in seen["timeline"][-2:]] == [
        ("document_requested", {"type": "agent"}),
        ("status", {"type": "agent"}),
    ]
    again = agent("admin_case_resolve", customer_id=who.id, case_id=case["case_id"], reason="Encore.")
    assert again["error"]["code"] == "case_not_resolvable"
    late = agent("admin_case_reply", customer_id=who.id, case_id=case["case_id"], message="?")
    assert late["error"]["code"] == "case_not_resolvable"


def test_every_change_names_its_operator_and_foreign_ids_are_not_found(cases, customer, agent):
    who, other = customer(), customer()
    case = opened(cases, who)
    anonymous = agent(
        "admin_case_reply", operator=None, customer_id=who.id, case_id=case["case_id"], message="x"
    )
    assert anonymous["error"]["code"] == "validation_error" and "operator" in anonymous["error"]["message"]
    wrong_customer = agent("admin_case_reply", customer_id=other.id, case_id=case["case_id"], message="x")
    assert wrong_customer["error"]["code"] == "case_not_found"
    unknown = agent("admin_case_context", operator=None, customer_id=who.id, case_id=random_case_id())
    assert unknown["error"]["code"] == "case_not_found"
    carded = agent(
        "admin_case_reply", customer_id=who.id, case_id=case["case_id"], message="4242 4242 4242 4242"
    )
    assert carded["error"]["code"] == "card_number_refused"
    assert "4242" not in str(carded)
    extra = agent("admin_case_reply", customer_id=who.id, case_id=case["case_id"], message="x", urgent=True)
    assert extra["error"]["code"] == "validation_error"
    timeline = cases.get(f"/me/cases/{case['case_id']}", token=who.token).body["timeline"]
    assert [e["kind"] for e in timeline] == ["opened", "message"]  # none of these wrote anything


def test_resolving_frees_a_place_for_a_new_case(cases, customer, agent):
    who = customer()
    ids = [opened(cases, who)["case_id"] for _ in range(5)]
    assert open_case(cases, who).error_code == "too_many_open_cases"
    agent("admin_case_resolve", customer_id=who.id, case_id=ids[2], reason="Réglé.")
    assert open_case(cases, who).status == 201


def test_a_notification_failure_keeps_the_reply(cases, customer, agent, monkeypatch):
    """The reply is in the timeline before the customer is told; if telling fails, the agent sees
    `notified: false`, not an error that would make them reply twice."""
    from chalicelib.notifications import catalog

    who = customer()
    case = opened(cases, who)
    monkeypatch.delitem(catalog.KINDS, "case.replied")
    replied = agent("admin_case_reply", customer_id=who.id, case_id=case["case_id"], message="Bonjour")
    assert replied["notified"] is False
    assert replied["case"]["timeline"][-1]["text"] == "Bonjour"


def test_age_is_counted_from_the_opening(cases, customer, agent, monkeypatch):
    from chalicelib.cases import service

    who = customer()
    case = opened(cases, who, topic="technical")
    later = datetime.now(UTC) + timedelta(hours=2)
    monkeypatch.setattr(service, "now", lambda: later)
    listed = agent("admin_case_list", operator=None, topic="technical", limit=200)["cases"]
    mine = next(c for c in listed if c["case_id"] == case["case_id"])
    assert 119 <= mine["age_minutes"] <= 121


def test_items_of_other_kinds_in_the_customers_partition_never_break_the_context(cases, customer, agent):
    """Another capability's item in the range (one this process may not even know) neither breaks
    the context nor shows in it: the answer is built from the types it reads, and the Query's filter
    drops the others before they leave DynamoDB (the filter only saves transfer: removing it changes
    no answer, which is why no test can tell)."""
    import os

    import boto3

    who = customer()
    case = opened(cases, who)
    table = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    table.put_item(
        TableName=os.environ["APP_TABLE_NAME"],
        Item={
            "PK": {"S": f"CUSTOMER#{who.id}"},
            "SK": {"S": "FUTURE#1"},
            "type": {"S": "a_kind_from_the_future"},
            "secret": {"S": "not for agents"},
        },
    )
    context = agent("admin_case_context", operator=None, customer_id=who.id, case_id=case["case_id"])
    assert "error" not in context, context
    assert context["case"]["case_id"] == case["case_id"] and "not for agents" not in str(context)
