"""Request bodies, query strings and admin events of cases: allow-lists (unknown fields refused,
strings stripped, free text bounded, no control characters; card numbers are refused before any
model sees a body or an event)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from chalicelib.account.schemas import LINE_ID
from chalicelib.bidding.schemas import OFFER_ID
from chalicelib.billing.schemas import BILL_ID
from chalicelib.common.strict import JsonInt, Strict

CASE_ID = r"cas_[0-9a-f]{24}"
UPLOAD_ID = r"upl_[0-9a-f]{24}"
CUSTOMER_ID = r"cus_[0-9a-f]{24}"
PAYMENT_ID = r"pay_[0-9a-f]{24}"
REQUEST_ID = r"req_[0-9a-f]{20}"
HELP_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,80}"  # ids of the help capability (articles, searches)
IDEMPOTENCY_KEY = r"[A-Za-z0-9_:.-]{8,128}"

MAX_MESSAGE = 2000
MAX_COMMENT = 1000
MAX_SEARCH = 200

TOPICS = ("billing", "usage", "line", "plan_change", "bidding", "account", "technical", "other")
Topic = Literal["billing", "usage", "line", "plan_change", "bidding", "account", "technical", "other"]
STATUSES = ("open", "awaiting_customer", "resolved", "closed")
Status = Literal["open", "awaiting_customer", "resolved", "closed"]
CONTENT_TYPES = ("image/jpeg", "image/png", "application/pdf")
ContentType = Literal["image/jpeg", "image/png", "application/pdf"]

# Anything below a space but a tab and line breaks (and DEL): never stored, never shown to an agent.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


Text = Annotated[str, AfterValidator(_printable)]


# --- where the customer is stuck --------------------------------------------------------------------


class SearchOrigin(Strict):
    kind: Literal["search"]
    search_text: Text = Field(min_length=1, max_length=MAX_SEARCH, description="What the customer typed")
    search_id: str | None = Field(default=None, pattern=f"^{HELP_ID}$")


class ArticleOrigin(Strict):
    kind: Literal["article"]
    article_id: str = Field(pattern=f"^{HELP_ID}$")
    voted_not_helpful: bool = False


class PaymentOrigin(Strict):
    kind: Literal["payment"]
    bill_id: str = Field(pattern=f"^{BILL_ID}$")
    payment_id: str = Field(pattern=f"^{PAYMENT_ID}$")


class BillOrigin(Strict):
    kind: Literal["bill"]
    bill_id: str = Field(pattern=f"^{BILL_ID}$")


class BidOrigin(Strict):
    kind: Literal["bid"]
    offer_id: str = Field(pattern=f"^{OFFER_ID}$")


class PlanChangeOrigin(Strict):
    kind: Literal["plan_change"]
    request_id: str = Field(pattern=f"^{REQUEST_ID}$")


class LineOrigin(Strict):
    kind: Literal["line"]
    line_id: str = Field(pattern=f"^{LINE_ID}$")


class GeneralOrigin(Strict):
    kind: Literal["general"]


Origin = Annotated[
    SearchOrigin
    | ArticleOrigin
    | PaymentOrigin
    | BillOrigin
    | BidOrigin
    | PlanChangeOrigin
    | LineOrigin
    | GeneralOrigin,
    Field(discriminator="kind"),
]

DEFAULT_TOPIC: dict[str, str] = {
    "payment": "billing",
    "bill": "billing",
    "bid": "bidding",
    "plan_change": "plan_change",
    "line": "line",
}


# --- the customer's bodies and queries ------------------------------------------------------------------


class OpenCaseBody(Strict):
    origin: Origin
    topic: Topic | None = None
    message: Text = Field(min_length=1, max_length=MAX_MESSAGE)


class MessageBody(Strict):
    message: Text = Field(min_length=1, max_length=MAX_MESSAGE)


class CloseBody(Strict):
    solved: bool
    comment: Text | None = Field(default=None, min_length=1, max_length=MAX_COMMENT)


class UploadBody(Strict):
    content_type: ContentType
    file_name: Text | None = Field(default=None, min_length=1, max_length=120, pattern=r"^[^/\\]+$")


class AttachBody(Strict):
    upload_id: str = Field(pattern=f"^{UPLOAD_ID}$")


class CasesQuery(Strict):
    status: Status | None = None
    cursor: str | None = Field(default=None, max_length=1024)
    limit: int | None = Field(default=None, ge=1, le=50)


class CallCodeBody(Strict):
    """Without the confirmation (the edge adds it): the case the code is bound to, if any."""

    case_id: str | None = Field(default=None, pattern=f"^{CASE_ID}$")


# --- the agents' console events -----------------------------------------------------------------------------


class CaseListEvent(Strict):
    topic: Topic | None = Field(default=None, description="One topic; all of them when left out")
    status: Literal["open", "awaiting_customer"] | None = Field(
        default=None, description="open: the agents' turn; awaiting_customer: the customer's"
    )
    limit: JsonInt = Field(default=50, ge=1, le=200)


class CaseRefEvent(Strict):
    customer_id: str = Field(pattern=f"^{CUSTOMER_ID}$")
    case_id: str = Field(pattern=f"^{CASE_ID}$")


class CaseReplyEvent(CaseRefEvent):
    message: Text = Field(min_length=1, max_length=MAX_MESSAGE)


class CaseRequestDocumentEvent(CaseRefEvent):
    what: Text = Field(
        min_length=1, max_length=300, description="The document asked for, as the customer reads it"
    )


class CaseResolveEvent(CaseRefEvent):
    reason: Text = Field(
        min_length=1, max_length=500, description="Why it is resolved, as the customer reads it"
    )


class CallCodeVerifyEvent(Strict):
    code: str = Field(
        min_length=8, max_length=12, pattern=r"^[0-9][0-9 -]*$", description="The 8 digits the caller reads"
    )
