"""The help report's contact reasons: cases opened per topic, counted once per case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.cases.conftest import open_case


def _topics(app_module) -> dict[str, int]:
    today = datetime.now(UTC).date().isoformat()
    report = app_module.admin_help_report({"from": today, "to": today}, None)
    assert "error" not in report, report
    return {row["topic"]: row["cases"] for row in report["case_topics"]}


def test_cases_opened_are_the_reports_contact_reasons_counted_once(app_module, cases, customer):
    """Mutations: drop the topic counter from the opening transaction → no row; count it outside
    the transaction → the replayed open (same Idempotency-Key) counts twice."""
    before = _topics(app_module)
    who = customer()
    key = str(uuid.uuid4())
    first = open_case(cases, who, {"kind": "general"}, topic="billing", key=key)
    assert first.status == 201, first.body
    again = open_case(cases, who, {"kind": "general"}, topic="billing", key=key)  # the app's retry
    assert again.status == 200 and again.body["case_id"] == first.body["case_id"]
    assert open_case(cases, who, {"kind": "general"}, topic="technical").status == 201
    after = _topics(app_module)
    assert after.get("billing", 0) - before.get("billing", 0) == 1
    assert after.get("technical", 0) - before.get("technical", 0) == 1
