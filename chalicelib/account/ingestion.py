"""Usage records from the network's mediation system (SQS), counted exactly once.

A batch is validated record by record (a bad record is logged with its reason and skipped: it
never blocks the others and retrying it would not fix it), then aggregated by (line, day). The
whole batch is written in a few transactions (filled up to TX_ACTIONS, a line's days together):
each line-day's totals with the hashed ids of its records (`ADD counted`, conditioned on none of
them being counted already) and each touched cycle's totals once. So writes scale with the batch,
not with the records, lines or days (a 10-day replay: ~0.01 writes per record, against one
transaction per line-day before). When a condition fails because some records were counted before
(a redelivered message, a replayed batch, a concurrent handler), only those line-days are re-read
(one consistent BatchGetItem) and the transaction is sent again without their counted records. A
line's day and cycle are hot items (concurrent batches of one line): store/db.py retries the write
conflicts. A transaction that still fails fails only the messages with a record in it (SQS
redelivers them; their records already counted elsewhere are then duplicates). Records count in
the cycle they occurred in, however late they arrive.
Ids kept: 20 hex characters per record, so a line-day item holds ~19,000 records within
DynamoDB's 400 KB (mediation sends a line a few hundred a day); beyond it the day's write fails and
its messages go to the dead-letter queue after their retries, never counted twice.
After the writes, one consistent BatchGetItem reads every touched line and its cycles: `as_of`
(the newest record counted) is written only where it moves forward, and each current cycle is
checked for thresholds (80 %, 100 %) and pace, raised through `notify` with dedup keys, so each
fires once per allowance and cycle. Each names the option that fits (account/suggestions.py) and,
when the allowance is used up, what happens now.

Abroad (account/roaming.py): a record's `roaming_zone` (absent: `home`; one of roaming.ZONES, else
the record is rejected) picks the cycle's counters it adds to, in the same transaction: a roaming
record costs the same writes as a home one. The day's totals count every record (what the network
carried that day). Then the current cycle's roaming alerts (welcome, spending limit) are checked.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from chalicelib.account import catalog, cycles, roaming, suggestions
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
    Item,
    Line,
    LineOwner,
    customer_pk,
    cycle_sk,
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
CHUNK = 50  # records per day item and transaction: one NOT contains() each keeps its condition under 4 KB
TX_ACTIONS = 100  # DynamoDB's most per TransactWriteItems: a transaction's line-days and their cycles
LINE_PARTS = 31  # a line's line-days kept in one transaction (a month of days: 33 actions with its cycles)


class UsageRecord(Strict):
    event_id: str = Field(min_length=1, max_length=128)
    line_id: str = Field(pattern=r"^ln_[a-z0-9]{4,32}$")
    kind: Literal["data", "voice", "sms"]
    quantity: int = Field(ge=0, le=100_000_000, description="data: KB, voice: seconds, sms: messages")
    occurred_at: datetime
    roaming_zone: roaming.Zone | None = None  # absent: home

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a time zone (UTC, ...Z)")
        if value.astimezone(UTC) > now().replace(microsecond=0) + _FUTURE_SLACK:
            raise ValueError("occurred_at is in the future")
        return value.astimezone(UTC)


@dataclass
class _Part:
    """Records of one line-day counted in one write (CHUNK at most)."""

    customer_id: str
    line_id: str
    day: date
    cycle: date
    records: dict[str, UsageRecord] = field(default_factory=dict)  # record hash -> record

    @property
    def label(self) -> str:
        return f"{self.line_id}#{self.day.isoformat()}"


@dataclass
class _Write:
    """One transaction: parts of distinct line-days, and the messages their records came in."""

    parts: list[_Part] = field(default_factory=list)
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
    by_line: dict[str, dict[date, dict[str, UsageRecord]]] = {}  # line -> day -> record hash -> record
    sources: defaultdict[tuple[str, str], set[str]] = defaultdict(set)  # (line, hash) -> its messages
    for message_id, record in records:
        if record.line_id not in owners:
            rejected += 1
            log_event("usage_record_rejected", message=message_id, reason="unknown line")
            continue
        digest = record_hash(record.event_id)
        days = by_line.setdefault(record.line_id, {})
        days.setdefault(record.occurred_at.date(), {}).setdefault(digest, record)
        sources[(record.line_id, digest)].add(message_id)

    counted = duplicates = 0
    failed: set[str] = set()
    newest: dict[tuple[str, str, date], str] = {}  # (customer, line, cycle) -> newest record counted
    touched: dict[tuple[str, str], set[str]] = {}  # (customer, line) -> roaming zones counted
    writes = _plan(owners, by_line, sources)
    for write, outcome in (o for w in writes for o in _write_isolating(w, sources)):
        if isinstance(outcome, Exception):
            log_event(
                "usage_write_failed",
                lines=sorted({p.line_id for p in write.parts}),
                parts=len(write.parts),
                error=type(outcome).__name__,
            )
            failed |= write.messages  # this write's messages are retried, the rest stand
            continue
        new, dup = outcome
        counted, duplicates = counted + new, duplicates + dup
        for part in write.parts:
            key = (part.customer_id, part.line_id, part.cycle)
            latest = iso(max(r.occurred_at for r in part.records.values()))
            newest[key] = max(newest.get(key, latest), latest)
            zones = touched.setdefault((part.customer_id, part.line_id), set())
            zones.update(r.roaming_zone for r in part.records.values() if r.roaming_zone)
    _after_writes(newest, touched, owners)
    log_event(
        "usage_batch",
        counted=counted,
        duplicates=duplicates,
        rejected=rejected,
        failed_messages=len(failed),
        writes=len(writes),
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


def _plan(
    owners: dict[str, LineOwner],
    by_line: dict[str, dict[date, dict[str, UsageRecord]]],
    sources: dict[tuple[str, str], set[str]],
) -> list[_Write]:
    """The batch's records → its transactions, each filled up to TX_ACTIONS (its line-days and
    each of their cycles once), a line's days kept in one transaction (up to LINE_PARTS of them):
    in the common case a handful of transactions for the whole batch, whatever the number of
    lines; a 10-day replay of 100 lines, ~8 lines a transaction. Fewer, fuller transactions: the
    per-call cost (a round trip, its serialisation) is paid less often, and a line's cycle is
    written once where its days meet. A line-day's records beyond CHUNK go to a later round (a
    transaction may not write one item twice)."""
    rounds: list[list[_Part]] = []
    for line_id, days in by_line.items():
        owner = owners[line_id]
        for day, records in sorted(days.items()):
            digests = list(records)
            for n, start in enumerate(range(0, len(digests), CHUNK)):
                if n == len(rounds):
                    rounds.append([])
                rounds[n].append(
                    _Part(
                        customer_id=owner.customer_id,
                        line_id=line_id,
                        day=day,
                        cycle=cycles.cycle_start(day, int(owner.anchor_day)),
                        records={h: records[h] for h in digests[start : start + CHUNK]},
                    )
                )
    writes: list[_Write] = []
    for parts in rounds:
        by_line_parts: dict[str, list[_Part]] = {}
        for part in parts:
            by_line_parts.setdefault(part.line_id, []).append(part)
        current, actions = _Write(), 0
        for line_parts in by_line_parts.values():
            for start in range(0, len(line_parts), LINE_PARTS):
                chunk = line_parts[start : start + LINE_PARTS]
                # Its day items and its cycles (each chunk is one line's: none shared with another's).
                cost = len(chunk) + len({p.cycle for p in chunk})
                if actions + cost > TX_ACTIONS:
                    writes.append(current)
                    current, actions = _Write(), 0
                current.parts.extend(chunk)
                actions += cost
        if current.parts:
            writes.append(current)
    for write in writes:
        write.messages = _messages(write.parts, sources)
    return writes


def _messages(parts: list[_Part], sources: dict[tuple[str, str], set[str]]) -> set[str]:
    return {m for p in parts for h in p.records for m in sources[(p.line_id, h)]}


def _write_isolating(
    write: _Write, sources: dict[tuple[str, str], set[str]]
) -> list[tuple[_Write, tuple[int, int] | Exception]]:
    """`_write`, and when a transaction of several lines fails all the same (conflicts past their
    retries, throttling, one line-day refused, e.g. grown past 400 KB), each line's part again in a
    transaction of its own: one line's trouble fails only the messages with a record of that line,
    never the others' it was sent with. Each outcome: (counted, duplicates) or the error."""
    try:
        return [(write, _write(write))]
    except Exception as error:  # noqa: BLE001 - reported to the caller, which fails these messages only
        lines: dict[str, list[_Part]] = {}
        for part in write.parts:
            lines.setdefault(part.line_id, []).append(part)
        if len(lines) == 1:
            return [(write, error)]
        log_event("usage_write_split", lines=len(lines), error=type(error).__name__)
    outcomes: list[tuple[_Write, tuple[int, int] | Exception]] = []
    for parts in lines.values():
        alone = _Write(parts=parts, messages=_messages(parts, sources))
        try:
            outcomes.append((alone, _write(alone)))
        except Exception as error:  # noqa: BLE001 - as above: only this line's messages are retried
            outcomes.append((alone, error))
    return outcomes


def _write(write: _Write) -> tuple[int, int]:
    """Count the write's records that are not counted yet, in one transaction; returns (counted,
    duplicates). A line-day whose condition fails (some of its records were counted by a
    redelivery, a replay or a concurrent handler) is re-read and only its other records are
    counted, in the same transaction as the others again."""
    total = sum(len(p.records) for p in write.parts)
    pending = {p.label: (p, dict(p.records)) for p in write.parts}
    for _ in range(MAX_RETRIES):
        pending = {label: (part, recs) for label, (part, recs) in pending.items() if recs}
        if not pending:
            return 0, total
        # the cycles': home, and each roaming zone; (customer, line, cycle start) -> sums
        in_cycle: dict[tuple[str, str, date], defaultdict[str, int]] = {}
        try:
            with transaction() as tx:
                for label, (part, recs) in pending.items():
                    totals: defaultdict[str, int] = defaultdict(int)  # the day's: every record
                    sums = in_cycle.setdefault((part.customer_id, part.line_id, part.cycle), defaultdict(int))
                    for record in recs.values():
                        totals[cycles.BASE_ATTR[record.kind]] += record.quantity
                        for attr in roaming.cycle_attrs(record.roaming_zone or "home", record.kind):
                            sums[attr] += record.quantity
                    not_counted = None
                    for digest in recs:
                        clause = ~DailyUsage.counted.contains(digest)
                        not_counted = clause if not_counted is None else not_counted & clause
                    tx.update(
                        _day_item(part),
                        actions=[
                            DailyUsage.type.set(DailyUsage),
                            DailyUsage.line_id.set(part.line_id),
                            DailyUsage.day.set(part.day.isoformat()),
                            DailyUsage.counted.add(set(recs)),
                            *[getattr(DailyUsage, attr).add(value) for attr, value in totals.items()],
                        ],
                        condition=DailyUsage.counted.does_not_exist() | not_counted,
                        label=label,
                    )
                for (customer_id, line_id, cycle), sums in in_cycle.items():
                    tx.update(
                        CycleUsage(customer_pk(customer_id), cycle_sk(line_id, cycle)),
                        actions=[
                            CycleUsage.type.set(CycleUsage),
                            CycleUsage.line_id.set(line_id),
                            CycleUsage.cycle_start.set(cycle.isoformat()),
                            *[getattr(CycleUsage, attr).add(value) for attr, value in sums.items()],
                        ],
                    )
        except ConditionsFailed as error:
            if not error.labels <= pending.keys():
                raise
            conflicted = [pending[label][0] for label in error.labels]
            keys = [(customer_pk(p.customer_id), _day_item(p).SK) for p in conflicted]
            seen = {
                (d.PK, d.SK): d.counted or set() for d in DailyUsage.batch_get(keys, consistent_read=True)
            }
            for part in conflicted:
                already = seen.get((customer_pk(part.customer_id), _day_item(part).SK), set())
                pending[part.label] = (
                    part,
                    {h: r for h, r in pending[part.label][1].items() if h not in already},
                )
            continue
        counted = sum(len(recs) for _, recs in pending.values())
        return counted, total - counted
    raise RuntimeError("too much contention on these line-days")


def _day_item(part: _Part) -> DailyUsage:
    return DailyUsage(customer_pk(part.customer_id), f"USAGEDAY#{part.line_id}#{part.day.isoformat()}")


def _after_writes(
    newest: dict[tuple[str, str, date], str],
    touched: dict[tuple[str, str], set[str]],
    owners: dict[str, LineOwner],
) -> None:
    """One consistent BatchGetItem of every touched line and cycle (and each line's current cycle):
    `as_of` is written only where it moves forward, and the alerts are checked on what was read,
    instead of one Query and one update per line."""
    moment = now()
    keys: set[tuple[str, str]] = set()
    current: dict[tuple[str, str], date] = {}
    for customer_id, line_id in touched:
        pk = customer_pk(customer_id)
        current[(customer_id, line_id)] = cycles.cycle_start(moment.date(), int(owners[line_id].anchor_day))
        keys.add((pk, f"LINE#{line_id}#META"))
        keys.add((pk, cycle_sk(line_id, current[(customer_id, line_id)])))
    keys |= {(customer_pk(c), cycle_sk(line_id, cycle)) for c, line_id, cycle in newest}
    try:
        read = {(i.PK, i.SK): i for i in Item.batch_get(keys, consistent_read=True)} if keys else {}
    except Exception as error:  # noqa: BLE001 - counted already: as_of as before, alerts with the next batch
        log_event("usage_alert_check_failed", error=type(error).__name__)
        read = None
    for (customer_id, line_id, cycle), moment_counted in newest.items():
        key = (customer_pk(customer_id), cycle_sk(line_id, cycle))
        item = read.get(key) if read is not None else None
        if isinstance(item, CycleUsage) and item.as_of is not None and item.as_of >= moment_counted:
            continue  # already as recent: no write
        _advance_as_of(CycleUsage(*key), moment_counted)
    if read is None:
        return
    for (customer_id, line_id), zones in touched.items():
        pk = customer_pk(customer_id)
        line = read.get((pk, f"LINE#{line_id}#META"))
        try:
            if not isinstance(line, Line):
                continue  # the line is gone: no alert
            if int(line.anchor_day) != int(owners[line_id].anchor_day):  # changed since: read it all
                check_alerts(customer_id=customer_id, line_id=line_id, zones=zones)
                continue
            start = current[(customer_id, line_id)].isoformat()
            usage = read.get((pk, cycle_sk(line_id, start)))
            by_cycle = {start: usage} if isinstance(usage, CycleUsage) else {}
            _raise_alerts(customer_id=customer_id, line=line, by_cycle=by_cycle, zones=zones, moment=moment)
        except Exception as error:  # noqa: BLE001 - alerts are retried with the next batch of this line
            log_event("usage_alert_check_failed", line=line_id, error=type(error).__name__)


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


def check_alerts(*, customer_id: str, line_id: str, zones: set[str] | None = None) -> list[str]:
    """Raise what the current cycle deserves; dedup keys make each alert once per cycle. `zones`:
    the roaming zones the batch counted (their welcome is due)."""
    moment = now()
    try:
        line, by_cycle = line_and_cycles(customer_id, line_id)
    except NotFound:
        return []
    return _raise_alerts(customer_id=customer_id, line=line, by_cycle=by_cycle, zones=zones, moment=moment)


def _raise_alerts(
    *,
    customer_id: str,
    line: Line,
    by_cycle: dict[str, CycleUsage],
    zones: set[str] | None,
    moment: datetime,
) -> list[str]:
    """check_alerts on a line and its cycles already read (by `ingest`'s one BatchGetItem)."""
    line_id = line.line_id
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
    return raised + roaming.check(
        customer_id=customer_id, line=line, item=usage, start=start, zones=zones or set()
    )
