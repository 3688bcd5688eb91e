"""CloudWatch metrics as EMF log lines: their shape, and that the journeys emit them."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    from chalicelib.config import get_settings
    from chalicelib.observability import metrics

    lines: list[dict[str, Any]] = []
    monkeypatch.setattr(metrics, "get_settings", lambda: dataclasses.replace(get_settings(), stage="dev"))
    monkeypatch.setattr(metrics, "write_line", lambda line: lines.append(json.loads(line)))
    return lines


def test_an_emf_line_names_its_metric_namespace_and_stage(emitted):
    from chalicelib.observability.metrics import emit

    emit("UsageIngestionLagSeconds", 2.5, "Seconds")
    (line,) = emitted
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Selfcare" and directive["Dimensions"] == [["Stage"]]
    assert directive["Metrics"] == [{"Name": "UsageIngestionLagSeconds", "Unit": "Seconds"}]
    assert line["Stage"] == "dev" and line["UsageIngestionLagSeconds"] == 2.5
    with pytest.raises(ValueError):
        emit("NotDeclared")


def test_sign_in_and_refusals_are_counted(emitted, enrol, sign_in):
    from devtools.soft_authenticator import SoftAuthenticator

    enrolled = enrol()
    assert sign_in(enrolled.authenticator).status == 200
    assert sign_in(SoftAuthenticator()).status == 401  # an unknown passkey
    names = [next(k for k in line if k not in ("_aws", "Stage")) for line in emitted]
    assert names.count("SignInSucceeded") == 2 and names.count("SignInRefused") == 1
