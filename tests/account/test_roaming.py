"""Abroad: usage records keep their roaming zone (EU as home within fair use, other zones apart and
charged), a welcome alert once per zone and cycle with the zone's tariff, and the data spending limit
(80 % and 100 % alerts, data stopped at 100 %, raised or lifted with a passkey bound to the line and
the new limit). Records go through the SQS handler, as the network's mediation system sends them."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.account.conftest import record, sqs_event
from tests.support.stepup import confirmation

ROOT = Path(__file__).resolve().parents[2]
MB = 1024  # records carry data in KB


def roam(
    line_id: str, zone: str | None, kind: str = "data", quantity: int = MB, **extra: Any
) -> dict[str, Any]:
    made = record(line_id, kind, quantity, **extra)
    return {**made, "roaming_zone": zone} if zone else made


def ingest(app_module: Any, *records: dict[str, Any], message_ids: list[str] | None = None) -> None:
    answer = app_module.ingest_usage(sqs_event(*records, message_ids=message_ids), None)
    assert answer == {"batchItemFailures": []}, answer


def usage(api: Any, enrolled: Any, line_id: str) -> dict[str, Any]:
    answer = api.get(f"/lines/{line_id}/usage", token=enrolled.token)
    assert answer.status == 200, answer.body
    return dict(answer.body)


def zone(view: dict[str, Any], name: str) -> dict[str, Any]:
    return next(z for z in view["roaming"] if z["zone"] == name)


def home_used(view: dict[str, Any], kind: str = "data") -> float:
    return float(next(a for a in view["allowances"] if a["kind"] == kind)["used"])


def roaming_view(api: Any, enrolled: Any, line_id: str) -> dict[str, Any]:
    answer = api.get(f"/lines/{line_id}/roaming", token=enrolled.token)
    assert answer.status == 200, answer.body
    return dict(answer.body)


def alerts(api: Any, enrolled: Any, kind: str) -> list[dict[str, Any]]:
    """The inbox's alerts of `kind`, with their body's no-break spaces (« 50,00\u00a0€ ») as spaces."""
    items = api.get("/me/inbox", token=enrolled.token).body["items"]
    return [{**i, "body": i["body"].replace("\u00a0", " ")} for i in items if i["kind"] == kind]


def set_limit(api: Any, enrolled: Any, line_id: str, **change: Any) -> Any:
    confirmed = confirmation(api, enrolled, "roaming.limit", line_id=line_id, **change)
    return api.put(
        f"/lines/{line_id}/roaming/data-limit", {**change, "confirmation": confirmed}, token=enrolled.token
    )


def test_records_keep_their_zone_eu_counts_at_home_other_zones_apart_and_charged(api, app_module, with_line):
    """EU usage counts in the home allowances (and in its own zone); zone 1 and 2 only in theirs,
    charged beyond what they include (nothing by default): zone 2 data at 0.10 EUR/MB, zone 1 calls
    at 0.50 EUR per started minute. The line and GET /me show the same. Mutations: `cycle_attrs`
    gives EU only its own counter → home used 10 MB → fails; gives zone 2 the home counter too →
    home used 160 MB → fails."""
    enrolled, line_id = with_line()
    ingest(
        app_module,
        roam(line_id, None, quantity=10 * MB),
        roam(line_id, "home", quantity=0),
        roam(line_id, "eu", quantity=100 * MB),
        roam(line_id, "zone_2", quantity=50 * MB),
        roam(line_id, "zone_1", "voice", 61),
        roam(line_id, "eu", "sms", 3),
    )
    view = usage(api, enrolled, line_id)
    assert home_used(view) == 110.0
    assert home_used(view, "sms") == 3
    assert home_used(view, "voice") == 0  # zone 1 calls are not the home allowance's
    eu, z1, z2 = zone(view, "eu"), zone(view, "zone_1"), zone(view, "zone_2")
    assert (eu["data_mb"], eu["sms"], eu["as_home"], eu["charged"]["amount"]) == (100.0, 3, True, 0)
    assert eu["included"] == {"data_mb": 10 * 1024, "voice_min": None, "sms": None}
    assert (z2["data_mb"], z2["charged"]) == (50.0, {"amount": 500, "currency": "EUR"})
    assert (z1["voice_min"], z1["charged"]["amount"]) == (2, 100)
    me = api.get("/me", token=enrolled.token).body
    [line] = [x for x in me["lines"] if x["line_id"] == line_id]
    assert line["usage"]["roaming"] == view["roaming"]
    detail = api.get(f"/lines/{line_id}", token=enrolled.token).body
    assert detail["roaming"] == {
        "data_stopped": False,
        "limit": {"amount": 5000, "currency": "EUR"},
        "lifted": False,
        "spent": {"amount": 500, "currency": "EUR"},
    }


def test_an_unknown_zone_is_rejected_like_any_invalid_record(api, app_module, with_line):
    """`roaming_zone` is one of home, eu, zone_1, zone_2: anything else (a country code, a typo) is
    a rejected record, never counted and never retried. Mutation: `roaming_zone: str | None` → the
    records count at home → fails."""
    enrolled, line_id = with_line()
    ingest(app_module, roam(line_id, "FR", quantity=7 * MB), roam(line_id, "zone_3", quantity=7 * MB))
    view = usage(api, enrolled, line_id)
    assert home_used(view) == 0
    assert all(z["data_mb"] == 0 for z in view["roaming"])


def test_replayed_roaming_records_count_once(api, app_module, with_line):
    """The zone counters are written with the day's exactly-once condition: a redelivered message
    changes nothing. Mutation: drop the day's `not_counted` condition (ingestion._write) →
    2 × 30 MB → fails."""
    enrolled, line_id = with_line()
    records = [roam(line_id, "zone_2", quantity=30 * MB), roam(line_id, "eu", quantity=5 * MB)]
    ingest(app_module, *records, message_ids=["m-1", "m-2"])
    ingest(app_module, *records, message_ids=["m-1", "m-2"])
    view = usage(api, enrolled, line_id)
    assert (zone(view, "zone_2")["data_mb"], zone(view, "eu")["data_mb"], home_used(view)) == (30.0, 5.0, 5.0)


def test_a_plans_own_roaming_terms_from_the_admin_catalogue(api, app_module, with_line, catalogue):
    """The admin catalogue event takes a plan's `roaming` terms, strictly: EU data beyond the plan's
    fair use is charged at its EU price, zone 1 data beyond its included 100 MB at its price. An
    option with roaming terms, a string for a number or an unknown field are refused. Mutation:
    `zone_use` reads DEFAULT_TERMS always → 1 GB fair use is 10 GB → EU charge 0 → fails."""
    plan = {
        **catalogue["plans"][0],
        "id": "voyage-test",
        "roaming": {
            "eu_fair_use_gb": 1,
            "eu_price_per_mb": 3,
            "zone_1": {"data_mb": 100, "price_per_mb": 4, "price_per_min": 10, "price_per_sms": 5},
            "zone_2": {"price_per_mb": 20, "price_per_min": 90, "price_per_sms": 30},
        },
    }
    plan["compatible_options"] = []
    assert "error" not in app_module.admin_upsert_catalog({"plans": [plan]}, None)
    enrolled, line_id = with_line(plan_id="voyage-test", option_ids=[])
    ingest(app_module, roam(line_id, "eu", quantity=1536 * MB), roam(line_id, "zone_1", quantity=150 * MB))
    view = roaming_view(api, enrolled, line_id)
    by_zone = {z["zone"]: z for z in view["zones"]}
    assert by_zone["eu"]["fair_use_data_mb"] == 1024
    assert by_zone["eu"]["usage"]["charged"]["amount"] == 512 * 3
    assert by_zone["zone_1"]["included"] == {"data_mb": 100, "voice_min": 0, "sms": 0}
    assert by_zone["zone_1"]["usage"]["charged"]["amount"] == 50 * 4
    assert by_zone["zone_2"]["prices"] == {"per_mb": 20, "per_min": 90, "per_sms": 30}
    assert view["spent"]["amount"] == 512 * 3 + 50 * 4
    option = {**catalogue["options"][0], "roaming": plan["roaming"]}
    as_string = {**plan, "roaming": {**plan["roaming"], "eu_fair_use_gb": "1"}}
    unknown = {**plan, "roaming": {**plan["roaming"], "zone_3": plan["roaming"]["zone_2"]}}
    for event in ({"options": [option]}, {"plans": [as_string]}, {"plans": [unknown]}):
        assert "error" in app_module.admin_upsert_catalog(event, None), event


def test_the_welcome_is_sent_once_per_zone_under_replays_and_concurrent_batches(api, app_module, with_line):
    """One `roaming.welcome` per zone and cycle: a replayed message, then four concurrent batches of
    new records from the same zone, raise no second one; a record from another zone has its own.
    No welcome at home. Mutations: leave the zone out of the dedup key → no EU welcome → fails;
    check_alerts hands roaming.check no zones → no welcome → fails."""
    enrolled, line_id = with_line()
    ingest(app_module, roam(line_id, None))
    assert alerts(api, enrolled, "roaming.welcome") == []
    first = roam(line_id, "zone_1")
    ingest(app_module, first, message_ids=["w-1"])
    ingest(app_module, first, message_ids=["w-1"])
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: ingest(app_module, roam(line_id, "zone_1")), range(4)))
    [welcome] = alerts(api, enrolled, "roaming.welcome")
    assert (welcome["data"]["zone"], welcome["deep_link"]) == (
        "zone_1",
        f"selfcare://lines/{line_id}/roaming",
    )
    assert welcome["situation"] == "roaming"
    ingest(app_module, roam(line_id, "eu"))
    welcomes = alerts(api, enrolled, "roaming.welcome")
    assert sorted(w["data"]["zone"] for w in welcomes) == ["eu", "zone_1"]
    assert zone(usage(api, enrolled, line_id), "zone_1")["data_mb"] == 5.0  # the replay counted once


def test_the_welcome_states_the_tariff_in_the_customers_language(api, app_module, with_line):
    """French: the zone, the prices and the limit as a French reader writes them; English the same
    in English. Mutation: format the prices without `language=` → « 0.10 EUR » → fails."""
    enrolled, line_id = with_line()
    ingest(app_module, roam(line_id, "zone_2"))
    [french] = alerts(api, enrolled, "roaming.welcome")
    assert french["body"].startswith("Ligne 06 00 00 00 01, Zone 2 (reste du monde).")
    assert "Rien n'est inclus : 0,10 € le Mo, 1,50 € la minute, 0,40 € le SMS." in french["body"]
    assert "50,00 € HT" in french["body"]
    english, line_en = with_line()
    assert api.patch("/me", {"language": "en"}, token=english.token).status == 200
    ingest(app_module, roam(line_en, "eu"))
    [welcome] = alerts(api, english, "roaming.welcome")
    assert "European Union and EEA" in welcome["body"]
    assert "Your plan applies as at home, with 10 GB of data; beyond that, €0.01 per MB." in welcome["body"]
    assert "€50.00 excluding VAT" in welcome["body"]


def test_the_spending_limit_warns_at_80_and_stops_data_at_100_once(api, app_module, with_line):
    """Zone 2 data at 0.10 EUR/MB against the default 50 EUR: 410 MB is 82 % (`roaming.spend_80` says 41 EUR,
    once however many batches follow), 510 MB crosses 100 % (`roaming.spend_100`, once; data
    stopped on the line, its usage and its roaming view); data carried after the stop is not
    charged. Mutation: skip `_record_stop` → the spend keeps growing to 7100 → fails."""
    enrolled, line_id = with_line()
    ingest(app_module, roam(line_id, "zone_2", quantity=410 * MB))
    ingest(app_module, roam(line_id, "zone_2", quantity=10 * MB))
    [warned] = alerts(api, enrolled, "roaming.spend_80")
    assert "41,00 € HT" in warned["body"] and "50,00 €" in warned["body"]
    assert alerts(api, enrolled, "roaming.spend_100") == []
    ingest(app_module, roam(line_id, "zone_2", quantity=90 * MB))
    [stopped] = alerts(api, enrolled, "roaming.spend_100")
    assert stopped["data"]["limit_minor"] == "5000" and "50,00 € HT" in stopped["body"]
    ingest(app_module, roam(line_id, "zone_2", quantity=200 * MB))
    assert len(alerts(api, enrolled, "roaming.spend_100")) == 1
    assert len(alerts(api, enrolled, "roaming.spend_80")) == 1
    view = roaming_view(api, enrolled, line_id)
    assert (view["data_stopped"], view["spent"]["amount"], view["percent"]) == (True, 5100, 102.0)
    assert view["stopped_at"] is not None
    assert api.get(f"/lines/{line_id}", token=enrolled.token).body["roaming"]["data_stopped"] is True


def _stopped_line(app_module: Any, with_line: Any) -> tuple[Any, str]:
    enrolled, line_id = with_line()
    ingest(app_module, roam(line_id, "zone_2", quantity=510 * MB))  # 51 EUR: stopped at 5100
    ingest(app_module, roam(line_id, "zone_2", quantity=40 * MB))  # carried while stopped
    return enrolled, line_id


def test_lifting_the_limit_takes_the_passkey_bound_to_it_and_resumes_data(api, app_module, with_line):
    """A confirmation of another change (another amount; lifting instead of an amount) is refused
    and changes nothing; the right one lifts the limit for the cycle, data resumes, what was carried
    while stopped (40 MB, 4 EUR) is waived, and the same confirmation again is refused (used once).
    Mutation: skip `stepup.confirm` in roaming.set_limit → the other amount's confirmation sets it →
    fails."""
    enrolled, line_id = _stopped_line(app_module, with_line)
    other = confirmation(api, enrolled, "roaming.limit", line_id=line_id, amount=8000)
    wrong = api.put(
        f"/lines/{line_id}/roaming/data-limit", {"amount": 9000, "confirmation": other}, token=enrolled.token
    )
    assert (wrong.status, wrong.body["error"]["code"]) == (401, "step_up_mismatch")
    lifted_for_amount = confirmation(api, enrolled, "roaming.limit", line_id=line_id, amount=9000)
    wrong = api.put(
        f"/lines/{line_id}/roaming/data-limit",
        {"lifted": True, "confirmation": lifted_for_amount},
        token=enrolled.token,
    )
    assert (wrong.status, wrong.body["error"]["code"]) == (401, "step_up_mismatch")
    assert roaming_view(api, enrolled, line_id)["data_stopped"] is True
    confirmed = confirmation(api, enrolled, "roaming.limit", line_id=line_id, lifted=True)
    lifted = api.put(
        f"/lines/{line_id}/roaming/data-limit",
        {"lifted": True, "confirmation": confirmed},
        token=enrolled.token,
    )
    assert lifted.status == 200, lifted.body
    assert (lifted.body["data_stopped"], lifted.body["data_limit"]["lifted"]) == (False, True)
    assert (lifted.body["spent"]["amount"], lifted.body["waived"]["amount"]) == (5100, 400)
    replay = api.put(
        f"/lines/{line_id}/roaming/data-limit",
        {"lifted": True, "confirmation": confirmed},
        token=enrolled.token,
    )
    assert (replay.status, replay.body["error"]["code"]) == (404, "challenge_not_found")
    ingest(app_module, roam(line_id, "zone_2", quantity=100 * MB))  # charged again, no stop: lifted
    view = roaming_view(api, enrolled, line_id)
    assert (view["data_stopped"], view["spent"]["amount"]) == (False, 6100)
    assert len(alerts(api, enrolled, "roaming.spend_100")) == 1


def test_raising_resumes_lowering_below_the_spend_stops_and_the_same_change_twice_is_the_same(
    api, app_module, with_line
):
    """Raising the limit above the spend resumes data (the new limit has its own alerts); setting it
    again changes nothing; a limit below the spend stops data at once with its `roaming.spend_100`.
    Mutation: drop set_limit's `_spend_alerts` after the change → the lowered limit does not stop →
    fails."""
    enrolled, line_id = _stopped_line(app_module, with_line)
    raised = set_limit(api, enrolled, line_id, amount=20000)
    assert raised.status == 200, raised.body
    assert (raised.body["data_stopped"], raised.body["data_limit"]["amount"]) == (False, 20000)
    assert raised.body["data_limit"]["default"] is False
    again = set_limit(api, enrolled, line_id, amount=20000)
    assert again.status == 200 and again.body == raised.body
    lowered = set_limit(api, enrolled, line_id, amount=3000)
    assert (lowered.status, lowered.body["data_stopped"]) == (200, True)
    assert [a["data"]["limit_minor"] for a in alerts(api, enrolled, "roaming.spend_100")] == ["3000", "5000"]
    still = set_limit(api, enrolled, line_id, amount=4000)  # still below the spend: still stopped
    assert still.body["data_stopped"] is True


def test_another_customers_line_is_unknown(api, with_line, enrol):
    """GET roaming and the step-up for another customer's line: 404 `line_not_found`, as for an
    unknown line (the ownership sweep covers the PUT with a confirmation of the intruder's own)."""
    _, line_id = with_line()
    intruder = enrol()
    answer = api.get(f"/lines/{line_id}/roaming", token=intruder.token)
    assert (answer.status, answer.body["error"]["code"]) == (404, "line_not_found")
    started = api.post(
        "/me/step-up", {"action": "roaming.limit", "line_id": line_id, "lifted": True}, token=intruder.token
    )
    assert (started.status, started.body["error"]["code"]) == (404, "line_not_found")


def test_the_sample_catalogue_event_still_loads_without_roaming_terms():
    """Plans without `roaming` keep working: the defaults apply (no field is required)."""
    from chalicelib.account import catalog

    event = json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text())
    parsed = catalog.UpsertCatalogEvent.model_validate(event)
    assert all(p.roaming is None for p in parsed.plans)
