"""The console's sample events (infra/admin-events/admin_help_*.json) run as they are, in the order
an admin would use them; malformed events are answered with what to fix, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).resolve().parents[2] / "infra" / "admin-events"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"admin_help_{name}.json").read_text())
    return loaded


def test_every_sample_event_runs(demo_help):
    from chalicelib.help import admin

    assert admin.upsert_section(sample("upsert_section"))["index"]["status"] == "current"
    saved = admin.save_draft(sample("save_draft"))
    assert saved["article_id"] == "payer-facture-impayee" and saved["draft_revision"] >= 1
    published = admin.publish(sample("publish"))
    assert published["version"] >= 1 and published["index"]["status"] == "current"
    assert admin.unpublish(sample("unpublish"))["unpublished_version"] == published["version"]
    assert admin.publish(sample("publish"))["version"] == published["version"] + 1  # back for the demo
    assert admin.rebuild_index(sample("rebuild_index"))["status"] == "current"
    report = admin.report(sample("report"))
    assert set(report) >= {"top_searches", "searches_without_answer", "least_useful_articles", "case_topics"}


def test_the_samples_cover_every_help_admin_function():
    from chalicelib.help import admin

    functions = {"upsert_section", "save_draft", "publish", "unpublish", "rebuild_index", "report"}
    assert all(callable(getattr(admin, name)) for name in functions)
    assert {p.stem.removeprefix("admin_help_") for p in EVENTS.glob("admin_help_*.json")} == functions


@pytest.mark.parametrize(
    "event",
    [None, [], "publish", {"article_id": ["x"]}, {"article_id": "ok-id", "note": "4242 4242 4242 4242"}],
)
def test_malformed_events_are_answered_not_raised(event, help_s3):
    from chalicelib.help import admin

    result = admin.publish(event)
    assert result["error"]["code"] in ("invalid_event", "validation_error", "card_number_refused")
