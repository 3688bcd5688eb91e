"""`make invoke` runs the schedules and event consumers too, with their samples in infra/sample-events/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent


def _invoke(name: str, sample: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.invoke", name, f"infra/sample-events/{sample}.json"],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_schedule_and_the_usage_consumer_run_with_their_samples(app_module: Any) -> None:
    """Mutation: keep invoke.py to pure Lambda functions (`No Lambda function 'clear_offers'`)."""
    cleared = _invoke("clear_offers", "clear_offers")
    assert cleared.returncode == 0, cleared.stderr
    assert "offers" in json.loads(cleared.stdout[cleared.stdout.index("{\n") :])
    usage = _invoke(
        "ingest_usage", "ingest_usage"
    )  # `${now}` filled in; its line does not exist here: rejected, not failed
    assert usage.returncode == 0, usage.stderr
    assert json.loads(usage.stdout[usage.stdout.index("{\n") :]) == {"batchItemFailures": []}


def test_a_sample_with_values_to_fill_in_is_refused_before_running() -> None:
    refused = _invoke("table_stream", "on_table_stream")
    assert refused.returncode == 2 and "Fill in customer_id" in refused.stderr
