"""Abroad: roaming zones, the welcome alert, and the data spending limit.

Zones, a closed set (a usage record names one, or none: `home`):
- `eu`: the EU/EEA. Roam like at home: usage counts against the home allowances, and data within
  the plan's fair-use cap (`eu_fair_use_gb`); data beyond it is charged at `eu_price_per_mb`.
- `zone_1`: the UK, Switzerland, the US and Canada; `zone_2`: the rest of the world. Each has its
  own included allowance (0 by default) and prices per MB, per started minute and per SMS beyond
  it; their usage never touches the home allowances.
The terms are the plan's (`roaming` in its catalogue entry: account/catalog.py), else DEFAULT_TERMS,
in minor units of the plan's currency.

Counters: the cycle item (`CycleUsage`) holds each zone's totals beside the home ones, written in
the same transaction that counts a record today (account/ingestion.py): no extra write, and the
exactly-once rule of ingestion holds for them. Charges are derived from these counters whenever
they are shown: data beyond the included allowance in started MB, voice in started minutes.

Welcome (`roaming.welcome`): once per zone and cycle (a cycle is the unit every usage alert uses,
and a trip rarely spans two), raised by the batch that counted the zone's records; its dedup key
makes it once under replayed and concurrent batches.

Data spending limit: per line, default 50 EUR excluding VAT (5000 minor units), on charged roaming
data (every zone's data charges, EU beyond fair use included). `roaming.spend_80` and
`roaming.spend_100` once each per cycle and limit (a new limit is a new promise). At 100 % the stop
is recorded on the cycle item (a conditional write: once): `data_stopped` is true and data carried
after it is not charged (the spend stays what it was at the stop; the network would bar roaming data
for the line at that moment). Raising the limit above the spend, or lifting it for the cycle
(`PUT /lines/{line_id}/roaming/data-limit`, passkey step-up `roaming.limit` bound to the line and the
new limit), resumes data; what was carried while stopped is waived. Voice and SMS charges are shown
but not capped: the limit is on data, as the EU rules have it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NamedTuple, Self

from pydantic import Field, model_validator

from chalicelib.account import cycles
from chalicelib.account.lines import line_key
from chalicelib.auth import stepup
from chalicelib.billing.money import format_money
from chalicelib.common.clock import iso, now
from chalicelib.common.languages import phone_number
from chalicelib.common.strict import JsonInt, Strict
from chalicelib.errors import NotFound
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.store.db import ConditionsFailed, retry_conflicts, transaction
from chalicelib.store.models import CycleUsage, Line, customer_pk, cycle_sk

__all__ = [
    "ACTION",
    "DEFAULT_LIMIT",
    "DEFAULT_TERMS",
    "LimitChange",
    "MAX_LIMIT",
    "ROAMING_ZONES",
    "ZONES",
    "Zone",
    "check",
    "cycle_attrs",
    "describe",
    "line_summary",
    "set_limit",
    "usage_list",
    "view",
]

Zone = Literal["home", "eu", "zone_1", "zone_2"]
ZONES: tuple[Zone, ...] = ("home", "eu", "zone_1", "zone_2")
ROAMING_ZONES: tuple[Zone, ...] = ("eu", "zone_1", "zone_2")
ZONE_NAMES: dict[str, dict[str, str]] = {
    "eu": {"fr": "Union européenne et EEE", "en": "European Union and EEA"},
    "zone_1": {
        "fr": "Zone 1 (Royaume-Uni, Suisse, États-Unis, Canada)",
        "en": "Zone 1 (United Kingdom, Switzerland, United States, Canada)",
    },
    "zone_2": {"fr": "Zone 2 (reste du monde)", "en": "Zone 2 (rest of the world)"},
}
ACTION = "roaming.limit"  # step-up action (auth/stepup.py)
DEFAULT_LIMIT = 5000  # 50 EUR excluding VAT, as the EU rules set the default cut-off
MAX_LIMIT = 100_000  # 1,000 EUR: beyond, the customer lifts the limit for the cycle instead
THRESHOLDS = (80, 100)
ATTEMPTS = 3  # a stop recorded between our read and write: read again and redo the change
# Plans without `roaming` terms: what the help pages promise.
DEFAULT_TERMS: dict[str, Any] = {
    "eu_fair_use_gb": 10,
    "eu_price_per_mb": 1,
    "zone_1": {
        "data_mb": 0,
        "voice_min": 0,
        "sms": 0,
        "price_per_mb": 2,
        "price_per_min": 50,
        "price_per_sms": 20,
    },
    "zone_2": {
        "data_mb": 0,
        "voice_min": 0,
        "sms": 0,
        "price_per_mb": 10,
        "price_per_min": 150,
        "price_per_sms": 40,
    },
}


def cycle_attrs(zone: str, kind: str) -> tuple[str, ...]:
    """The cycle item's counters a record of this zone and kind adds to: EU usage counts at home
    too (roam like at home), other zones' only in their own."""
    base = cycles.BASE_ATTR[kind]
    if zone == "home":
        return (base,)
    if zone == "eu":
        return (base, f"eu_{base}")
    return (f"{zone}_{base}",)


def terms_of(plan: dict[str, Any]) -> dict[str, Any]:
    stated = plan.get("roaming")
    return stated if isinstance(stated, dict) else DEFAULT_TERMS


def _count(item: CycleUsage | None, zone: str, kind: str) -> int:
    return int(getattr(item, f"{zone}_{cycles.BASE_ATTR[kind]}") or 0) if item else 0


@dataclass(frozen=True)
class ZoneUse:
    zone: str
    data_kb: int
    voice_s: int
    sms: int
    included: dict[str, int | None]  # data_mb, voice_min, sms (None: the home allowance applies)
    data_charge: int
    voice_charge: int
    sms_charge: int

    def to_wire(self, currency: str) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "as_home": self.zone == "eu",
            "data_mb": cycles.to_allowance_unit("data", self.data_kb),
            "voice_min": cycles.to_allowance_unit("voice", self.voice_s),
            "sms": self.sms,
            "included": self.included,
            "charged": {
                "amount": self.data_charge + self.voice_charge + self.sms_charge,
                "currency": currency,
            },
        }


def _beyond(used: int, included: int, per_unit: int) -> int:
    """Started units beyond what is included (`per_unit` base units in one sold unit)."""
    return math.ceil(max(0, used - included * per_unit) / per_unit)


def zone_use(plan: dict[str, Any], item: CycleUsage | None, zone: str) -> ZoneUse:
    terms = terms_of(plan)
    kb, seconds, sms = (_count(item, zone, k) for k in cycles.KINDS)
    if zone == "eu":
        fair_mb = int(terms["eu_fair_use_gb"]) * 1024
        return ZoneUse(
            zone=zone,
            data_kb=kb,
            voice_s=seconds,
            sms=sms,
            included={"data_mb": fair_mb, "voice_min": None, "sms": None},
            data_charge=_beyond(kb, fair_mb, 1024) * int(terms["eu_price_per_mb"]),
            voice_charge=0,
            sms_charge=0,
        )
    own = terms[zone]
    return ZoneUse(
        zone=zone,
        data_kb=kb,
        voice_s=seconds,
        sms=sms,
        included={"data_mb": int(own["data_mb"]), "voice_min": int(own["voice_min"]), "sms": int(own["sms"])},
        data_charge=_beyond(kb, int(own["data_mb"]), 1024) * int(own["price_per_mb"]),
        voice_charge=_beyond(seconds, int(own["voice_min"]), 60) * int(own["price_per_min"]),
        sms_charge=_beyond(sms, int(own["sms"]), 1) * int(own["price_per_sms"]),
    )


@dataclass(frozen=True)
class Spend:
    limit: int
    default: bool
    lifted: bool
    gross: int  # every data charge of the cycle
    waived: int  # charges of data carried while stopped
    spent: int  # what counts against the limit
    stop_spent: int | None  # set: data is stopped
    currency: str

    @property
    def stopped(self) -> bool:
        return self.stop_spent is not None

    @property
    def percent(self) -> float:
        return round(100 * self.spent / self.limit, 1)


def spend(line: Line, item: CycleUsage | None) -> Spend:
    plan = line.plan.as_dict()
    gross = sum(zone_use(plan, item, z).data_charge for z in ROAMING_ZONES)
    waived = int(item.roaming_waived or 0) if item else 0
    lifted = bool(item.roaming_lifted) if item else False
    stop = item.roaming_stop_spent if item and not lifted else None
    stop_spent = int(stop) if stop is not None else None
    return Spend(
        limit=int(line.roaming_limit) if line.roaming_limit is not None else DEFAULT_LIMIT,
        default=line.roaming_limit is None,
        lifted=lifted,
        gross=gross,
        waived=waived,
        spent=stop_spent if stop_spent is not None else max(0, gross - waived),
        stop_spent=stop_spent,
        currency=str(plan.get("currency") or "EUR"),
    )


def usage_list(line: Line, item: CycleUsage | None) -> list[dict[str, Any]]:
    """`roaming` of a usage block: each roaming zone's usage this cycle, what is included, what is charged."""
    plan = line.plan.as_dict()
    currency = str(plan.get("currency") or "EUR")
    return [zone_use(plan, item, z).to_wire(currency) for z in ROAMING_ZONES]


def line_summary(line: Line, item: CycleUsage | None) -> dict[str, Any]:
    """`roaming` of a line: whether data is stopped abroad, the limit and what counts against it."""
    state = spend(line, item)
    return {
        "data_stopped": state.stopped,
        "limit": {"amount": state.limit, "currency": state.currency},
        "lifted": state.lifted,
        "spent": {"amount": state.spent, "currency": state.currency},
    }


def _tariff(plan: dict[str, Any], zone: str) -> dict[str, Any]:
    terms = terms_of(plan)
    if zone == "eu":
        return {
            "as_home": True,
            "fair_use_data_mb": int(terms["eu_fair_use_gb"]) * 1024,
            "included": {"data_mb": int(terms["eu_fair_use_gb"]) * 1024, "voice_min": None, "sms": None},
            "prices": {"per_mb": int(terms["eu_price_per_mb"]), "per_min": 0, "per_sms": 0},
        }
    own = terms[zone]
    return {
        "as_home": False,
        "fair_use_data_mb": None,
        "included": {
            "data_mb": int(own["data_mb"]),
            "voice_min": int(own["voice_min"]),
            "sms": int(own["sms"]),
        },
        "prices": {
            "per_mb": int(own["price_per_mb"]),
            "per_min": int(own["price_per_min"]),
            "per_sms": int(own["price_per_sms"]),
        },
    }


def _current(line: Line, by_cycle: dict[str, CycleUsage]) -> tuple[date, CycleUsage | None]:
    start = cycles.cycle_start(now().date(), int(line.anchor_day))
    return start, by_cycle.get(start.isoformat())


def view(*, customer_id: str, line_id: str) -> dict[str, Any]:
    """`GET /lines/{line_id}/roaming`: the limit, the spend, the state, each zone's tariff and use
    (one Query: the line and its cycles)."""
    from chalicelib.account.views import line_and_cycles  # views shows roaming: imported when used

    line, by_cycle = line_and_cycles(customer_id, line_id)
    return _view(line, *_current(line, by_cycle))


def _view(line: Line, start: date, item: CycleUsage | None) -> dict[str, Any]:
    plan = line.plan.as_dict()
    state = spend(line, item)
    money = {"currency": state.currency}
    end = cycles.next_cycle_start(start)
    uses = {z: zone_use(plan, item, z).to_wire(state.currency) for z in ROAMING_ZONES}
    return {
        "line_id": line.line_id,
        "cycle": {"start": start.isoformat(), "end": date.fromordinal(end.toordinal() - 1).isoformat()},
        "data_limit": {
            "amount": state.limit,
            "currency": state.currency,
            "default": state.default,
            "lifted": state.lifted,
            "excluding_vat": True,
        },
        "spent": {"amount": state.spent, **money},
        "waived": {"amount": state.waived, **money},
        "percent": state.percent,
        "data_stopped": state.stopped,
        "stopped_at": item.roaming_stopped_at if item and state.stopped else None,
        "zones": [
            {
                "zone": z,
                "name": ZONE_NAMES[z],
                "currency": state.currency,
                **_tariff(plan, z),
                "usage": uses[z],
            }
            for z in ROAMING_ZONES
        ],
    }


# --- alerts, from the ingestion of a batch ---------------------------------------------------------


def _tariff_words(plan: dict[str, Any], zone: str, language: str) -> str:
    tariff = _tariff(plan, zone)
    currency = str(plan.get("currency") or "EUR")
    prices = {k: format_money(v, currency, language=language) for k, v in tariff["prices"].items()}
    if zone == "eu":
        gb = int(terms_of(plan)["eu_fair_use_gb"])
        if language == "fr":
            return (
                f"Votre forfait s'applique comme en France, dont {gb} Go d'internet ; "
                f"au-delà, {prices['per_mb']} le Mo."
            )
        return f"Your plan applies as at home, with {gb} GB of data; beyond that, {prices['per_mb']} per MB."
    included = tariff["included"]
    if language == "fr":
        head = (
            f"Inclus : {included['data_mb']} Mo d'internet, {included['voice_min']} min d'appels, "
            f"{included['sms']} SMS ; au-delà"
            if any(included.values())
            else "Rien n'est inclus"
        )
        return (
            f"{head} : {prices['per_mb']} le Mo, {prices['per_min']} la minute, {prices['per_sms']} le SMS."
        )
    head = (
        f"Included: {included['data_mb']} MB of data, {included['voice_min']} min of calls, "
        f"{included['sms']} texts; beyond that"
        if any(included.values())
        else "Nothing is included"
    )
    return f"{head}: {prices['per_mb']} per MB, {prices['per_min']} per minute, {prices['per_sms']} per text."


def check(*, customer_id: str, line: Line, item: CycleUsage, start: date, zones: set[str]) -> list[str]:
    """After a batch counted usage of this line's current cycle: the welcome of each roaming zone
    the batch touched, then the spending limit's alerts and stop. Dedup keys make each once."""
    plan = line.plan.as_dict()
    raised: list[str] = []
    state = spend(line, item)
    base = {
        "line_id": line.line_id,
        "msisdn": line.msisdn,
        "number": phone_number(line.msisdn),
        "cycle_start": start.isoformat(),
        "limit_minor": str(state.limit),
        "currency": state.currency,
    }
    for zone in ROAMING_ZONES:
        if zone not in zones or not any(_count(item, zone, k) for k in cycles.KINDS):
            continue
        key = f"roaming:{line.line_id}:{start.isoformat()}:{zone}:welcome"
        inbox.notify(
            customer_id=customer_id,
            kind="roaming.welcome",
            data={
                **base,
                "zone": zone,
                "zone_fr": ZONE_NAMES[zone]["fr"],
                "zone_en": ZONE_NAMES[zone]["en"],
                "tariff_fr": _tariff_words(plan, zone, "fr"),
                "tariff_en": _tariff_words(plan, zone, "en"),
            },
            dedup_key=key,
        )
        raised.append(key)
    return raised + _spend_alerts(customer_id=customer_id, line=line, item=item, start=start).keys


class _Alerted(NamedTuple):
    keys: list[str]  # the alerts' dedup keys
    item: CycleUsage | None  # the cycle item as stored after them (the stop included)
    stale: bool  # another writer changed the stop meanwhile: `item` is not what is stored


def _spend_alerts(*, customer_id: str, line: Line, item: CycleUsage | None, start: date) -> _Alerted:
    """The limit's 80 % or 100 % alert, and at 100 % the stop."""
    state = spend(line, item)
    if state.lifted or state.spent <= 0:
        return _Alerted([], item, stale=False)
    reached = [t for t in THRESHOLDS if state.spent * 100 >= state.limit * t]
    if not reached:
        return _Alerted([], item, stale=False)
    threshold = reached[-1]  # at 100 %, the 80 % notice would only be noise
    stale = False
    if threshold == 100 and not state.stopped:
        stored = _record_stop(customer_id=customer_id, line=line, start=start, spent=state.spent)
        item, stale = (stored, False) if stored is not None else (item, True)
    key = f"roaming:{line.line_id}:{start.isoformat()}:{state.limit}:spend_{threshold}"
    inbox.notify(
        customer_id=customer_id,
        kind=f"roaming.spend_{threshold}",
        data={
            "line_id": line.line_id,
            "msisdn": line.msisdn,
            "number": phone_number(line.msisdn),
            "cycle_start": start.isoformat(),
            "percent": str(threshold),
            "spent_minor": str(min(state.spent, state.limit) if threshold == 100 else state.spent),
            "limit_minor": str(state.limit),
            "currency": state.currency,
        },
        dedup_key=key,
    )
    return _Alerted([key], item, stale=stale)


def _cycle(customer_id: str, line_id: str, start: date) -> CycleUsage:
    return CycleUsage(customer_pk(customer_id), cycle_sk(line_id, start))


def _record_stop(*, customer_id: str, line: Line, start: date, spent: int) -> CycleUsage | None:
    """Data stops: once per cycle (a condition, not process memory), never on a lifted limit.
    The cycle item as stored after the stop (the update answers it); None when the condition
    failed (stopped or lifted by another writer meanwhile)."""
    from pynamodb.exceptions import UpdateError

    cycle = _cycle(customer_id, line.line_id, start)
    try:
        retry_conflicts(
            lambda: cycle.update(
                actions=[
                    CycleUsage.roaming_stop_spent.set(spent),
                    CycleUsage.roaming_stopped_at.set(iso(now())),
                ],
                condition=CycleUsage.roaming_stop_spent.does_not_exist()
                & (CycleUsage.roaming_lifted.does_not_exist() | (CycleUsage.roaming_lifted == False)),  # noqa: E712 - a condition, not a comparison
            ),
            what="cycle_usage",
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return None
    # The network side: here the policy server would bar roaming data for this line until resumed.
    log_event("roaming_data_stopped", line=line.line_id, cycle=start.isoformat(), spent=spent)
    return cycle


# --- the customer's change of the limit -----------------------------------------------------------


class LimitChange(Strict):
    """A new limit in minor units excluding VAT, or the limit lifted for the cycle: one of them."""

    amount: JsonInt | None = Field(default=None, ge=1, le=MAX_LIMIT, description="Minor units, excluding VAT")
    lifted: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_of_them(self) -> Self:
        if (self.amount is None) == (self.lifted is None):
            raise ValueError("send either `amount` or `lifted: true`")
        return self


def describe(*, customer_id: str, params: dict[str, Any]) -> dict[str, str]:
    """The step-up statement's detail: the line's number and the new limit (404 for another's line)."""
    try:
        line = Line.get(*line_key(customer_id, params["line_id"]))
    except Line.DoesNotExist:
        raise NotFound("No such line.", code="line_not_found") from None
    number = phone_number(line.msisdn)
    if params.get("lifted"):
        return {
            "fr": f"{number} : levé jusqu'à la fin du cycle",
            "en": f"{number}: lifted until the end of the cycle",
        }
    currency = str(line.plan.as_dict().get("currency") or "EUR")
    amount = int(params["amount"])
    return {
        "fr": f"{number} : {format_money(amount, currency, language='fr')} HT par cycle",
        "en": f"{number}: {format_money(amount, currency, language='en')} excluding VAT per cycle",
    }


def set_limit(
    *,
    customer_id: str,
    session_id: str,
    line_id: str,
    amount: int | None,
    challenge_id: str,
    credential: dict[str, Any],
) -> dict[str, Any]:
    """A new limit (`amount`) or the limit lifted for the cycle (`amount` None), confirmed with a
    passkey bound to exactly that. Raising it above the spend or lifting it resumes data (what was
    carried while stopped is waived); a limit already reached stops data at once. The same change
    twice leaves the same state."""
    params: dict[str, Any] = {
        "line_id": line_id,
        **({"amount": amount} if amount is not None else {"lifted": True}),
    }
    from chalicelib.account.views import line_and_cycles  # views shows roaming: imported when used

    # Consistent: the change is conditioned on what is read. Another customer's line: 404 before
    # the challenge is spent.
    line, by_cycle = line_and_cycles(customer_id, line_id, consistent=True)
    stepup.confirm(
        customer_id=customer_id,
        session_id=session_id,
        action=ACTION,
        params=params,
        challenge_id=challenge_id,
        credential=credential,
    )
    pk, sk = line_key(customer_id, line_id)
    for attempt in range(ATTEMPTS):
        if attempt:
            line, by_cycle = line_and_cycles(customer_id, line_id, consistent=True)
        start, item = _current(line, by_cycle)
        state = spend(line, item)
        new_limit = state.limit if amount is None else amount
        resume = state.stopped and (amount is None or new_limit > state.spent)
        actions: list[Any] = [
            CycleUsage.type.set(CycleUsage),
            CycleUsage.line_id.set(line_id),
            CycleUsage.cycle_start.set(start.isoformat()),
            CycleUsage.roaming_lifted.set(amount is None),
        ]
        if resume:
            actions += [
                CycleUsage.roaming_waived.set(state.gross - state.spent),
                CycleUsage.roaming_stop_spent.remove(),
                CycleUsage.roaming_stopped_at.remove(),
            ]
        as_read = (
            CycleUsage.roaming_stop_spent == state.stop_spent
            if state.stop_spent is not None
            else CycleUsage.roaming_stop_spent.does_not_exist()
        )
        try:
            with transaction() as tx:
                if amount is not None:
                    tx.update(
                        Line(pk, sk),
                        actions=[Line.roaming_limit.set(amount)],
                        condition=Line.line_id.exists(),
                        label="line",
                    )
                tx.update(
                    _cycle(customer_id, line_id, start), actions=actions, condition=as_read, label="stop"
                )
        except ConditionsFailed as failed:
            if "line" in failed.labels:
                raise NotFound("No such line.", code="line_not_found") from None
            continue
        log_event("roaming_limit_set", line=line_id, limit=new_limit, lifted=amount is None, resumed=resume)
        break
    else:
        raise RuntimeError("too much contention on one line's cycle")
    # Read once more rather than apply the change to what was read: usage counted since (whose own
    # alerts were judged against the old limit) counts towards the new one.
    line, by_cycle = line_and_cycles(customer_id, line_id, consistent=True)
    start, item = _current(line, by_cycle)
    # A limit already reached (lowered below the spend) stops data now, with its alert; the stop's
    # update answers the cycle as stored, so the view needs no read of its own.
    alerted = _spend_alerts(customer_id=customer_id, line=line, item=item, start=start)
    if alerted.stale:
        line, by_cycle = line_and_cycles(customer_id, line_id, consistent=True)
        start, item = _current(line, by_cycle)
    else:
        item = alerted.item
    return _view(line, start, item)
