"""`make demo`'s help and cases steps (issue 14), run by devtools/demo.py before the sign-out.

The customer finds the unpaid-bill article (its action is to pay their own bill, in euros written
the French way), reads it and votes; a card is declined and the app shows the help for that error;
a search finds nothing and the customer opens a case from it; an agent reads the case with its
context in one read and replies (a push and an inbox item); the customer gets a call code, the
agent enters it once; the admin report names the search that found nothing.

The agents' and the admin's steps are the console functions, called in-process as `make invoke`
would. What a step should show is checked: a mismatch is printed and the demo ends with status 1.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import requests

from devtools.demo import print_step, show, show_admin
from devtools.demo_journey import Journey
from devtools.soft_authenticator import SoftAuthenticator

FOUND = "facture impayee"
NOT_FOUND = "remboursement en bitcoin"
UNPAID_ARTICLE = "payer-facture-impayee"
OPERATOR = "camille.n2"
INBOX_WAIT_S = 15.0  # the stream poller pushes within a few seconds


@dataclass(kw_only=True)
class HelpJourney(Journey):
    customer_number: str
    customer_id: str

    def confirmation(self, action: str, **params: Any) -> dict[str, Any]:
        """The step-up of one change: the challenge for exactly it, signed by the passkey."""
        started = self.post("/me/step-up", {"action": action, **params}).json()
        return {"challenge_id": started["challenge_id"], "credential": self.phone.get(started["options"])}


def run(
    *,
    api: str,
    http: requests.Session,
    app: Any,
    bearer: dict[str, str],
    phone: SoftAuthenticator,
    customer_number: str,
    customer_id: str,
    first_step: int,
) -> tuple[int, list[str]]:
    """The help and cases journey; the next step number and what did not go as expected."""
    journey = HelpJourney(
        api=api,
        http=http,
        app=app,
        bearer=bearer,
        phone=phone,
        customer_number=customer_number,
        customer_id=customer_id,
        steps=itertools.count(first_step),
    )
    bill_id, amount = _new_bill(journey)
    _search_and_read(journey, bill_id)
    _declined_payment(journey, bill_id, amount)
    case_id = _case_from_nothing_found(journey)
    _agent_replies(journey, case_id)
    _call_code(journey, case_id)
    _report(journey)
    return next(journey.steps), journey.problems


# --- 1. help that acts ---------------------------------------------------------------------------------


def _new_bill(journey: HelpJourney) -> tuple[str, int]:
    bill_id = f"B-HELP-{int(time.time())}"
    amount = 4200
    show_admin(
        journey.step("The billing system sends another bill, 42.00 EUR, not paid yet"),
        "import_bills",
        journey.app.import_bills(
            {
                "bills": [
                    {
                        "bill_id": bill_id,
                        "customer_number": journey.customer_number,
                        "period": {"start": "2026-11-01", "end": "2026-11-30"},
                        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "due_date": "2027-01-15",
                        "currency": "EUR",
                        "items": [{"label": "Forfait Premium 100 Go", "amount": 3500, "tax": 700}],
                        "total": amount,
                    }
                ]
            },
            None,
        ),
    )
    return bill_id, amount


def _hit_view(hit: dict[str, Any]) -> dict[str, Any]:
    return {
        "article_id": hit["article_id"],
        "title": hit["title"],
        "actions": [f"{a['label']} -> {a['deep_link']}" for a in hit["actions"]],
    }


def _money(amount: dict[str, Any]) -> str:
    return f"{amount['amount']} {amount['currency']}"


def _search_and_read(journey: HelpJourney, bill_id: str) -> None:
    response = journey.get(f"/help/search?{urlencode({'q': FOUND})}")
    found = response.json()
    results = found.get("results", [])
    print_step(
        journey.step(f"The customer searches « {FOUND} » (no accent): the unpaid-bill article first"),
        f"GET {response.request.path_url} -> {response.status_code}",
        {
            "search_id": found.get("search_id"),
            "personalised": found.get("personalised"),
            "results": [_hit_view(hit) for hit in results[:2]],
            "more results": [hit["article_id"] for hit in results[2:]],
        },
        (),
    )
    first = results[0] if results else {}
    journey.expect(first.get("article_id") == UNPAID_ARTICLE, f"{UNPAID_ARTICLE} as the first result")
    pay: dict[str, Any] = next((a for a in first.get("actions", []) if a["type"] == "pay_bill"), {})
    journey.expect(
        pay.get("params", {}).get("bill_id") == bill_id and "42,00\u00a0€" in pay.get("label", ""),
        f"an action paying {bill_id}, labelled with « 42,00 € » (fr-FR)",
    )
    article = show(
        journey.step("The customer opens it (from_search: the report counts the search as answered)"),
        journey.get(f"/help/articles/{UNPAID_ARTICLE}?{urlencode({'from_search': found.get('search_id')})}"),
        ("title", "body", "usefulness"),
    )
    show(
        journey.step("It helped: the customer says so (once per customer and article version)"),
        journey.post(
            f"/help/articles/{UNPAID_ARTICLE}/votes", {"helpful": True, "version": article.get("version")}
        ),
        ("helpful", "usefulness"),
    )


# --- 2. a declined payment ------------------------------------------------------------------------------


def _declined_payment(journey: HelpJourney, bill_id: str, amount: int) -> None:
    token = "tok_card_declined"  # the sandbox gateway declines every charge on this card
    card = show(
        journey.step("The customer adds another card (confirmed with Face ID); its bank will say no"),
        journey.post(
            "/me/payment-methods",
            {
                "provider_token": token,
                "label": "Carte pro",
                "confirmation": journey.confirmation("payment_method.add", provider_token=token),
            },
        ),
        ("payment_method_id", "brand", "last4"),
    )
    method_id = card["payment_method_id"]
    challenge = journey.post(
        f"/bills/{bill_id}/payments/challenge", {"amount": amount, "payment_method_id": method_id}
    ).json()
    declined = show(
        journey.step("Paying the 42.00 EUR bill with it: Face ID confirms, the bank declines"),
        journey.post(
            f"/bills/{bill_id}/payments",
            {
                "amount": amount,
                "payment_method_id": method_id,
                "challenge_id": challenge["challenge_id"],
                "credential": journey.phone.get(challenge["options"]),
            },
            headers={"Idempotency-Key": f"demo-declined-{int(time.time())}"},
        ),
    )
    code = declined.get("error", {}).get("code", "")
    journey.expect(code == "card_declined", "402 card_declined")
    # The error names no article itself: the app asks for the help of the error's situation.
    response = journey.get(f"/help/situations/{quote(code or 'payment_failed')}")
    situation = response.json()
    print_step(
        journey.step("The app's « Besoin d'aide ? » under the error: the articles for that situation"),
        f"GET {response.request.path_url} -> {response.status_code}",
        {
            "situation": situation.get("situation"),
            "articles": [_hit_view(hit) for hit in situation.get("articles", [])],
        },
        (),
    )
    journey.expect(
        any(hit["article_id"] == "paiement-refuse" for hit in situation.get("articles", [])),
        "the paiement-refuse article for a declined card",
    )


# --- 3. nothing found: a case ---------------------------------------------------------------------------


def _case_from_nothing_found(journey: HelpJourney) -> str:
    response = journey.get(f"/help/search?{urlencode({'q': NOT_FOUND})}")
    nothing = show(
        journey.step(f"The customer searches « {NOT_FOUND} »: nothing, and the way to an adviser"),
        response,
        ("search_id", "results", "fallback_actions"),
    )
    journey.expect(response.status_code == 200 and nothing.get("results") == [], "no result")
    search_id = nothing.get("search_id")
    origin: dict[str, Any] = {"kind": "search", "search_text": NOT_FOUND}
    if search_id:
        origin["search_id"] = search_id
    opened = show(
        journey.step("The customer opens a case from that search (the server attaches the context)"),
        journey.post(
            "/me/cases",
            {
                "origin": origin,
                "topic": "billing",
                "message": "Puis-je être remboursé en bitcoin ? Et ma carte pro vient d'être refusée.",
            },
            headers={"Idempotency-Key": f"demo-case-{int(time.time())}"},
        ),
        ("case_id", "status", "topic", "origin"),
    )
    case_id = str(opened["case_id"])
    response = journey.get(f"/me/cases/{case_id}")
    case = response.json()
    context = case.get("context") or {}
    recent = context.get("recent", {})
    print_step(
        journey.step("The case as the customer sees it: the search it came from, the failed payment"),
        f"GET {response.request.path_url} -> {response.status_code}",
        {
            "status": case.get("status"),
            "context": {
                "search": context.get("search"),
                "recent": {
                    "attention": [
                        " ".join(str(n[k]) for k in ("type", "bill_id", "line_id", "message") if k in n)
                        for n in recent.get("attention", [])
                    ],
                    "bills": [
                        f"{b['bill_id']} {b['status']}, balance {_money(b['balance'])}"
                        for b in recent.get("bills", [])
                    ],
                    "alerts": [a["kind"] for a in recent.get("alerts", [])],
                },
            },
            "timeline": [(e["kind"], e["author"]["type"], e.get("text")) for e in case.get("timeline", [])],
        },
        (),
    )
    journey.expect((context.get("search") or {}).get("search_text") == NOT_FOUND, "the search in the context")
    journey.expect(
        any(n.get("type") == "payment_failed" for n in recent.get("attention", [])),
        "the failed payment in the context (attention payment_failed)",
    )
    return case_id


# --- 4. the agent --------------------------------------------------------------------------------------------


def _agent_replies(journey: HelpJourney, case_id: str) -> None:
    queue = journey.app.admin_case_list({"topic": "billing", "status": "open", "limit": 200}, None)
    ours = [c for c in queue.get("cases", []) if c["case_id"] == case_id]
    print_step(
        journey.step("An agent's queue (console): open billing cases, oldest first"),
        f"admin function admin_case_list -> {'error' if 'error' in queue else 'ok'}",
        {"listed": len(queue.get("cases", [])), "by_topic": queue.get("by_topic"), "this case": ours},
        (),
    )
    journey.expect(bool(ours) or bool(queue.get("more")), "the new case in the billing queue")
    ref = {"customer_id": journey.customer_id, "case_id": case_id}
    context = journey.app.admin_case_context(ref, None)
    print_step(
        journey.step("The agent opens it: the case and the whole customer, in one read"),
        f"admin function admin_case_context -> {'error' if 'error' in context else 'ok'}",
        {
            "case": {k: (context.get("case") or {}).get(k) for k in ("case_id", "status", "topic", "origin")},
            "customer": {k: context.get("customer", {}).get(k) for k in ("customer_number", "name")},
            "searches": context.get("searches"),
            "bills": {
                b["bill_id"]: [
                    f"{b['status']}, balance {_money(b['balance'])}",
                    *(
                        f"payment {_money(p['amount'])} {p['status']}"
                        + (f" ({p['failure']['code']})" if p.get("failure") else "")
                        for p in b.get("payments", [])
                    ),
                ]
                for b in context.get("bills", [])
            },
            "attention": [
                f"{n['kind']} {n.get('bill_id') or ''}".strip() for n in context.get("attention", [])
            ],
            "payment_methods": [f"{m['brand']} {m['last4']}" for m in context.get("payment_methods", [])],
            "lines": [line.get("line_id") for line in context.get("lines", [])],
            "alerts": [a["kind"] for a in context.get("alerts", [])][:6],
            "requests": [r.get("kind") for r in context.get("requests", [])],
            "counts": context.get("counts"),
        },
        (),
    )
    failed = [
        p
        for b in context.get("bills", [])
        for p in b.get("payments", [])
        if (p.get("failure") or {}).get("code") == "card_declined"
    ]
    journey.expect(bool(failed), "the declined payment (card_declined) among the agent's bills")
    reply = journey.app.admin_case_reply(
        {
            **ref,
            "message": "Bonjour, nous ne remboursons pas en bitcoin, seulement sur votre carte. Votre banque a "
            "refusé la carte pro : payez la facture avec votre carte Visa, en un geste.",
            "operator": OPERATOR,
        },
        None,
    )
    print_step(
        journey.step("The agent replies (console): the customer's turn, told by a push and the inbox"),
        f"admin function admin_case_reply -> {'error' if 'error' in reply else 'ok'}",
        {
            "notified": reply.get("notified"),
            "case": {k: reply.get("case", {}).get(k) for k in ("status", "awaiting")},
            **({"error": reply["error"]} if "error" in reply else {}),
        },
        (),
    )
    journey.expect(reply.get("notified") is True, "notified: true (an inbox item and its push)")
    item = _wait_for_reply(journey, case_id)
    journey.expect(item is not None, f"a case.replied item in the inbox within {INBOX_WAIT_S:.0f} s")
    if item is not None:
        status = _push_status(journey, item["id"])
        print(
            f"   The push: delivery {status!r} (the console sender prints it in `make run`'s output:"
            ' "PUSH (console sender, not sent) ..."; "deferred" during the quiet hours set above)'
        )


def _wait_for_reply(journey: HelpJourney, case_id: str) -> dict[str, Any] | None:
    deadline = time.monotonic() + INBOX_WAIT_S
    while True:
        response = journey.get("/me/inbox?limit=5")
        items = response.json().get("items", [])
        item = next(
            (i for i in items if i["kind"] == "case.replied" and i["data"].get("case_id") == case_id), None
        )
        if item is not None or time.monotonic() > deadline:
            print_step(
                journey.step(
                    "The inbox: the reply's item opens the case (the agent's words are in the case)"
                ),
                f"GET {response.request.path_url} -> {response.status_code}",
                {"items": [{k: i[k] for k in ("kind", "title", "body", "deep_link")} for i in items[:2]]},
                (),
            )
            return item
        time.sleep(1)


def _push_status(journey: HelpJourney, alert_id: str) -> str:
    """How the stream worker delivered the item (read from the table, as a developer would look)."""
    from chalicelib.store.models import InboxItem, customer_pk

    deadline = time.monotonic() + INBOX_WAIT_S
    status = "pending"
    while time.monotonic() < deadline:
        status = InboxItem.get(
            customer_pk(journey.customer_id), f"INBOX#{alert_id}", consistent_read=True
        ).delivery_status
        if status not in ("pending", "sending"):
            break
        time.sleep(1)
    return status


# --- 5. the phone: a call code ---------------------------------------------------------------------------


def _call_code(journey: HelpJourney, case_id: str) -> None:
    issued = show(
        journey.step("The customer would rather call: Face ID, then a one-use code bound to the case"),
        journey.post(
            "/me/call-codes",
            {"case_id": case_id, "confirmation": journey.confirmation("call_code", case_id=case_id)},
        ),
        ("code", "display", "case_id", "expires_at"),
    )
    display = str(issued.get("display", ""))
    event = {"code": display, "operator": OPERATOR}
    verified = journey.app.admin_call_code_verify(event, None)
    print_step(
        journey.step(f"The agent types the code read out, « {display} » (console): straight to the case"),
        f"admin function admin_call_code_verify -> {'error' if 'error' in verified else 'ok'}",
        {
            **{
                k: verified.get(k)
                for k in ("verified", "customer_number", "name", "case_id", "bound_to", "error")
                if k in verified
            },
            "context": {
                "case status": ((verified.get("context") or {}).get("case") or {}).get("status"),
                "searches": (verified.get("context") or {}).get("searches"),
            },
        },
        (),
    )
    journey.expect(verified.get("case_id") == case_id, "the agent lands on the open case")
    again = show_admin(
        journey.step("The same code a second time: refused (single use)"),
        "admin_call_code_verify",
        journey.app.admin_call_code_verify(event, None),
    )
    journey.expect(again.get("error", {}).get("code") == "call_code_invalid", "call_code_invalid")
    response = journey.get(f"/me/cases/{case_id}")
    print_step(
        journey.step("The case's timeline now holds the call"),
        f"GET {response.request.path_url} -> {response.status_code}",
        [(e["kind"], e["author"]["type"], e.get("reason")) for e in response.json().get("timeline", [])],
        (),
    )
    show(
        journey.step("Did this solve it? Yes: the customer closes the case (it leaves the agents' queue)"),
        journey.post(
            f"/me/cases/{case_id}/close", {"solved": True, "comment": "Merci, réglé par téléphone."}
        ),
        ("status", "feedback"),
    )


# --- 6. the report -----------------------------------------------------------------------------------------


def _report(journey: HelpJourney) -> None:
    today = datetime.now(UTC).date().isoformat()
    report = journey.app.admin_help_report(
        {"from": today, "to": today, "limit": 100, "operator": "Camille (support)"}, None
    )
    unanswered = report.get("searches_without_answer", [])
    ours = [r for r in unanswered if r["query"] == NOT_FOUND]
    print_step(
        journey.step(f"The admin report for today ({today}): what people search and do not find"),
        f"admin function admin_help_report -> {'error' if 'error' in report else 'ok'}",
        {
            "totals": report.get("totals"),
            "searches_without_answer (first 5)": unanswered[:5],
            f"« {NOT_FOUND} »": ours,
            "top_searches (first 3)": report.get("top_searches", [])[:3],
            "case_topics": report.get("case_topics"),
            **({"error": report["error"]} if "error" in report else {}),
        },
        (),
    )
    journey.expect(bool(ours), f"« {NOT_FOUND} » among the searches without an answer")
