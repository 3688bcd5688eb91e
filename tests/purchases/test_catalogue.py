"""A line's catalogue: every plan and option with its price as the customer reads it, and why an
entry cannot be taken now; the admin event's new fields and their defaults."""

from __future__ import annotations

import json
from pathlib import Path

from chalicelib.account import catalog

ROOT = Path(__file__).resolve().parents[2]
NBSP = "\u00a0"


EXAMPLE = json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text())
EXAMPLE_IDS = {e["id"] for e in EXAMPLE["plans"] + EXAMPLE["options"]}


def _items(api, enrolled, line_id):
    """The example catalogue's entries (other tests may add their own to the shared table)."""
    answer = api.get(f"/lines/{line_id}/catalog", token=enrolled.token)
    assert answer.status == 200, answer.body
    assert answer.body["line_id"] == line_id
    return {i["id"]: i for i in answer.body["items"] if i["id"] in EXAMPLE_IDS}


def test_the_catalogue_says_what_the_line_can_take_and_why_not(api, with_line):
    """On essentiel-20 with data-plus-5: the other plan and the compatible top-up and bolt-on can be
    taken; the current plan, the option already there and one the plan does not take cannot, each
    with its reason. Mutations: drop any check of `_unavailable` → fails."""
    enrolled, line_id = with_line()
    items = _items(api, enrolled, line_id)
    assert [i["category"] for i in items.values()] == sorted(
        (i["category"] for i in items.values()), key=catalog.CATEGORIES.index
    )  # plans first, then options, top-ups, bolt-ons
    reasons = {i: (item["available"], item.get("unavailable", {}).get("code")) for i, item in items.items()}
    assert reasons == {
        "essentiel-20": (False, "current_plan"),
        "premium-100": (True, None),
        "roaming-eu": (True, None),
        "data-plus-5": (False, "already_active"),
        "roaming-world": (False, "incompatible_with_plan"),
        "data-recharge-2": (True, None),
        "data-pass-10": (True, None),
    }
    top_up = items["data-recharge-2"]
    assert top_up == {
        "id": "data-recharge-2",
        "category": "top_up",
        "name": "Recharge 2 Go",
        "description": "2 Go de plus jusqu'à la fin du cycle en cours.",
        "allowances": {"data_mb": 2048, "voice_min": 0, "sms": 0},
        "price": {"amount": 300, "currency": "EUR"},
        "price_text": f"3,00{NBSP}€",
        "term": "until_cycle_end",
        "available": True,
    }
    assert items["data-pass-10"]["term"] == "one_off" and items["data-pass-10"]["category"] == "bolt_on"
    assert items["premium-100"]["price_text"] == f"24,99{NBSP}€"
    assert items["roaming-world"]["unavailable"]["message"].startswith("Elle ne peut pas")


def test_the_catalogue_speaks_the_customers_language(api, with_line):
    """Mutation: read the language from anywhere but the profile (always "fr") → fails."""
    enrolled, line_id = with_line()
    assert api.patch("/me", {"language": "en"}, token=enrolled.token).status == 200
    items = _items(api, enrolled, line_id)
    assert items["data-recharge-2"]["name"] == "2 GB top-up"
    assert items["data-recharge-2"]["price_text"] == "€3.00"
    assert items["essentiel-20"]["unavailable"]["message"] == "This is the line's current plan."


def test_the_catalogue_is_two_reads(api, with_line):
    """The catalogue's partition (one Query) and the line with the customer's language (one
    BatchGetItem). Mutation: read the catalogue entry by entry → more calls."""
    from bench.common import calls, count_dynamodb_calls

    enrolled, line_id = with_line()
    count_dynamodb_calls()
    with calls() as seen:
        assert api.get(f"/lines/{line_id}/catalog", token=enrolled.token).status == 200
    assert dict(seen) == {"Query": 1, "BatchGetItem": 1}


def test_a_suspended_line_can_take_nothing(api, app_module, with_line):
    enrolled, line_id = with_line(status="suspended")
    items = _items(api, enrolled, line_id)
    assert {i: item.get("unavailable", {}).get("code") for i, item in items.items()} == {
        "essentiel-20": "current_plan",
        **{i: "line_suspended" for i in items if i != "essentiel-20"},
    }


def test_another_customers_line_has_no_catalogue(api, with_line, enrol):
    _, line_id = with_line()
    intruder = enrol()
    answer = api.get(f"/lines/{line_id}/catalog", token=intruder.token)
    assert (answer.status, answer.error_code) == (404, "line_not_found")


def test_entries_without_the_new_fields_read_as_before(app_module):
    """An event written before categories (no category, term or description) still works: plans
    are plans, options recurring options. A plan that is not recurring, or an option filed as a
    plan, is refused. Mutation: drop `_categories_fit_their_list` → the last two are accepted."""
    old = {
        "plans": [],
        "options": [
            {
                "id": "legacy-opt",
                "name": {"fr": "Ancienne", "en": "Old"},
                "allowances": {"data_mb": 100},
                "price_amount": 100,
                "currency": "EUR",
            }
        ],
    }
    assert "error" not in app_module.admin_upsert_catalog(old, None)
    entry = catalog.get("option", "legacy-opt")
    try:
        assert (catalog.category_of(entry), catalog.term_of(entry), entry.description) == (
            "option",
            "recurring",
            None,
        )
    finally:
        entry.delete()  # the suite's table is shared: other tests list the catalogue
    plan = EXAMPLE["plans"][0]
    for bad in (
        {"plans": [{**plan, "term": "one_off"}]},
        {"options": [{**old["options"][0], "category": "plan"}]},
    ):
        answer = app_module.admin_upsert_catalog(bad, None)
        assert answer["error"]["code"] == "validation_error", bad
