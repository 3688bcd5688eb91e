"""The cases' part of the contract is valid OpenAPI with examples that match it, and each console
sample event (infra/admin-events/admin_case_*.json, admin_call_code_verify.json) runs as pasted,
once its `${...}` values are the agent's own."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cases.conftest import _validate, opened, spec
from tests.support.stepup import step_up_confirmation

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(
    [
        *(ROOT / "infra" / "admin-events").glob("admin_case_*.json"),
        ROOT / "infra" / "admin-events" / "admin_call_code_verify.json",
    ]
)


def test_the_merged_contract_is_valid_openapi():
    from openapi_spec_validator import validate

    validate(spec())


def test_every_example_matches_its_schema():
    checked = 0
    for path, item in spec()["paths"].items():
        if not path.startswith(("/me/cases", "/me/call-codes")):
            continue
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            bodies = [operation.get("requestBody", {}).get("content", {}).get("application/json", {})]
            bodies += [
                r.get("content", {}).get("application/json", {}) for r in operation["responses"].values()
            ]
            for body in bodies:
                if "example" in body:
                    _validate(body["schema"], body["example"])
                    checked += 1
    assert checked >= 8


def test_each_console_sample_runs_with_its_values_filled_in(
    cases, customer, failed_payment, agent, app_module, with_line
):
    from chalicelib.cases import admin

    who = customer()
    bill_id, payment_id = failed_payment(who)
    case = opened(cases, who, {"kind": "payment", "bill_id": bill_id, "payment_id": payment_id})
    code = cases.post(
        "/me/call-codes",
        {
            "case_id": case["case_id"],
            "confirmation": step_up_confirmation(who.enrolled, "call_code", case_id=case["case_id"]),
        },
        token=who.token,
    ).body["code"]
    values = {"customer_id": who.id, "case_id": case["case_id"], "call_code": code, "line_id": with_line(who)}
    assert {p.stem for p in SAMPLES} == {
        "admin_case_list",
        "admin_case_context",
        "admin_case_reply",
        "admin_case_request_document",
        "admin_case_resolve",
        "admin_call_code_verify",
        "admin_case_lost_phone",
    }
    order = [
        "admin_case_list",
        "admin_case_context",
        "admin_call_code_verify",
        "admin_case_reply",
        "admin_case_request_document",
        "admin_case_resolve",
        "admin_case_lost_phone",  # last: it ends the customer's sessions
    ]
    functions = {
        "admin_case_list": admin.case_list,
        "admin_case_context": admin.case_context,
        "admin_case_reply": admin.case_reply,
        "admin_case_request_document": admin.case_request_document,
        "admin_case_resolve": admin.case_resolve,
        "admin_call_code_verify": admin.call_code_verify,
        "admin_case_lost_phone": admin.case_lost_phone,
    }
    for name in order:
        text = (ROOT / "infra" / "admin-events" / f"{name}.json").read_text()
        event = json.loads(re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text))
        result = getattr(app_module, name, functions[name])(event, None)
        assert "error" not in result, (name, result)
    timeline = cases.get(f"/me/cases/{case['case_id']}", token=who.token).body["timeline"]  # 15-min token
    assert [e["kind"] for e in timeline[-4:]] == ["call", "message", "document_requested", "status"]
