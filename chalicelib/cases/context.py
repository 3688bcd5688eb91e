"""What a case carries from the moment it opens, attached by the server (never typed by the
customer): the object the customer was looking at, in its state then, and what happened lately
(alerts, requests, bills, what needs attention). Every read goes through the capability that owns
the object, with the caller's id: another customer's object is that capability's 404."""

from __future__ import annotations

from typing import Any

from chalicelib.account import plan_change, views
from chalicelib.bidding import offers
from chalicelib.billing import bills
from chalicelib.cases import schemas
from chalicelib.cases.messages import text
from chalicelib.common.clock import iso, iso_ms, now
from chalicelib.errors import NotFound
from chalicelib.notifications import inbox

RECENT_ALERTS = 5
RECENT_REQUESTS = 5
RECENT_BILLS = 3


def collect(customer_id: str, origin: Any) -> dict[str, Any]:
    """The context of a case opened from `origin` (a schemas.*Origin)."""
    requests = plan_change.list_requests(customer_id=customer_id)
    linked = _linked(customer_id, origin, requests)
    recent = {
        "alerts": [
            {k: alert[k] for k in ("id", "kind", "title", "created_at", "deep_link")}
            for alert in inbox.list_inbox(customer_id=customer_id, cursor=None, limit=RECENT_ALERTS)["items"]
        ],
        "requests": [_request(r) for r in requests[:RECENT_REQUESTS]],
        "bills": [
            {k: bill[k] for k in ("bill_id", "status", "due_date", "total", "balance")}
            for bill in bills.list_bills(
                customer_id=customer_id, status=None, cursor=None, limit=RECENT_BILLS
            )["bills"]
        ],
        "attention": views.get_me(customer_id=customer_id)["attention"],
    }
    search = (
        {"search_text": origin.search_text, "search_id": origin.search_id}
        if origin.kind == "search"
        else None
    )
    return {"collected_at": iso(now()), "linked": linked, "search": search, "recent": recent}


def _request(item: dict[str, Any]) -> dict[str, Any]:
    return {
        k: item[k]
        for k in ("request_id", "kind", "line_id", "status", "reason", "effective_date", "created_at")
    }


def _linked(customer_id: str, origin: Any, requests: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The object the case is about, as its owner serves it to the customer."""
    if isinstance(origin, schemas.PaymentOrigin):
        bill, payments = bills.get_bill(customer_id=customer_id, bill_id=origin.bill_id)
        payment = next((p for p in payments if p.payment_id == origin.payment_id), None)
        if payment is None:
            raise NotFound(text("payment_not_found"), code="payment_not_found")
        return {
            "kind": "payment",
            "id": origin.payment_id,
            "state": {"payment": bills.payment_to_wire(payment), "bill": bills.bill_to_wire(bill)},
        }
    if isinstance(origin, schemas.BillOrigin):
        bill, payments = bills.get_bill(customer_id=customer_id, bill_id=origin.bill_id)
        return {
            "kind": "bill",
            "id": origin.bill_id,
            "state": {
                "bill": bills.bill_to_wire(bill),
                "payments": [bills.payment_to_wire(p) for p in sorted(payments, key=lambda p: p.created_at)],
            },
        }
    if isinstance(origin, schemas.BidOrigin):
        offer, _, bid = offers.visible_offer(customer_id, origin.offer_id)
        return {
            "kind": "bid",
            "id": origin.offer_id,
            "state": {
                "offer": offers.offer_to_wire(offer, iso_ms(now())),
                "my_bid": offers.bid_to_wire(bid) if bid is not None else None,
                "outcome": offers.outcome_of(offer, bid),
            },
        }
    if isinstance(origin, schemas.PlanChangeOrigin):
        found = next((r for r in requests if r["request_id"] == origin.request_id), None)
        if found is None:
            raise NotFound(text("request_not_found"), code="request_not_found")
        return {"kind": "plan_change", "id": origin.request_id, "state": found}
    if isinstance(origin, schemas.LineOrigin):
        line = views.line_view(customer_id=customer_id, line_id=origin.line_id)
        usage = views.usage_view(customer_id=customer_id, line_id=origin.line_id)
        return {"kind": "line", "id": origin.line_id, "state": {"line": line, "usage": usage}}
    if isinstance(origin, schemas.ArticleOrigin):
        return {
            "kind": "article",
            "id": origin.article_id,
            "state": {"voted_not_helpful": origin.voted_not_helpful},
        }
    return None  # search, general: nothing to link (the search text is kept apart)
