"""How the roaming data limit's change reads the line and its cycle: through the views' one Query
(`views.line_and_cycles`, consistent), once before the change and once after, the stop's own
answer standing in for a third read; and the cycle item's key made in one place (`cycle_sk`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from chalicelib.store.models import CycleUsage, customer_pk, cycle_sk
from tests.account.test_roaming import MB, ingest, roam, roaming_view, set_limit

ROOT = Path(__file__).resolve().parents[2]


def _spy_reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each call of `views.line_and_cycles` (its `consistent` flag), as set_limit makes them."""
    from chalicelib.account import views

    real: Callable[..., Any] = views.line_and_cycles
    seen: list[bool] = []

    def spy(customer_id: str, line_id: str, *, consistent: bool = False) -> Any:
        seen.append(consistent)
        return real(customer_id, line_id, consistent=consistent)

    monkeypatch.setattr(views, "line_and_cycles", spy)
    return seen


def test_the_change_reads_through_the_views_query_twice_and_consistently(
    api: Any, app_module: Any, with_line: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lowering the limit below the spend: two consistent reads of the views' Query (before the
    step-up, after the change), none of roaming's own, and the answer shows the stop.
    Mutation: a `_read` of roaming's own again (a copy of the Query) → the spy sees fewer → fails;
    drop `consistent=True` → fails; read once more for the answer → 3 → fails."""
    enrolled, line_id = with_line()
    ingest(app_module, roam(line_id, "zone_2", quantity=200 * MB))  # 20 EUR
    seen = _spy_reads(monkeypatch)
    lowered = set_limit(api, enrolled, line_id, amount=1000)
    assert lowered.status == 200, lowered.body
    assert (lowered.body["data_stopped"], lowered.body["spent"]["amount"]) == (True, 2000)
    assert lowered.body["stopped_at"] is not None
    assert seen == [True, True]


def test_a_stop_recorded_by_another_writer_meanwhile_is_read_again(
    api: Any, app_module: Any, with_line: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the stop's condition fails (another writer stopped the data first), what is stored is not
    what was read: the answer reads it again rather than show data running.
    Mutation: use `alerted.item` whatever `stale` says → `data_stopped` false → fails."""
    from chalicelib.account import roaming

    enrolled, line_id = with_line()
    ingest(app_module, roam(line_id, "zone_2", quantity=200 * MB))
    real = roaming._record_stop

    def beaten(**kwargs: Any) -> CycleUsage | None:
        real(**kwargs)  # the other writer's stop lands first; ours then finds it there
        return None

    monkeypatch.setattr(roaming, "_record_stop", beaten)
    seen = _spy_reads(monkeypatch)
    lowered = set_limit(api, enrolled, line_id, amount=1000)
    assert lowered.status == 200, lowered.body
    assert lowered.body["data_stopped"] is True
    assert seen == [True, True, True]
    assert roaming_view(api, enrolled, line_id)["data_stopped"] is True


def test_the_cycle_key_is_the_one_ingestion_and_the_views_use() -> None:
    """A date or its ISO text make the same key, which sorts before the line's `#META` (the views'
    descending Query returns the line, then its latest cycles)."""
    assert cycle_sk("ln_1", date(2026, 11, 28)) == cycle_sk("ln_1", "2026-11-28") == "LINE#ln_1#C#2026-11-28"
    assert cycle_sk("ln_1", "2026-11-28") < "LINE#ln_1#META"
    assert CycleUsage(customer_pk("c"), cycle_sk("ln_1", "2026-11-28")).SK == "LINE#ln_1#C#2026-11-28"


def test_no_service_builds_the_cycle_key_by_hand() -> None:
    """Mutation: write `f"LINE#{line_id}#C#{start.isoformat()}"` back into roaming._cycle → fails."""
    by_hand = re.compile(r"#C#\{")
    found = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "chalicelib").rglob("*.py")
        if by_hand.search(path.read_text(encoding="utf-8"))
    }
    assert found - {"chalicelib/store/models.py"} == set(), "call store.models.cycle_sk"
