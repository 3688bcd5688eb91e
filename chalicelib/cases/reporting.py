"""Why customers contact us: cases opened per topic over a period, for the help report
(chalicelib/help/report.py asks `case_topics`)."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.cases.models import CaseTopicStat
from chalicelib.common.clock import epoch

__all__ = ["STAT_SHARDS", "case_topics", "stat_for"]

STAT_SHARDS = 4
KEEP = timedelta(days=400)  # a year of reports, then TTL


def _pk(day: date, shard: int) -> str:
    return f"CASESTAT#{day.strftime('%Y%m%d')}#{shard}"


def stat_for(topic: str, moment: datetime) -> CaseTopicStat:
    """The counter an opening adds 1 to (a random shard of the day)."""
    return CaseTopicStat(
        _pk(moment.date(), secrets.randbelow(STAT_SHARDS)),
        f"TOPIC#{topic}",
        topic=topic,
        expires_at=epoch(moment + KEEP),
    )


def case_topics(start: date, end: date) -> list[dict[str, Any]]:
    """Cases opened per topic from `start` to `end` (inclusive), most first: one Query a day and shard."""
    totals: dict[str, int] = {}
    for n in range((end - start).days + 1):
        for shard in range(STAT_SHARDS):
            for item in CaseTopicStat.query(_pk(start + timedelta(days=n), shard)):
                totals[item.topic] = totals.get(item.topic, 0) + int(item.cases)
    return [{"topic": t, "cases": c} for t, c in sorted(totals.items(), key=lambda tc: (-tc[1], tc[0]))]
