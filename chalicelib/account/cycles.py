"""Billing cycles and the usage figures a customer sees.

A cycle starts on the line's anchor day (1..28) and ends the day before the next one. Records
count in the cycle they occurred in (UTC), however late they arrive. Base units are stored (data KB,
voice seconds, SMS); allowances are in MB, minutes and messages, as plans are sold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.common import clock

KINDS = ("data", "voice", "sms")
ALLOWANCE_KEY = {"data": "data_mb", "voice": "voice_min", "sms": "sms"}
UNIT = {"data": "MB", "voice": "min", "sms": "sms"}
BASE_ATTR = {"data": "data_kb", "voice": "voice_s", "sms": "sms"}


def cycle_start(day: date, anchor_day: int) -> date:
    if day.day >= anchor_day:
        return day.replace(day=anchor_day)
    previous = day.replace(day=1) - timedelta(days=1)
    return previous.replace(day=anchor_day)


def next_cycle_start(start: date) -> date:
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return date(year, month, start.day)


def to_allowance_unit(kind: str, base: float) -> float:
    if kind == "data":
        return round(base / 1024, 1)  # KB → MB
    if kind == "voice":
        return math.ceil(base / 60)  # seconds → started minutes
    return base


def in_force(option: dict[str, Any], at: datetime) -> bool:
    """Whether an option counts at `at`: from its `starts_at` (if any) until its `ends_at` (if
    any; a top-up or a removed option ends with its cycle). Options set by admins have neither."""
    starts, ends = option.get("starts_at"), option.get("ends_at")
    if starts and datetime.fromisoformat(starts) > at:
        return False
    return not (ends and datetime.fromisoformat(ends) <= at)


def included(
    plan: dict[str, Any], options: list[dict[str, Any]], kind: str, *, at: datetime | None = None
) -> float | None:
    """The allowance of a kind across plan and the options in force at `at` (default: now);
    None means unlimited, 0 means none."""
    moment = at or clock.now()
    total = 0.0
    for source in [plan, *(o for o in options if in_force(o, moment))]:
        allowances = source.get("allowances") or {}
        key = ALLOWANCE_KEY[kind]
        if key in allowances:
            if allowances[key] is None:
                return None
            total += float(allowances[key])
    return total


@dataclass(frozen=True)
class Figure:
    kind: str
    used: float
    included: float | None
    start: date
    end: date  # exclusive
    now: datetime

    @property
    def elapsed_days(self) -> float:
        begin = datetime.combine(self.start, datetime.min.time(), tzinfo=UTC)
        return max(0.0, (self.now - begin).total_seconds() / 86400)

    @property
    def total_days(self) -> int:
        return (self.end - self.start).days

    @property
    def projected(self) -> float | None:
        """Use at the end of the cycle at the current pace (after a day, to avoid wild guesses)."""
        if self.elapsed_days < 1:
            return None
        return round(self.used * self.total_days / self.elapsed_days, 1)

    @property
    def runs_out_on(self) -> date | None:
        if self.included is None or self.elapsed_days < 1 or self.used <= 0:
            return None
        if self.used >= self.included:
            return self.now.date()
        day = self.start + timedelta(days=self.included * self.elapsed_days / self.used)
        return day if day < self.end else None

    @property
    def percent(self) -> float | None:
        if self.included is None:
            return None
        if self.included == 0:
            return 100.0 if self.used > 0 else 0.0
        return round(100 * self.used / self.included, 1)

    def to_wire(self) -> dict[str, Any]:
        remaining = None if self.included is None else max(0.0, round(self.included - self.used, 1))
        runs_out = self.runs_out_on
        return {
            "kind": self.kind,
            "unit": UNIT[self.kind],
            "used": self.used,
            "included": self.included,
            "unlimited": self.included is None,
            "remaining": remaining,
            "percent": self.percent,
            "projected_at_cycle_end": self.projected,
            "projected_run_out_date": runs_out.isoformat() if runs_out else None,
        }


def figures(
    *,
    plan: dict[str, Any],
    options: list[dict[str, Any]],
    totals: dict[str, float],
    start: date,
    now: datetime,
) -> list[Figure]:
    end = next_cycle_start(start)
    return [
        Figure(
            kind=k,
            used=to_allowance_unit(k, totals.get(k, 0)),
            included=included(plan, options, k, at=now),
            start=start,
            end=end,
            now=now,
        )
        for k in KINDS
    ]
