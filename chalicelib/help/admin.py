"""The help admin functions, as the console calls them: the event dict in, a JSON dict out (the
result, or `{"error": {"code", "message"}}` saying what to fix). app.py wraps each in one line:

    @app.lambda_function(name="admin_help_publish")
    def admin_help_publish(event, context):
        from chalicelib.help import admin as help_admin

        return help_admin.publish(event, context)
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.admin import run_admin
from chalicelib.help import content
from chalicelib.help import report as reporting
from chalicelib.help.schemas import (
    ArticleRefEvent,
    PublishEvent,
    RebuildEvent,
    ReportEvent,
    SaveDraftEvent,
    UpsertSectionEvent,
)


def upsert_section(event: Any, context: Any = None) -> dict[str, Any]:
    return run_admin(content.upsert_section, UpsertSectionEvent, event, context=context)


def save_draft(event: Any, context: Any = None) -> dict[str, Any]:
    return run_admin(content.save_draft, SaveDraftEvent, event, context=context)


def publish(event: Any, context: Any = None) -> dict[str, Any]:
    return run_admin(content.publish, PublishEvent, event, context=context)


def unpublish(event: Any, context: Any = None) -> dict[str, Any]:
    return run_admin(content.unpublish, ArticleRefEvent, event, context=context)


def rebuild_index(event: Any, context: Any = None) -> dict[str, Any]:
    return run_admin(content.rebuild, RebuildEvent, event, context=context)


def report(event: Any, context: Any = None) -> dict[str, Any]:
    return run_admin(reporting.report, ReportEvent, event, context=context)
