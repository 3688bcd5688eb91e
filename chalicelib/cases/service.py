"""Cases: opening one from where the customer is stuck, its timeline, replies from both sides,
resolving and closing; the agents' queue and the agent's context of a case.

Every move of a case is one transaction: the case (on condition of the status it was read in), its
timeline step(s), its queue entry and the customer's open-case counter, so the queue, the counter
and the timeline never disagree with the case, whoever writes at the same moment.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.account import plan_change
from chalicelib.account.lines import line_to_wire
from chalicelib.account.views import profile_to_wire
from chalicelib.billing import bills
from chalicelib.cases import context as case_context
from chalicelib.cases import reporting, schemas
from chalicelib.cases.messages import MAX_OPEN_CASES, text
from chalicelib.cases.models import (
    COUNTER_SK,
    Case,
    CaseCounter,
    CaseEvent,
    CaseQueueEntry,
    CaseRequestKey,
    CaseTopicStat,
    CaseUpload,
    case_sk,
    customer_cases_pk,
    event_sk,
    open_queue_pk,
    queue_sk,
    request_key_sk,
)
from chalicelib.common.clock import epoch, iso, now
from chalicelib.errors import Conflict, DomainError, NotFound, TemporarilyUnavailable, Unprocessable
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.store import cursor as cursor_codec
from chalicelib.store.db import ConditionsFailed, Transaction, transaction
from chalicelib.store.models import (
    Bill,
    Customer,
    CycleUsage,
    InboxCounter,
    InboxItem,
    Item,
    Line,
    Notice,
    Payment,
    PaymentMethod,
    ServiceRequest,
    customer_pk,
)

MAX_OPEN = MAX_OPEN_CASES
MAX_EVENTS = 200  # timeline steps per case: bounds the case's Query and the agent's
KEY_KEPT = timedelta(hours=24)
PAGE_DEFAULT, PAGE_MAX = 20, 50
OPEN_STATUSES = ("open", "awaiting_customer")
REPLIED_KIND = "case.replied"  # the push and inbox kind of an agent's step (notifications catalogue)

# The agent's context: one Query of the customer's partition over this range (BILL# < CALLCODE <
# CASE# < CASEKEY# < COUNTER# < DEDUP# < DEVICE# < IDEMP# < INBOX# < LINE# < NOTICE# < PM# <
# PREFS# < PREVIEW# < PROFILE < REQUEST#), keeping only these types (the filter drops the rest
# before it leaves DynamoDB: dedup markers, devices and their tokens, keys, previews).
CONTEXT_FROM, CONTEXT_TO = "BILL#", "REQUEST$"  # "$" follows "#": every REQUEST#... is inside
CONTEXT_TYPES = (
    Bill,
    Payment,
    Case,
    CaseEvent,
    CaseUpload,
    CaseCounter,
    InboxCounter,
    InboxItem,
    Line,
    CycleUsage,
    Notice,
    PaymentMethod,
    Customer,
    ServiceRequest,
)
CONTEXT_BILLS, CONTEXT_ALERTS, CONTEXT_REQUESTS, CONTEXT_CASES = 6, 20, 10, 10


def _ids(prefix: str, moment: datetime, seq: int = 0) -> str:
    """Sortable by time (milliseconds first), then by position in one write, then random."""
    return f"{prefix}_{int(moment.timestamp() * 1000):012x}{seq:02x}{secrets.token_hex(5)}"


def new_case_id(moment: datetime) -> str:
    return f"cas_{int(moment.timestamp() * 1000):012x}{secrets.token_hex(6)}"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_plain_number)


def _plain_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _loads(value: str | None) -> Any:
    return json.loads(value) if value else None


def event(
    customer_id: str,
    case_id: str,
    moment: datetime,
    seq: int,
    *,
    kind: str,
    author: str,
    operator: str | None = None,
    text_: str | None = None,
    status: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> CaseEvent:
    event_id = _ids("evt", moment, seq)
    return CaseEvent(
        customer_pk(customer_id),
        event_sk(case_id, event_id),
        event_id=event_id,
        case_id=case_id,
        kind=kind,
        author=author,
        operator=operator,
        at=iso(moment),
        text=text_,
        status=status,
        reason=reason,
        detail=_dumps(detail) if detail is not None else None,
    )


# --- wire -------------------------------------------------------------------------------------------------


def event_to_wire(item: CaseEvent, *, for_agent: bool) -> dict[str, Any]:
    author: dict[str, Any] = {"type": item.author}
    if for_agent and item.operator:
        author["operator"] = item.operator
    wire: dict[str, Any] = {
        "event_id": item.event_id,
        "kind": item.kind,
        "at": item.at,
        "author": author,
        "text": item.text,
        "status": item.status,
        "reason": item.reason,
    }
    detail = _loads(item.detail)
    if detail is not None:
        wire["detail"] = detail
    return wire


def document_to_wire(upload: CaseUpload) -> dict[str, Any]:
    return {
        "document_id": upload.upload_id,
        "content_type": upload.content_type,
        "file_name": upload.file_name,
        "size": int(upload.size or 0),
        "attached_at": upload.attached_at,
    }


def summary_to_wire(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "status": case.status,
        "topic": case.topic,
        "origin": _loads(case.origin),
        "awaiting": case.awaiting,
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
    }


def case_to_wire(
    case: Case, events: list[CaseEvent], uploads: list[CaseUpload], *, for_agent: bool = False
) -> dict[str, Any]:
    return {
        **summary_to_wire(case),
        "resolution": {"reason": case.resolution, "at": case.resolved_at} if case.resolution else None,
        "feedback": (
            {"solved": bool(case.solved), "comment": case.feedback, "at": case.closed_at}
            if case.solved is not None
            else None
        ),
        "closed_at": case.closed_at,
        "context": _loads(case.context),
        "documents": [document_to_wire(u) for u in _attached(uploads, events)],
        "timeline": [event_to_wire(e, for_agent=for_agent) for e in sorted(events, key=lambda e: e.event_id)],
    }


def _attached(uploads: list[CaseUpload], events: list[CaseEvent]) -> list[CaseUpload]:
    """The attached documents, in the order they joined the timeline."""
    joined = {(_loads(e.detail) or {}).get("document_id"): e.event_id for e in events if e.kind == "document"}
    attached = [u for u in uploads if u.status == "attached"]
    return sorted(attached, key=lambda u: joined.get(u.upload_id) or u.attached_at or "")


# --- reading ------------------------------------------------------------------------------------------------


def _parts(items: list[Item], case_id: str) -> tuple[Case | None, list[CaseEvent], list[CaseUpload]]:
    case = next((i for i in items if isinstance(i, Case) and i.case_id == case_id), None)
    events = [i for i in items if isinstance(i, CaseEvent) and i.case_id == case_id]
    uploads = [i for i in items if isinstance(i, CaseUpload) and i.case_id == case_id]
    return case, events, uploads


def read_case(customer_id: str, case_id: str) -> tuple[Case, list[CaseEvent], list[CaseUpload]]:
    """The case with its timeline and uploads: one Query (`begins_with CASE#<case id>`)."""
    items = list(
        Item.query(customer_pk(customer_id), Item.SK.startswith(case_sk(case_id)), consistent_read=True)
    )
    case, events, uploads = _parts(items, case_id)
    if case is None:
        raise NotFound(text("case_not_found"), code="case_not_found")
    return case, events, uploads


def get_case(*, customer_id: str, case_id: str) -> dict[str, Any]:
    case, events, uploads = read_case(customer_id, case_id)
    return case_to_wire(case, events, uploads)


def list_cases(
    *, customer_id: str, status: str | None, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """The customer's cases, newest first (GSI1: CASES#<customer>), optionally of one status."""
    size = min(max(1, limit or PAGE_DEFAULT), PAGE_MAX)
    start = (
        cursor_codec.decode(
            cursor,
            fixed={"PK": customer_pk(customer_id), "GSI1PK": customer_cases_pk(customer_id)},
            sk_prefix="CASE#cas_",
        )
        if cursor
        else None
    )
    result = Case.gsi1.query(
        customer_cases_pk(customer_id),
        scan_index_forward=False,
        limit=size,
        last_evaluated_key=start,
        filter_condition=(Case.status == status) if status else None,
    )
    cases = [summary_to_wire(c) for c in result]
    last = result.last_evaluated_key
    return {"cases": cases, "next_cursor": cursor_codec.encode(last) if last else None}


# --- opening ----------------------------------------------------------------------------------------------------


def _fingerprint(origin: Any, topic: str | None, message: str) -> str:
    canonical = json.dumps(
        {"origin": origin.model_dump(mode="json"), "topic": topic, "message": message},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(customer_id: str, key: str, fingerprint: str) -> dict[str, Any] | None:
    """The case this key opened (None if the key is new or expired); the same key with another
    request is a 422."""
    try:
        marker = CaseRequestKey.get(customer_pk(customer_id), request_key_sk(key), consistent_read=True)
    except CaseRequestKey.DoesNotExist:
        return None
    if (marker.expires_at or 0) <= epoch(now()):
        return None
    if marker.fingerprint != fingerprint:
        raise Unprocessable(text("idempotency_key_reused"), code="idempotency_key_reused")
    return get_case(customer_id=customer_id, case_id=marker.case_id)


def open_case(
    *,
    customer_id: str,
    key: str,
    origin: Any,
    topic: str | None,
    message: str,
    operator: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Open a case (or answer the one this Idempotency-Key opened: `created` False). At most
    MAX_OPEN open cases per customer, counted in the opening transaction. With an `operator`, an
    agent opens it for the customer on a call (cases/lost_phone.py): the opening and the message are
    the agent's in the timeline."""
    author = "customer" if operator is None else "agent"
    fingerprint = _fingerprint(origin, topic, message)
    replayed = _replay(customer_id, key, fingerprint)
    if replayed is not None:
        return replayed, False
    attached = case_context.collect(customer_id, origin)
    moment = now()
    opened_at = iso(moment)
    case_id = new_case_id(moment)
    chosen = topic or schemas.DEFAULT_TOPIC.get(origin.kind, "other")
    pk = customer_pk(customer_id)
    origin_wire = origin.model_dump(mode="json")
    steps = [
        event(
            customer_id,
            case_id,
            moment,
            0,
            kind="opened",
            author=author,
            operator=operator,
            status="open",
            detail=origin_wire,
        )
    ]
    if attached["linked"] is not None:
        linked = attached["linked"]
        steps.append(
            event(
                customer_id,
                case_id,
                moment,
                1,
                kind="linked",
                author="system",
                detail={"kind": linked["kind"], "id": linked["id"]},
            )
        )
    steps.append(
        event(
            customer_id, case_id, moment, 2, kind="message", author=author, operator=operator, text_=message
        )
    )
    case = Case(
        pk,
        case_sk(case_id),
        GSI1PK=customer_cases_pk(customer_id),
        GSI1SK=f"{opened_at}#{case_id}",
        case_id=case_id,
        customer_id=customer_id,
        status="open",
        topic=chosen,
        origin=_dumps(origin_wire),
        context=_dumps(attached),
        opened_at=opened_at,
        updated_at=opened_at,
        events=len(steps),
        documents=0,
    )
    entry = CaseQueueEntry(
        pk,
        queue_sk(case_id),
        GSI1PK=open_queue_pk(chosen),
        GSI1SK=f"{opened_at}#{case_id}",
        case_id=case_id,
        customer_id=customer_id,
        topic=chosen,
        status="open",
        opened_at=opened_at,
        waiting_since=opened_at,
    )
    marker = CaseRequestKey(
        pk,
        request_key_sk(key),
        case_id=case_id,
        fingerprint=fingerprint,
        expires_at=epoch(moment + KEY_KEPT),
    )
    try:
        with transaction() as tx:
            tx.update(
                CaseCounter(pk, COUNTER_SK),
                actions=[CaseCounter.type.set(CaseCounter), CaseCounter.open.add(1)],
                condition=CaseCounter.open.does_not_exist() | (CaseCounter.open < MAX_OPEN),
                label="limit",
            )
            tx.save(
                marker,
                condition=CaseRequestKey.PK.does_not_exist() | (CaseRequestKey.expires_at <= epoch(moment)),
                label="key",
            )
            tx.save(case, condition=Case.PK.does_not_exist())
            for step in steps:
                tx.save(step)
            tx.save(entry)
            stat = reporting.stat_for(chosen, moment)
            tx.update(
                stat,
                actions=[
                    CaseTopicStat.type.set(CaseTopicStat),
                    CaseTopicStat.topic.set(chosen),
                    CaseTopicStat.cases.add(1),
                    CaseTopicStat.expires_at.set(stat.expires_at),
                ],
            )
    except ConditionsFailed as failed:
        if "key" in failed.labels:  # a retry of this very request won the race
            replayed = _replay(customer_id, key, fingerprint)
            if replayed is not None:
                return replayed, False
        if "limit" in failed.labels:
            raise Conflict(text("too_many_open_cases"), code="too_many_open_cases") from None
        raise
    log_event("case_opened", customer_id=customer_id, case_id=case_id, topic=chosen, origin=origin.kind)
    return case_to_wire(case, steps, []), True


# --- moving a case -------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One move of a case: what it may move from, to, the timeline steps it adds, and the rest."""

    allowed: tuple[str, ...]
    status: str
    events: list[CaseEvent]
    queue: str = "keep"  # keep | update | delete
    waiting_since: str | None = None  # a new turn (update)
    counter: int = 0  # on the open-case counter
    actions: list[Any] = field(default_factory=list)  # more on the case
    condition: Any = None  # more the case must satisfy at commit (room for a document)
    also: Callable[[Transaction], None] | None = None  # more in the transaction (an upload)


ATTEMPTS = 3


def load(customer_id: str, case_id: str) -> Case:
    """The case alone (one consistent GetItem); 404 for an unknown id or another customer's."""
    try:
        return Case.get(customer_pk(customer_id), case_sk(case_id), consistent_read=True)
    except Case.DoesNotExist:
        raise NotFound(text("case_not_found"), code="case_not_found") from None


def closed() -> Conflict:
    return Conflict(text("case_closed"), code="case_closed")


def move(customer_id: str, case_id: str, decide: Callable[[Case, datetime], Step]) -> Case:
    """Read the case, let `decide` plan the move from what it is, and write it on condition that
    the case is still what was read (its status, room in its timeline); re-read if it moved meanwhile."""
    for _ in range(ATTEMPTS):
        case = load(customer_id, case_id)
        moment = now()
        step = decide(case, moment)
        if case.status not in step.allowed:
            raise closed()
        if int(case.events) + len(step.events) > MAX_EVENTS:
            raise Conflict(text("case_timeline_full"), code="case_timeline_full")
        stamp = iso(moment)
        actions = [
            Case.status.set(step.status),
            Case.updated_at.set(stamp),
            Case.events.add(len(step.events)),
            *step.actions,
        ]
        condition = (Case.status == case.status) & (Case.events <= MAX_EVENTS - len(step.events))
        if step.condition is not None:
            condition = condition & step.condition
        try:
            with transaction() as tx:
                tx.update(case, actions=actions, condition=condition, label="case")
                for item in step.events:
                    tx.save(item)
                entry = CaseQueueEntry(customer_pk(customer_id), queue_sk(case_id))
                if step.queue == "delete":
                    tx.delete(entry)
                elif step.queue == "update":
                    updates = [CaseQueueEntry.status.set(step.status)]
                    if step.waiting_since:
                        updates.append(CaseQueueEntry.waiting_since.set(step.waiting_since))
                    tx.update(entry, actions=updates)
                if step.counter:
                    tx.update(
                        CaseCounter(customer_pk(customer_id), COUNTER_SK),
                        actions=[CaseCounter.open.add(step.counter)],
                    )
                if step.also is not None:
                    step.also(tx)
        except ConditionsFailed as failed:
            if failed.labels == {"case"}:
                continue  # it moved meanwhile (another reply, a resolve): decide again
            raise
        return case
    raise TemporarilyUnavailable("This case changed while we were writing to it: try again.")


def reply(*, customer_id: str, case_id: str, message: str) -> dict[str, Any]:
    """The customer's message: the case becomes the agents' turn again."""

    def decide(case: Case, moment: datetime) -> Step:
        turn = case.status != "open"
        return Step(
            allowed=OPEN_STATUSES,
            status="open",
            events=[
                event(
                    customer_id,
                    case_id,
                    moment,
                    0,
                    kind="message",
                    author="customer",
                    text_=message,
                    status="open" if turn else None,
                    reason="customer_replied" if turn else None,
                )
            ],
            queue="update",
            waiting_since=iso(moment) if turn else None,
            actions=[Case.awaiting.remove()],
        )

    move(customer_id, case_id, decide)
    return get_case(customer_id=customer_id, case_id=case_id)


def close(*, customer_id: str, case_id: str, solved: bool, comment: str | None) -> dict[str, Any]:
    """ "Did this solve it?": closes the case (open, awaiting the customer, or resolved by an agent)."""

    def decide(case: Case, moment: datetime) -> Step:
        was_open = case.status in OPEN_STATUSES
        return Step(
            allowed=(*OPEN_STATUSES, "resolved"),
            status="closed",
            events=[
                event(
                    customer_id,
                    case_id,
                    moment,
                    0,
                    kind="status",
                    author="customer",
                    status="closed",
                    reason="solved" if solved else "not_solved",
                    text_=comment,
                )
            ],
            queue="delete" if was_open else "keep",
            counter=-1 if was_open else 0,
            actions=[
                Case.closed_at.set(iso(moment)),
                Case.solved.set(solved),
                *([Case.feedback.set(comment)] if comment else []),
                Case.awaiting.remove(),
            ],
        )

    move(customer_id, case_id, decide)
    log_event("case_closed", customer_id=customer_id, case_id=case_id, solved=solved)
    return get_case(customer_id=customer_id, case_id=case_id)


# --- agents -------------------------------------------------------------------------------------------------


def _tell(case: Case, step: CaseEvent, summary: tuple[str, str]) -> bool:
    """The customer hears of an agent's step: an inbox item (and its push) that opens the case.
    The texts are fixed (what the agent wrote is read in the case, never on a lock screen). The
    step is already in the timeline: a failure here is logged and answered, not raised."""
    try:
        inbox.notify(
            customer_id=case.customer_id,
            kind=REPLIED_KIND,
            data={
                "case_id": case.case_id,
                "event_id": step.event_id,
                "status": step.status or case.status,
                "summary_fr": summary[0],
                "summary_en": summary[1],
            },
            dedup_key=f"case:{case.case_id}:{step.event_id}",
        )
    except DomainError as error:
        log_event("case_notify_failed", customer_id=case.customer_id, case_id=case.case_id, error=error.code)
        return False
    return True


def _agent_step(
    customer_id: str,
    case_id: str,
    *,
    kind: str,
    operator: str,
    status: str,
    text_: str | None,
    reason: str | None,
    summary: tuple[str, str],
    **step: Any,
) -> dict[str, Any]:
    made: list[CaseEvent] = []

    def decide(case: Case, moment: datetime) -> Step:
        made[:] = [
            event(
                customer_id,
                case_id,
                moment,
                0,
                kind=kind,
                author="agent",
                operator=operator,
                text_=text_,
                status=status if status != case.status else None,
                reason=reason,
            )
        ]
        return Step(allowed=OPEN_STATUSES, status=status, events=list(made), **step)

    try:
        case = move(customer_id, case_id, decide)
    except Conflict as refused:
        if refused.code == "case_closed":
            raise Conflict(text("case_not_resolvable"), code="case_not_resolvable") from None
        raise
    notified = _tell(case, made[0], summary)
    log_event(f"case_{kind}", customer_id=customer_id, case_id=case_id, operator=operator)
    return {"notified": notified, "case": agent_case(customer_id, case_id)}


def agent_reply(*, customer_id: str, case_id: str, message: str, operator: str) -> dict[str, Any]:
    """An agent's message: the customer's turn; a push and an inbox item open the case."""
    return _agent_step(
        customer_id,
        case_id,
        kind="message",
        operator=operator,
        status="awaiting_customer",
        text_=message,
        reason="agent_replied",
        summary=("Un conseiller a répondu à votre demande.", "An adviser replied to your case."),
        queue="update",
        waiting_since=iso(now()),
        actions=[Case.awaiting.set("reply")],
    )


def request_document(*, customer_id: str, case_id: str, what: str, operator: str) -> dict[str, Any]:
    return _agent_step(
        customer_id,
        case_id,
        kind="document_requested",
        operator=operator,
        status="awaiting_customer",
        text_=what,
        reason="document_requested",
        summary=("Un conseiller vous demande un document.", "An adviser asks you for a document."),
        queue="update",
        waiting_since=iso(now()),
        actions=[Case.awaiting.set("document")],
    )


def resolve(*, customer_id: str, case_id: str, reason: str, operator: str) -> dict[str, Any]:
    """Resolved, with the reason the customer reads; they may still say whether it solved it."""
    moment = iso(now())
    return _agent_step(
        customer_id,
        case_id,
        kind="status",
        operator=operator,
        status="resolved",
        text_=None,
        reason=reason,
        summary=("Votre demande est résolue.", "Your case is resolved."),
        queue="delete",
        counter=-1,
        actions=[Case.resolution.set(reason), Case.resolved_at.set(moment), Case.awaiting.remove()],
    )


def record_call(*, customer_id: str, case_id: str, operator: str) -> None:
    """A caller authenticated by call code, in the case's timeline (any status: it is history)."""
    moment = now()
    step = event(
        customer_id,
        case_id,
        moment,
        0,
        kind="call",
        author="agent",
        operator=operator,
        reason="call_code_verified",
    )
    with transaction() as tx:
        tx.update(
            Case(customer_pk(customer_id), case_sk(case_id)),
            actions=[Case.events.add(1), Case.updated_at.set(iso(moment))],
            condition=Case.PK.exists(),
        )
        tx.save(step)


def queue(*, topic: str | None, status: str | None, limit: int) -> dict[str, Any]:
    """Open cases by age (oldest first), for one topic or all: one GSI1 Query per topic."""
    found: list[CaseQueueEntry] = []
    more = False
    for name in [topic] if topic else schemas.TOPICS:
        result = CaseQueueEntry.gsi1.query(
            open_queue_pk(str(name)),
            limit=limit,
            filter_condition=(CaseQueueEntry.status == status) if status else None,
        )
        found.extend(result)
        more = more or result.last_evaluated_key is not None
    found.sort(key=lambda e: e.GSI1SK)
    moment = now()
    cases = [
        {
            "customer_id": e.customer_id,
            "case_id": e.case_id,
            "topic": e.topic,
            "status": e.status,
            "opened_at": e.opened_at,
            "waiting_since": e.waiting_since,
            "age_minutes": int((moment.timestamp() - _epoch_of(e.opened_at)) // 60),
        }
        for e in found[:limit]
    ]
    counts: dict[str, int] = {}
    for entry in found[:limit]:
        counts[entry.topic] = counts.get(entry.topic, 0) + 1
    return {"cases": cases, "by_topic": counts, "more": more or len(found) > limit}


def _epoch_of(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def agent_case(customer_id: str, case_id: str) -> dict[str, Any]:
    case, events, uploads = read_case(customer_id, case_id)
    return _agent_case_wire(case, events, uploads)


def _agent_case_wire(case: Case, events: list[CaseEvent], uploads: list[CaseUpload]) -> dict[str, Any]:
    from chalicelib.cases import documents

    wire = case_to_wire(case, events, uploads, for_agent=True)
    urls = {u.upload_id: documents.download_url(u) for u in uploads if u.status == "attached"}
    wire["documents"] = [{**d, "download_url": urls[d["document_id"]]} for d in wire["documents"]]
    wire["customer_id"] = case.customer_id
    return wire


def agent_context(*, customer_id: str, case_id: str | None) -> dict[str, Any]:
    """Everything about a case and its customer, from one Query of the customer's partition
    (BILL# to REQUEST#, filtered to the types below): the case and its timeline, the profile,
    lines and their latest usage, recent bills with their payments, alerts, requests, the other
    cases, the searches that led to cases. Nothing to ask the customer again. Without a case id
    (a call code bound to the account), the newest open case, if any."""
    started = time.perf_counter()
    result = Item.query(
        customer_pk(customer_id),
        Item.SK.between(CONTEXT_FROM, CONTEXT_TO),
        filter_condition=Item.type.is_in(*CONTEXT_TYPES),
    )
    items = list(result)  # pages followed if the range ever passes 1 MB (one page until then)
    profile = next((i for i in items if isinstance(i, Customer)), None)
    if profile is None:
        raise NotFound("No such customer.", code="customer_not_found")
    cases = sorted(
        (i for i in items if isinstance(i, Case)), key=lambda c: c.case_id, reverse=True
    )  # newest first
    if case_id is None:
        case_id = next((c.case_id for c in cases if c.status in OPEN_STATUSES), None)
    case, events, uploads = _parts(items, case_id) if case_id else (None, [], [])
    if case_id is not None and case is None:
        raise NotFound(text("case_not_found"), code="case_not_found")
    language = profile.language or "fr"
    payments: dict[str, list[Payment]] = {}
    for payment in (i for i in items if isinstance(i, Payment)):
        payments.setdefault(payment.bill_id, []).append(payment)
    cycles: dict[str, CycleUsage] = {}
    for cycle in (i for i in items if isinstance(i, CycleUsage)):
        if cycle.line_id not in cycles or cycle.cycle_start > cycles[cycle.line_id].cycle_start:
            cycles[cycle.line_id] = cycle
    moment = epoch(now())
    alerts = sorted(
        (i for i in items if isinstance(i, InboxItem) and (i.expires_at or 0) > moment),
        key=lambda i: i.alert_id,
        reverse=True,
    )
    open_counter = next((i for i in items if isinstance(i, CaseCounter)), None)
    unread_counter = next((i for i in items if isinstance(i, InboxCounter)), None)
    answer = {
        "case": _agent_case_wire(case, events, uploads) if case is not None else None,
        "customer": profile_to_wire(profile),
        "lines": [
            {**line_to_wire(line, language), "latest_cycle": _cycle(cycles.get(line.line_id))}
            for line in sorted((i for i in items if isinstance(i, Line)), key=lambda i: i.created_at)
        ],
        "bills": [
            bills.bill_to_wire(bill, payments.get(bill.bill_id, []))
            for bill in sorted(
                (i for i in items if isinstance(i, Bill)), key=lambda b: b.issued_at, reverse=True
            )[:CONTEXT_BILLS]
        ],
        "attention": [
            {
                "kind": n.notice_kind,
                "bill_id": n.bill_id,
                "due_date": n.due_date,
                "amount": int(n.amount) if n.amount is not None else None,
                "currency": n.currency,
                "message": n.message,
            }
            for n in items
            if isinstance(n, Notice)
        ],
        "payment_methods": [
            {
                "payment_method_id": m.method_id,
                "brand": m.brand,
                "last4": m.last4,
                "exp": f"{m.exp_month:02d}/{m.exp_year}",
            }
            for m in items
            if isinstance(m, PaymentMethod)
        ],
        "alerts": [inbox.to_wire(a) for a in alerts[:CONTEXT_ALERTS]],
        "requests": [
            plan_change.request_to_wire(r, language)
            for r in sorted(
                # REQUEST#... only: PENDING#<line> is the same type, the one-pending-change marker
                (i for i in items if isinstance(i, ServiceRequest) and i.SK.startswith("REQUEST#")),
                key=lambda r: r.request_id,
                reverse=True,
            )[:CONTEXT_REQUESTS]
        ],
        "other_cases": [summary_to_wire(c) for c in cases if c.case_id != case_id][:CONTEXT_CASES],
        "searches": _searches(cases),
        "counts": {
            "open_cases": int(open_counter.open) if open_counter is not None else 0,
            "unread_alerts": int(unread_counter.unread) if unread_counter is not None else 0,
        },
    }
    log_event(
        "case_context_read",
        customer_id=customer_id,
        case_id=case_id,
        items=len(items),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return answer


def _cycle(cycle: CycleUsage | None) -> dict[str, Any] | None:
    if cycle is None:
        return None
    return {
        "cycle_start": cycle.cycle_start,
        "data_kb": int(cycle.data_kb or 0),
        "voice_s": int(cycle.voice_s or 0),
        "sms": int(cycle.sms or 0),
        "as_of": cycle.as_of,
    }


def _searches(cases: list[Case]) -> list[dict[str, Any]]:
    """The searches (text typed, no result found or not helpful) the customer opened cases from."""
    found = []
    for case in cases:
        origin = _loads(case.origin) or {}
        if origin.get("kind") == "search":
            found.append(
                {"case_id": case.case_id, "search_text": origin.get("search_text"), "at": case.opened_at}
            )
    return found
