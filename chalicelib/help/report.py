"""The admin report (`admin_help_report {from, to}`): what people search, what finds nothing, which
answers do not help, and why customers contact us.

It adds up the day counters of stats.py over the period (4 shards a day: one Query each) and the
vote counters of each day; the least useful articles are named with their current title.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from chalicelib.help.models import (
    STAT_SHARDS,
    HelpArticleStat,
    HelpLive,
    HelpQueryStat,
    article_stat_pk,
    live_key,
    query_stat_pk,
)
from chalicelib.help.schemas import ReportEvent
from chalicelib.help.stats import day_key
from chalicelib.store.models import plain

# The cases capability names why customers contact us; it answers through this function.
CASE_TOPICS_MODULE = "chalicelib.cases.reporting"
CASE_TOPICS_FUNCTION = "case_topics"  # (start: date, end: date) -> list[{"topic": str, "cases": int}]


def _days(start: date, end: date) -> list[str]:
    return [day_key(start + timedelta(days=n)) for n in range((end - start).days + 1)]


def _queries(days: list[str]) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for day in days:
        for shard in range(STAT_SHARDS):
            for item in HelpQueryStat.query(query_stat_pk(day, shard)):
                row = totals.setdefault(
                    item.SK,
                    {"query": item.text, "lang": item.lang, "searches": 0, "no_result": 0, "opened": 0},
                )
                row["searches"] += int(item.searches or 0)
                row["no_result"] += int(item.no_result or 0)
                row["opened"] += int(item.opened or 0)
    return list(totals.values())


def _votes(days: list[str]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for day in days:
        for shard in range(STAT_SHARDS):
            for item in HelpArticleStat.query(article_stat_pk(day, shard)):
                row = totals.setdefault(item.article_id, {"helpful": 0, "not_helpful": 0})
                row["helpful"] += int(item.helpful or 0)
                row["not_helpful"] += int(item.not_helpful or 0)
    return totals


def _titles(article_ids: list[str]) -> dict[str, str]:
    if not article_ids:
        return {}
    found = HelpLive.batch_get([live_key(a) for a in article_ids])
    return {live.article_id: str(plain(plain(live.document)["content"])["fr"]["title"]) for live in found}


def case_topics(start: date, end: date) -> list[dict[str, Any]]:
    """Contact reasons of the cases opened in the period, from the cases capability when it is
    deployed with this function; an empty list until then."""
    try:
        module = importlib.import_module(CASE_TOPICS_MODULE)
    except ModuleNotFoundError as missing:
        if missing.name is not None and CASE_TOPICS_MODULE.startswith(missing.name):
            return []
        raise
    source: Callable[[date, date], list[dict[str, Any]]] | None = getattr(module, CASE_TOPICS_FUNCTION, None)
    return list(source(start, end)) if source is not None else []


def report(event: ReportEvent) -> dict[str, Any]:
    days = _days(event.from_, event.to)
    queries = _queries(days)
    limit = event.limit
    top = sorted(queries, key=lambda r: (-r["searches"], r["query"]))[:limit]
    no_answer = sorted((r for r in queries if r["no_result"]), key=lambda r: (-r["no_result"], r["query"]))[
        :limit
    ]
    never_opened = sorted(
        (r for r in queries if r["searches"] > r["no_result"] and not r["opened"]),
        key=lambda r: (-r["searches"], r["query"]),
    )[:limit]
    votes = _votes(days)
    rated: list[dict[str, Any]] = [
        {
            "article_id": article_id,
            "votes": v["helpful"] + v["not_helpful"],
            "not_helpful": v["not_helpful"],
            "helpful_percent": round(100 * v["helpful"] / (v["helpful"] + v["not_helpful"])),
        }
        for article_id, v in votes.items()
        if v["helpful"] + v["not_helpful"] >= event.min_votes
    ]
    least_useful = sorted(rated, key=lambda r: (r["helpful_percent"], -r["votes"], r["article_id"]))[:limit]
    titles = _titles([r["article_id"] for r in least_useful])
    for row in least_useful:
        row["title"] = titles.get(row["article_id"])  # None: no longer published
    return {
        "from": event.from_.isoformat(),
        "to": event.to.isoformat(),
        "totals": {
            "searches": sum(r["searches"] for r in queries),
            "searches_without_result": sum(r["no_result"] for r in queries),
            "results_opened": sum(r["opened"] for r in queries),
            "votes": sum(v["helpful"] + v["not_helpful"] for v in votes.values()),
            "votes_not_helpful": sum(v["not_helpful"] for v in votes.values()),
        },
        "top_searches": top,
        "searches_without_answer": no_answer,
        "searches_never_opened": never_opened,
        "least_useful_articles": least_useful,
        "case_topics": case_topics(event.from_, event.to),
    }
