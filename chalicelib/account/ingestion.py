"""Usage records from the network's mediation system (SQS), counted exactly once.

A batch is validated record by record (a bad record is logged with its reason and skipped: it
never blocks the others and retrying it would not fix it), then aggregated by (line, day): writes
scale with the distinct days touched, not with the records. Each (line, day) is one transaction:
the day's totals with the ids of the records counted (conditioned on none of them being counted
already) and the cycle's totals. A line's day and cycle are hot items (concurrent batches of one
line): store/db.py retries the write conflicts of these transactions and of the cycle's `as_of`. When a condition fails because some records were counted before
(a redelivered message, a replayed batch, a concurrent handler), the day is re-read and only the
others are counted. Records count in the cycle they occurred in, however late they arrive.
After the writes, each touched current cycle is checked for thresholds (80 %, 100 %) and pace,
raised through `notify` with dedup keys, so each fires once per allowance and cycle. Each names the
option that fits (account/suggestions.py) and, when the allowance is used up, what happens now.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from chalicelib.account import catalog, cycles, suggestions
from chalicelib.account.views import line_and_cycles
from chalicelib.common.clock import iso, now
from chalicelib.common.strict import Strict, describe_validation_error
from chalicelib.errors import NotFound
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, retry_conflicts, transaction
from chalicelib.store.models import (
    CycleUsage,
    DailyUsage,
    LineOwner,
    customer_pk,
    plain,
)

THRESHOLDS = (80, 100)
_FUTURE_SLACK = timedelta(minutes=5)  # clocks of the mediation system may run a little ahead
PACE_MARGIN_DAYS = 3
ALLOWANCE_NAMES = {
    # Masculine nouns all three: the alerts' « épuisé » agrees with each.
    "fr": {"data": "forfait internet", "voice": "forfait d'appels", "sms": "forfait SMS"},
    "en": {"data": "data allowance", "voice": "call allowance", "sms": "text allowance"},
}
# What happens once an allowance is used up: the plan's `exhausted` (one behaviour, or one per kind
# of allowance) when its terms say it, else what the help pages promise: data slowed, calls and
# texts charged out of bundle. A behaviour that does not apply to a kind (slowed calls) is ignored.
EXHAUSTED: dict[tuple[str, str], dict[str, str]] = {
    ("slowed", "data"): {
        "fr": "Vous restez connecté, à débit réduit, jusqu'à la fin du cycle.",
        "en": "You stay connected, at a reduced speed, until the end of the cycle.",
    },
    ("blocked", "data"): {
        "fr": "L'internet mobile est coupé jusqu'à la fin du cycle.",
        "en": "Mobile data is off until the end of the cycle.",
    },
    ("blocked", "voice"): {
        "fr": "Les appels sortants sont bloqués jusqu'à la fin du cycle.",
        "en": "Outgoing calls are blocked until the end of the cycle.",
    },
    ("blocked", "sms"): {
        "fr": "L'envoi de SMS est bloqué jusqu'à la fin du cycle.",
        "en": "Sending texts is blocked until the end of the cycle.",
    },
    ("charged", "data"): {
        "fr": "L'internet mobile au-delà du forfait est facturé hors forfait, au tarif de votre offre.",
        "en": "Mobile data beyond your allowance is charged out of bundle, at your plan's rates.",
    },
    ("charged", "voice"): {
        "fr": "Les appels au-delà du forfait sont facturés hors forfait, au tarif de votre offre.",
        "en": "Calls beyond your allowance are charged out of bundle, at your plan's rates.",
    },
    ("charged", "sms"): {
        "fr": "Les SMS au-delà du forfait sont facturés hors forfait, au tarif de votre offre.",
        "en": "Texts beyond your allowance are charged out of bundle, at your plan's rates.",
    },
}
EXHAUSTED_DEFAULT = {"data": "slowed", "voice": "charged", "sms": "charged"}
_EXHAUSTED_ALIASES = {"charged_out_of_bundle": "charged", "out_of_bundle": "charged"}
MAX_RETRIES = 5
CHUNK = 50  # records per transaction: one NOT contains() each keeps the condition under 4 KB


class UsageRecord(Strict):
    event_id: str = Field(min_length=1, max_length=128)
    line_id: str = Field(pattern=r"^ln_[a-z0-9]{4,32}$")
    kind: Literal["data", "voice", "sms"]
    quantity: int = Field(ge=0, le=100_000_000, description="data: KB, voice: seconds, sms: messages")
    occurred_at: datetime
    roaming_zone: str | None = Field(default=None, max_length=16)

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a time zone (UTC, ...Z)")
        if value.astimezone(UTC) > now().replace(microsecond=0) + _FUTURE_SLACK:
            raise ValueError("occurred_at is in the future")
        return value.astimezone(UTC)


@dataclass
class _Day:
    customer_id: str
    line_id: str
    day: date
    cycle: date
    records: dict[str, UsageRecord] = field(default_factory=dict)  # record hash -> record
    messages: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class BatchResult:
    counted: int
    duplicates: int
    rejected: int
    failed_messages: list[str]


def record_hash(event_id: str) -> str:
    """Ids of counted records are kept hashed and short: a day can hold thousands."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:20]


def parse_messages(messages: list[tuple[str, str]]) -> tuple[list[tuple[str, UsageRecord]], int]:
    """(message id, body) → valid records with their message id, and how many were rejected.
    A body is one record or a JSON array of records."""
    valid: list[tuple[str, UsageRecord]] = []
    rejected = 0
    for message_id, body in messages:
        try:
            payload = json.loads(body)
        except ValueError:
            rejected += 1
            log_event("usage_record_rejected", message=message_id, reason="body is not JSON")
            continue
        for index, raw in enumerate(payload if isinstance(payload, list) else [payload]):
            try:
                valid.append((message_id, UsageRecord.model_validate(raw)))
            except ValidationError as error:
                rejected += 1
                log_event(
                    "usage_record_rejected",
                    message=message_id,
                    index=index,
                    reason=describe_validation_error(error, most=3),
                )
    return valid, rejected


def ingest(messages: list[tuple[str, str]]) -> BatchResult:
    records, rejected = parse_messages(messages)
    owners = _owners({r.line_id for _, r in records})
    days: dict[tuple[str, date], _Day] = {}
    for message_id, record in records:
        owner = owners.get(record.line_id)
        if owner is None:
            rejected += 1
            log_event("usage_record_rejected", message=message_id, reason="unknown line")
            continue
        day = record.occurred_at.date()
        group = days.setdefault(
            (record.line_id, day),
            _Day(
                customer_id=owner.customer_id,
                line_id=record.line_id,
                day=day,
                cycle=cycles.cycle_start(day, int(owner.anchor_day)),
            ),
        )
        group.records.setdefault(record_hash(record.event_id), record)
        group.messages.add(message_id)

    counted = duplicates = 0
    failed: set[str] = set()
    newest: dict[tuple[str, str, date], str] = {}  # (customer, line, cycle) -> newest record counted
    for group in days.values():
        try:
            new, dup = _write_day(group)
            counted, duplicates = counted + new, duplicates + dup
        except Exception as error:  # noqa: BLE001 - this day's messages are retried, the rest stand
            log_event(
                "usage_day_failed", line=group.line_id, day=group.day.isoformat(), error=type(error).__name__
            )
            failed |= group.messages
            continue
        key = (group.customer_id, group.line_id, group.cycle)
        latest = iso(max(r.occurred_at for r in group.records.values()))
        newest[key] = max(newest.get(key, latest), latest)
    for (customer_id, line_id, cycle), moment in newest.items():
        _advance_as_of(CycleUsage(customer_pk(customer_id), f"LINE#{line_id}#C#{cycle.isoformat()}"), moment)
    touched = {(g.customer_id, g.line_id) for g in days.values() if not (g.messages & failed)}
    for customer_id, line_id in touched:
        try:
            check_alerts(customer_id=customer_id, line_id=line_id)
        except Exception as error:  # noqa: BLE001 - alerts are retried with the next batch of this line
            log_event("usage_alert_check_failed", line=line_id, error=type(error).__name__)
    log_event(
        "usage_batch",
        counted=counted,
        duplicates=duplicates,
        rejected=rejected,
        failed_messages=len(failed),
        days=len(days),
    )
    if rejected:
        emit("UsageRecordsRejected", rejected)
    if newest:  # how far behind real time the feed is: the newest record counted in this batch
        emit(
            "UsageIngestionLagSeconds",
            max(
                0.0,
                (
                    now() - max(datetime.fromisoformat(m.replace("Z", "+00:00")) for m in newest.values())
                ).total_seconds(),
            ),
            "Seconds",
        )
    return BatchResult(
        counted=counted, duplicates=duplicates, rejected=rejected, failed_messages=sorted(failed)
    )


def _owners(line_ids: set[str]) -> dict[str, LineOwner]:
    if not line_ids:
        return {}
    found = LineOwner.batch_get([(f"LINE#{lid}", "OWNER") for lid in line_ids])
    return {o.PK.removeprefix("LINE#"): o for o in found}


def _write_day(group: _Day) -> tuple[int, int]:
    """Count the group's records that are not counted yet; returns (counted, duplicates)."""
    digests = list(group.records)
    counted = 0
    for start in range(0, len(digests), CHUNK):
        chunk = {h: group.records[h] for h in digests[start : start + CHUNK]}
        counted += _write_chunk(group, chunk)
    return counted, len(digests) - counted


def _write_chunk(group: _Day, records: dict[str, UsageRecord]) -> int:
    pending = dict(records)
    for _ in range(MAX_RETRIES):
        if not pending:
            return 0
        totals: defaultdict[str, int] = defaultdict(int)
        for record in pending.values():
            totals[cycles.BASE_ATTR[record.kind]] += record.quantity
        pk = customer_pk(group.customer_id)
        day = DailyUsage(pk, f"USAGEDAY#{group.line_id}#{group.day.isoformat()}")
        cycle = CycleUsage(pk, f"LINE#{group.line_id}#C#{group.cycle.isoformat()}")
        not_counted = None
        for digest in pending:
            clause = ~DailyUsage.counted.contains(digest)
            not_counted = clause if not_counted is None else not_counted & clause
        fresh = DailyUsage.counted.does_not_exist()
        try:
            with transaction() as tx:
                tx.update(
                    day,
                    actions=[
                        DailyUsage.type.set(DailyUsage),
                        DailyUsage.line_id.set(group.line_id),
                        DailyUsage.day.set(group.day.isoformat()),
                        DailyUsage.counted.add(set(pending)),
                        *[getattr(DailyUsage, attr).add(value) for attr, value in totals.items()],
                    ],
                    condition=fresh | not_counted,
                    label="not_counted",
                )
                tx.update(
                    cycle,
                    actions=[
                        CycleUsage.type.set(CycleUsage),
                        CycleUsage.line_id.set(group.line_id),
                        CycleUsage.cycle_start.set(group.cycle.isoformat()),
                        *[getattr(CycleUsage, attr).add(value) for attr, value in totals.items()],
                    ],
                )
        except ConditionsFailed:
            counted = (
                DailyUsage.get(
                    pk, f"USAGEDAY#{group.line_id}#{group.day.isoformat()}", consistent_read=True
                ).counted
                or set()
            )
            pending = {h: r for h, r in pending.items() if h not in counted}
            continue
        return len(pending)
    raise RuntimeError("too much contention on one line's day")


def _advance_as_of(cycle: CycleUsage, newest: str) -> None:
    """as_of only moves forward (a late record does not make figures look older); once per cycle
    and batch. A replayed record may move it to its own time, which was counted all the same."""
    from pynamodb.exceptions import UpdateError

    try:
        # The cycle is in every transaction that counts a day of it: a conflict is retried.
        retry_conflicts(
            lambda: cycle.update(
                actions=[CycleUsage.as_of.set(newest)],
                condition=CycleUsage.as_of.does_not_exist() | (CycleUsage.as_of < newest),
            ),
            what="cycle_usage",
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def exhausted(plan: dict[str, Any], kind: str) -> dict[str, str]:
    """What happens now that this allowance is used up: `exhausted` (the behaviour) and its words."""
    stated = plan.get("exhausted")
    if isinstance(stated, dict):
        stated = stated.get(kind)
    behaviour = _EXHAUSTED_ALIASES.get(str(stated), str(stated)) if stated else ""
    if (behaviour, kind) not in EXHAUSTED:
        behaviour = EXHAUSTED_DEFAULT[kind]
    words = EXHAUSTED[(behaviour, kind)]
    return {"exhausted": behaviour, "exhausted_fr": words["fr"], "exhausted_en": words["en"]}


def check_alerts(*, customer_id: str, line_id: str) -> list[str]:
    """Raise what the current cycle deserves; dedup keys make each alert once per cycle."""
    moment = now()
    try:
        line, by_cycle = line_and_cycles(customer_id, line_id)
    except NotFound:
        return []
    if line.status != "active":
        return []
    start = cycles.cycle_start(moment.date(), int(line.anchor_day))
    usage = by_cycle.get(start.isoformat())
    if usage is None:
        return []
    totals = {k: float(getattr(usage, cycles.BASE_ATTR[k]) or 0) for k in cycles.KINDS}
    plan = line.plan.as_dict()
    options = [plain(o) for o in (line.options or [])]
    catalogue: list[dict[str, Any]] | None = None  # read once, and only when an alert is due
    allowed: set[str] = set()
    offers: dict[str, dict[str, str]] = {}

    def offer(kind: str) -> dict[str, str]:
        nonlocal catalogue, allowed
        if kind not in offers:
            if catalogue is None:
                entries = catalog.load_all()  # plans and options: one Query
                catalogue = suggestions.options_of(entries)
                allowed = catalog.compatible_options(plan, entries)
            choice = suggestions.cheapest(
                catalogue, plan=plan, line_options=options, kind=kind, moment=moment, allowed=allowed
            )
            offers[kind] = suggestions.alert_data(choice, line_id=line_id, kind=kind)
        return offers[kind]

    raised = []
    for figure in cycles.figures(plan=plan, options=options, totals=totals, start=start, now=moment):
        if figure.included is None or not figure.included:
            continue
        base = {
            "line_id": line_id,
            "msisdn": line.msisdn,
            "allowance": figure.kind,
            "allowance_fr": ALLOWANCE_NAMES["fr"][figure.kind],
            "allowance_en": ALLOWANCE_NAMES["en"][figure.kind],
            "cycle_start": start.isoformat(),
        }
        for threshold in THRESHOLDS:
            if (figure.percent or 0) >= threshold:
                key = f"usage:{line_id}:{start.isoformat()}:{figure.kind}:{threshold}"
                now_on = exhausted(plan, figure.kind) if threshold == 100 else {}
                inbox.notify(
                    customer_id=customer_id,
                    kind=f"usage.threshold_{threshold}",
                    data={**base, "percent": str(threshold), **now_on, **offer(figure.kind)},
                    dedup_key=key,
                )
                raised.append(key)
        runs_out = figure.runs_out_on
        if (
            runs_out is not None
            and (figure.percent or 0) < 100
            and (figure.end - runs_out).days > PACE_MARGIN_DAYS
        ):
            key = f"usage:{line_id}:{start.isoformat()}:{figure.kind}:pace"
            inbox.notify(
                customer_id=customer_id,
                kind="usage.pace",
                data={**base, "runs_out_on": runs_out.isoformat(), **offer(figure.kind)},
                dedup_key=key,
            )
            raised.append(key)
    return raised
