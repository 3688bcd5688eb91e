"""The items of cases and call codes, on the single table (chalicelib.store.models.Item).

A case lives in its customer's partition, under one prefix:

    CUSTOMER#<id>  CASE#<case id>              the case (status, topic, origin, context at opening)
                   CASE#<case id>#EV#<event>   its timeline, one item per step (time-ordered ids)
                   CASE#<case id>#Q            while it is open: its entry in the agents' queue
                   CASE#<case id>#UP#<upload>  a document upload (pending, attached or rejected)
                   CASEKEY#<idempotency key>   the request that opened it (24 h)
                   COUNTER#CASES               how many of the customer's cases are open
                   CALLCODE                    the customer's live call code (its HMAC)

so `begins_with(CASE#<case id>)` reads a case whole, and one Query of the customer's partition from
`BILL#` to `REQUEST#` reads the case, every other case, the profile, lines, bills, payments,
alerts and requests together (the agent's context). Case ids have a fixed length, so no id is a
prefix of another. Call codes themselves are keyed by their HMAC: `CALLCODE#<hmac>`.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.store.models import GSI1, Item


def case_sk(case_id: str) -> str:
    return f"CASE#{case_id}"


def event_sk(case_id: str, event_id: str) -> str:
    return f"CASE#{case_id}#EV#{event_id}"


def queue_sk(case_id: str) -> str:
    return f"CASE#{case_id}#Q"


def upload_sk(case_id: str, upload_id: str) -> str:
    return f"CASE#{case_id}#UP#{upload_id}"


COUNTER_SK = "COUNTER#CASES"
POINTER_SK = "CALLCODE"


def request_key_sk(key: str) -> str:
    return f"CASEKEY#{key}"


def code_pk(code_hash: str) -> str:
    return f"CALLCODE#{code_hash}"


def customer_cases_pk(customer_id: str) -> str:
    """GSI1 partition of a customer's cases (newest first)."""
    return f"CASES#{customer_id}"


def open_queue_pk(topic: str) -> str:
    """GSI1 partition of the open cases of a topic (oldest first: by age)."""
    return f"CASES#OPEN#{topic}"


class Case(Item, discriminator="case"):
    """PK=CUSTOMER#<id> SK=CASE#<case id>. GSI1 = CASES#<customer> / <opened_at>#<case id> lists
    the customer's cases newest first. status: open (an agent's turn) ⇄ awaiting_customer (the
    customer's turn) → resolved (by an agent, with a reason) → closed (by the customer, with "did
    this solve it?"); or open/awaiting_customer → closed. Each move is a conditional write in one
    transaction with its timeline step, its queue entry and the open-case counter."""

    gsi1: GSI1[Case] = GSI1()
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    case_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    status = UnicodeAttribute()
    topic = UnicodeAttribute()
    origin = UnicodeAttribute()  # JSON: {"kind": ..., the ids the app sent}
    context = UnicodeAttribute()  # JSON: what the server attached at opening
    opened_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    events = NumberAttribute(default=0)  # timeline steps (bounded: see service.MAX_EVENTS)
    documents = NumberAttribute(default=0)
    awaiting = UnicodeAttribute(null=True)  # what the agent asked for: "reply" | "document"
    resolution = UnicodeAttribute(null=True)  # the agent's reason
    resolved_at = UnicodeAttribute(null=True)
    closed_at = UnicodeAttribute(null=True)
    solved = BooleanAttribute(null=True)  # the customer's answer to "did this solve it?"
    feedback = UnicodeAttribute(null=True)


class CaseEvent(Item, discriminator="case_event"):
    """PK=CUSTOMER#<id> SK=CASE#<case id>#EV#<event id>: one step of the timeline, with its author
    (customer, agent — with the operator's name, shown to agents only — or system). Immutable."""

    event_id = UnicodeAttribute()
    case_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # opened | linked | message | document | document_requested | status | call
    author = UnicodeAttribute()  # customer | agent | system
    operator = UnicodeAttribute(null=True)
    at = UnicodeAttribute()
    text = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)  # the status this step moved the case to
    reason = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)  # JSON: the linked object, the document...


class CaseQueueEntry(Item, discriminator="case_queue_entry"):
    """PK=CUSTOMER#<id> SK=CASE#<case id>#Q, while the case is open or awaiting the customer. GSI1 =
    CASES#OPEN#<topic> / <opened_at>#<case id>: the agents' queue by topic, oldest first. Written
    and deleted in the same transactions as the case."""

    gsi1: GSI1[CaseQueueEntry] = GSI1()
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    case_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    topic = UnicodeAttribute()
    status = UnicodeAttribute()
    opened_at = UnicodeAttribute()
    waiting_since = UnicodeAttribute()  # since when it has been this side's turn


class CaseUpload(Item, discriminator="case_upload"):
    """PK=CUSTOMER#<id> SK=CASE#<case id>#UP#<upload id>: a document slot. pending (a presigned POST
    was handed out, 1 day to attach) → attached (checked: size, magic bytes) | rejected (the object
    was deleted). The S3 key is fixed by the server: documents/<case id>/<upload id> while pending,
    then the checked copy documents/<case id>/<upload id>.<random> once attached (see documents.py)."""

    upload_id = UnicodeAttribute()
    case_id = UnicodeAttribute()
    object_key = UnicodeAttribute()
    content_type = UnicodeAttribute()  # declared, enforced by the POST policy, checked at attach
    file_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    size = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    attached_at = UnicodeAttribute(null=True)
    requested_by = UnicodeAttribute(null=True)  # the event id of the agent's request it answers


class CaseCounter(Item, discriminator="case_counter"):
    """PK=CUSTOMER#<id> SK=COUNTER#CASES: open cases (open or awaiting_customer). Opening adds 1 in
    the opening transaction on condition `open < MAX_OPEN`: two concurrent opens at the limit cannot
    both pass; resolving or closing takes 1 off in theirs."""

    open = NumberAttribute(default=0)


class CaseTopicStat(Item, discriminator="case_topic_stat"):
    """PK=CASESTAT#<yyyymmdd>#<shard> SK=TOPIC#<topic>: cases opened that day with that topic (ADD
    in the opening transaction, so a replayed open never counts twice; 4 shards spread a busy
    day's writes). No customer id: the help report's contact reasons."""

    topic = UnicodeAttribute()
    cases = NumberAttribute(default=0)


class CaseRequestKey(Item, discriminator="case_request_key"):
    """PK=CUSTOMER#<id> SK=CASEKEY#<Idempotency-Key>: the case a key opened and the fingerprint of
    that request (24 h), written in the opening transaction on condition it does not exist: a
    retried POST answers the same case, never a second one."""

    case_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()


class CallCode(Item, discriminator="call_code"):
    """PK=CALLCODE#<HMAC-SHA256(pepper, code)> SK=CALLCODE: a one-use call code (10 minutes). Only
    the HMAC is stored; `used_at` is set by the one verification that wins (conditional update)."""

    customer_id = UnicodeAttribute()
    case_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    used_at = UnicodeAttribute(null=True)
    used_by = UnicodeAttribute(null=True)


class CallCodePointer(Item, discriminator="call_code_pointer"):
    """PK=CUSTOMER#<id> SK=CALLCODE: the HMAC of the customer's newest code; a new code deletes the
    one it names, so a customer has one live code at a time."""

    code_hash = UnicodeAttribute()
