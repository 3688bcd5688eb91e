"""The admin functions, called with console events as the AWS console's Test button would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_create_customer_answers_the_number_and_a_one_time_code(app_module):
    result = app_module.admin_create_customer({"customer_number": "A-100", "name": "Grace Hopper"}, None)
    assert result["customer_number"] == "A-100"
    assert len(result["activation_code"].replace("-", "")) == 12
    assert result["activation_code_expires_at"].endswith("Z")


def test_an_existing_customer_number_is_a_clear_error_not_an_overwrite(app_module):
    from chalicelib.store.models import Customer, customer_pk

    first = app_module.admin_create_customer({"customer_number": "A-200", "name": "First"}, None)
    second = app_module.admin_create_customer({"customer_number": "A-200", "name": "Second"}, None)
    assert second == {
        "error": {"code": "customer_number_taken", "message": "Customer number A-200 already exists."}
    }
    assert Customer.get(customer_pk(first["customer_id"]), "PROFILE").name == "First"


def test_invalid_events_say_what_to_fix(app_module):
    result = app_module.admin_create_customer(
        {"customer_number": "a 1", "name": "", "phone": "0612", "extra": 1}, None
    )
    message = result["error"]["message"]
    assert result["error"]["code"] == "validation_error"
    for field in ("customer_number", "name", "phone", "extra"):
        assert field in message


def test_the_code_is_stored_only_as_a_hash(app_module):
    from chalicelib.store.models import ActivationCode, number_pk

    result = app_module.admin_create_customer({"customer_number": "A-300", "name": "Hashed"}, None)
    item = ActivationCode.get(number_pk("A-300"), "ACTIVATION")
    raw = json.dumps(item.serialize())
    assert result["activation_code"].replace("-", "") not in raw
    assert result["activation_code"] not in raw


def test_issue_activation_code_for_an_unknown_customer(app_module):
    result = app_module.admin_issue_activation_code({"customer_number": "NOPE-1"}, None)
    assert result["error"]["code"] == "customer_not_found"


def test_make_invoke_runs_a_function_with_a_sample_event(app_module, tmp_path):
    import os

    event = tmp_path / "event.json"
    event.write_text(json.dumps({"customer_number": "A-400", "name": "Invoked"}))
    run = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", "admin_create_customer", str(event)],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout[run.stdout.index("{\n") :])
    assert answer["customer_number"] == "A-400"
    again = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", "admin_create_customer", str(event)],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "customer_number_taken" in again.stdout


def test_money_and_counts_in_admin_events_are_json_integers(app_module):
    """Admin events are validated lax (their dates are text): "2999", 2999.0 or true for a price
    (true would be 1 cent) are refused. Mutation: `price_amount: int`."""
    import json

    from tests.test_ownership import ROOT

    catalogue = json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text())
    plan = catalogue["plans"][0]
    for bad in ("2999", 2999.0, True):
        answer = app_module.admin_upsert_catalog(
            {**catalogue, "plans": [{**plan, "price_amount": bad}]}, None
        )
        assert answer["error"]["code"] == "validation_error", bad
    assert "error" not in app_module.admin_upsert_catalog(
        {**catalogue, "plans": [{**plan, "price_amount": 2999}]}, None
    )
