"""What finds nothing is measured: searches without result, results never opened, answers voted
not helpful, each normalised and counted per day with no personal data; the admin report reads
them back; CloudWatch metrics for the dashboard."""

from __future__ import annotations

import dataclasses
import json
import random
import string
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.usefixtures("demo_help")


def word() -> str:
    """A made-up word no article has (letters only: digits are dropped by normalisation)."""
    return "zq" + "".join(random.choices(string.ascii_lowercase, k=10))


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def report(**extra: Any) -> dict[str, Any]:
    from chalicelib.help import admin

    result = admin.report({"from": today(), "to": today(), "limit": 100, **extra})
    assert "error" not in result, result
    return result


def stat_items(text: str) -> list[Any]:
    """Every counter item of today whose normalised text is `text`, all shards."""
    from chalicelib.help.models import STAT_SHARDS, HelpQueryStat, query_stat_pk

    day = datetime.now(UTC).strftime("%Y%m%d")
    return [
        item
        for shard in range(STAT_SHARDS)
        for item in HelpQueryStat.query(query_stat_pk(day, shard))
        if item.text == text
    ]


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the metrics emitted (as EMF lines, the stage set to dev so they are written)."""
    from chalicelib.config import get_settings
    from chalicelib.observability import metrics

    names: list[str] = []
    monkeypatch.setattr(metrics, "get_settings", lambda: dataclasses.replace(get_settings(), stage="dev"))
    monkeypatch.setattr(
        metrics,
        "write_line",
        lambda line: names.append(next(k for k in json.loads(line) if k not in ("_aws", "Stage"))),
    )
    return names


def test_a_search_with_no_result_is_counted_normalised_without_personal_data(help_api, enrol, emitted):
    """Signed in, with a phone number, an email and accents in the text: the counter holds the
    folded words only, no customer id, no number, no email; the metric fires."""
    customer = enrol()
    unknown = word()
    typed = f"  Résiliation   CONTRAT 06 12 34 56 78 jean.dupont@example.com {unknown.upper()} "
    response = help_api.get(f"/help/search?{urlencode({'q': typed, 'lang': 'fr'})}", token=customer.token)
    assert response.status == 200 and response.body["results"] == []
    assert "HelpSearchNoResult" in emitted
    (item,) = stat_items(f"resiliation contrat {unknown}")
    assert (int(item.searches), int(item.no_result), int(item.opened)) == (1, 1, 0)
    stored = json.dumps(item.attribute_values, default=str)
    for personal in (customer.customer["customer_id"], "0612", "12 34", "jean", "example.com"):
        assert personal not in stored and personal not in item.SK
    assert response.body["search_id"] and unknown not in response.body["search_id"]


def test_the_same_question_typed_differently_is_one_counter(help_api):
    unknown = word()
    for typed in (f"Facture {unknown}", f"facture {unknown.upper()} ", f"FACTURE   {unknown}!"):
        help_api.get(f"/help/search?{urlencode({'q': typed, 'lang': 'fr'})}")
    total = sum(int(item.searches) for item in stat_items(f"facture {unknown}"))
    assert total == 3
    row = next(r for r in report()["top_searches"] if r["query"] == f"facture {unknown}")
    assert row == {"query": f"facture {unknown}", "lang": "fr", "searches": 3, "no_result": 0, "opened": 0}


def test_only_the_first_page_counts(help_api):
    unknown = word()
    first = help_api.get(f"/help/search?{urlencode({'q': f'carte facture {unknown}', 'limit': 1})}")
    assert first.body["next_cursor"]
    help_api.get(
        f"/help/search?{urlencode({'q': f'carte facture {unknown}', 'limit': 1, 'cursor': first.body['next_cursor']})}"
    )
    assert sum(int(i.searches) for i in stat_items(f"carte facture {unknown}")) == 1


def test_opening_a_result_counts_against_its_search(help_api):
    """Mutation: skip stats.record_open in public.article → opened stays 0."""
    unknown = word()
    response = help_api.get(f"/help/search?{urlencode({'q': f'paiement refusé {unknown}'})}")
    hit = response.body["results"][0]["article_id"]
    opened = help_api.get(f"/help/articles/{hit}?from_search={response.body['search_id']}")
    assert opened.status == 200
    (item,) = stat_items(f"paiement refuse {unknown}")
    assert int(item.opened) == 1
    never = word()
    help_api.get(f"/help/search?{urlencode({'q': f'paiement refusé {never}'})}")
    listed = {r["query"] for r in report()["searches_never_opened"]}
    assert f"paiement refuse {never}" in listed and f"paiement refuse {unknown}" not in listed


def test_a_made_up_search_id_creates_nothing(help_api):
    from chalicelib.help.models import HelpQueryStat, query_stat_pk

    day = datetime.now(UTC).strftime("%Y%m%d")
    forged = f"hs_{day}3{'ab' * 10}"
    assert help_api.get(f"/help/articles/paiement-refuse?from_search={forged}").status == 200
    with pytest.raises(HelpQueryStat.DoesNotExist):
        HelpQueryStat.get(query_stat_pk(day, 3), f"Q#{'ab' * 10}")
    bad = help_api.get("/help/articles/paiement-refuse?from_search=nope")
    assert bad.status == 400 and bad.error_code == "invalid_search_id"


def test_the_report_lists_searches_without_answer_and_least_useful_articles(help_api, article, emitted):
    """Mutation: count no_result only when found (stats.record_search) → missing from the list."""
    unknown = word()
    for _ in range(2):
        help_api.get(f"/help/search?{urlencode({'q': unknown})}")
    useless = article(fr="Inutilomatique", en="Uselessomatic")
    for n in range(5):
        vote = help_api.post(
            f"/help/articles/{useless}/votes",
            {"helpful": n == 0},
            headers={"X-Device-Id": f"dev-{uuid.uuid4().hex}"},
        )
        assert vote.status == 201
    assert emitted.count("HelpVoteNotHelpful") == 4
    result = report(min_votes=5)
    assert {"query": unknown, "lang": "fr", "searches": 2, "no_result": 2, "opened": 0} in result[
        "searches_without_answer"
    ]
    row = next(r for r in result["least_useful_articles"] if r["article_id"] == useless)
    assert row == {
        "article_id": useless,
        "votes": 5,
        "not_helpful": 4,
        "helpful_percent": 20,
        "title": "Inutilomatique",
    }
    assert result["totals"]["searches_without_result"] >= 2 and result["totals"]["votes_not_helpful"] >= 4
    assert all(set(t) == {"topic", "cases"} for t in result["case_topics"])  # filled: tests/cases


def test_the_report_covers_only_its_days(help_api):
    unknown = word()
    help_api.get(f"/help/search?{urlencode({'q': unknown})}")
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    from chalicelib.help import admin

    earlier = admin.report({"from": yesterday, "to": yesterday})
    assert unknown not in json.dumps(earlier)


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"from": "2026-11-10", "to": "2026-11-01"}, "to is before from"),
        ({"from": "2026-01-01", "to": "2026-11-01"}, "at most 93 days"),
        ({"from": "2026-11-01"}, "to: Field required"),
        ({"from": "2026-11-01", "to": "2026-11-02", "limit": "20"}, "limit"),
        ({"from": "2026-11-01", "to": "2026-11-02", "top": 3}, "top: unknown field"),
    ],
)
def test_a_bad_report_event_says_what_to_fix(event, says):
    from chalicelib.help import admin

    result = admin.report(event)
    assert result["error"]["code"] == "validation_error" and says in result["error"]["message"], result
