"""mobile_contract/ and the app agree: same routes, and responses (checked on every test request by
tests/support/contract.py) match the spec's schemas. The contract itself hides no status (no
catch-all `default`; every error status enumerates its codes), documents every operation, and its
examples are answers its own schemas accept."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_spec

from tests.support.contract import (
    METHODS,
    ContractViolation,
    check_response,
    resolve_response,
    spec,
    validate,
)

ROOT = Path(__file__).resolve().parent.parent
TOOLING = ROOT / "mobile_contract" / "tooling"


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def declared_codes(response: dict[str, Any]) -> list[str]:
    """The `code`s an error response enumerates (allOf: the Error shape, then the codes)."""
    schema = resolve_response(response)["content"]["application/json"]["schema"]
    for part in schema.get("allOf", []):
        codes = part.get("properties", {}).get("error", {}).get("properties", {}).get("code", {}).get("enum")
        if codes:
            return list(codes)
    return []


def test_the_spec_is_valid_openapi_3_1():
    assert spec()["openapi"].startswith("3.1")
    validate_spec(spec())


def test_the_app_and_the_spec_list_the_same_routes(app_module):
    in_app = {(method.lower(), path) for path, methods in app_module.app.routes.items() for method in methods}
    in_spec = {
        (method, path) for path, item in spec()["paths"].items() for method in item if method in METHODS
    }
    assert in_app - in_spec == set(), "routes missing from mobile_contract/openapi.yaml"
    assert in_spec - in_app == set(), "routes in the contract that the app does not serve"


def test_protected_routes_are_exactly_those_the_spec_says_need_a_bearer_token(app_module):
    for path, methods in app_module.app.routes.items():
        for method, entry in methods.items():
            operation = spec()["paths"][path][method.lower()]
            required = operation.get("security", spec().get("security", []))
            bearer_only = bool(required) and all("bearer" in s for s in required)
            assert (entry.authorizer is not None) == bearer_only, f"{method} {path}"


def test_every_view_maps_domain_errors(app_module):
    for path, methods in app_module.app.routes.items():
        for method, entry in methods.items():
            assert getattr(entry.view_function, "__selfcare_handled__", False), (
                f"{method} {path} is not wrapped in @handled"
            )


def test_path_parameters_match_between_app_and_spec(app_module):
    def resolve(parameter: dict) -> dict:
        if "$ref" in parameter:
            return spec()["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
        return parameter

    for path, item in spec()["paths"].items():
        declared = {resolve(p)["name"] for p in item.get("parameters", []) if resolve(p)["in"] == "path"}
        in_path = {segment[1:-1] for segment in path.split("/") if segment.startswith("{")}
        assert declared == in_path, path


def test_admin_event_samples_exist_for_every_admin_function(app_module):
    samples = {p.stem for p in (ROOT / "infra" / "admin-events").glob("*.json")}
    functions = {f.name for f in app_module.app.pure_lambda_functions if f.name.startswith("admin_")}
    assert functions <= samples, f"missing samples: {functions - samples}"
    for path in (ROOT / "infra" / "admin-events").glob("*.json"):
        json.loads(path.read_text())


def test_no_operation_hides_a_status_behind_a_catch_all_default():
    """Mutation: put `default` back on one operation → fails."""
    for method, path, operation in operations():
        assert "default" not in operation["responses"], f"{method} {path}"
        assert all(re.fullmatch(r"[1-5][0-9][0-9]", status) for status in operation["responses"]), (
            f"{method} {path}: statuses are exact codes (no 4XX ranges)"
        )


def test_every_error_status_enumerates_the_codes_it_can_carry():
    """Mutation: drop the `enum` of one 404 (an open `code: string`) → fails."""
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                continue
            codes = declared_codes(response)
            assert codes, f"{method} {path} {status} lists no error code"
            assert len(codes) == len(set(codes)), f"{method} {path} {status} lists a code twice"
            # What the app switches on: snake_case, stable.
            assert all(re.fullmatch(r"[a-z][a-z0-9_]*", code) for code in codes), f"{method} {path} {status}"


def test_every_operation_has_a_summary_and_a_description():
    """Mutation: delete the description of GET /bills → fails."""
    for method, path, operation in operations():
        assert operation.get("summary", "").strip(), f"{method} {path} has no summary"
        assert operation.get("description", "").strip(), f"{method} {path} has no description"


def test_every_success_body_has_an_example_its_own_schema_accepts():
    """Mutation: change an example's `status` to `unpaid` (not in the enum) → fails; remove one → fails."""
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            content = resolve_response(response).get("content")
            if not status.startswith("2") or content is None:
                continue
            media = content["application/json"]
            examples = (
                [media["example"]]
                if "example" in media
                else [e["value"] for e in media.get("examples", {}).values()]
            )
            assert examples, f"{method} {path} {status} has no example of its body"
            for example in examples:
                try:
                    validate(media["schema"], example)
                except jsonschema.ValidationError as error:
                    pytest.fail(f"{method} {path} {status}: the example does not match: {error.message}")


def test_no_flow_mapping_splits_a_description_into_stray_keys():
    """`{type: string, description: IANA, e.g. Europe/Paris}` is a mapping with a stray key
    `e.g. Europe/Paris` (null): in the contract's own structure (examples aside) no value is null.
    Mutation: unquote one such description again → fails."""
    literal = {"example", "examples", "default", "const", "enum"}
    stack: list[tuple[str, Any]] = [("", spec())]
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                assert value is not None, f"stray key {key!r} at {where or '/'}"
                if key not in literal:
                    stack.append((f"{where}/{key}", value))
        elif isinstance(node, list):
            stack.extend((f"{where}/{i}", item) for i, item in enumerate(node))


def test_the_contract_check_refuses_what_an_operation_does_not_declare():
    """The check run on every test request (tests/support/contract.py). Mutation: let an
    undeclared status through (the former `default` fallback) → fails."""
    error = {"error": {"code": "bill_not_found", "message": "No such bill."}}
    check_response("GET", "/bills/B-1001", 404, error)  # declared status, declared code
    with pytest.raises(ContractViolation, match="declares only"):
        check_response("GET", "/bills/B-1001", 409, {"error": {"code": "conflict", "message": "x"}})
    with pytest.raises(ContractViolation, match="does not match"):
        check_response("GET", "/bills/B-1001", 404, {"error": {"code": "line_not_found", "message": "x"}})
    with pytest.raises(ContractViolation, match="does not match"):
        check_response("GET", "/bills/B-1001", 404, {"error": {"code": "bill_not_found"}})
    with pytest.raises(ContractViolation, match="no body"):
        check_response("DELETE", "/me/sessions/ses_0123456789abcdef01234567", 204, {"x": 1})
    with pytest.raises(ContractViolation, match="must send the Retry-After header"):
        check_response(
            "POST",
            "/bills/B-1001/payments",
            503,
            {"error": {"code": "payment_processing", "message": "x"}},
            {"Content-Type": "application/json"},
        )
    with pytest.raises(ContractViolation, match="not in the contract"):
        check_response("PUT", "/me/passkeys", 200, {})
    with pytest.raises(ContractViolation, match="no such route"):
        check_response("GET", "/no/such/route", 200, {})


def test_a_crash_is_no_answer_of_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """500 `internal_error` passes only in the tests that inject faults on purpose. Mutation:
    let it through everywhere → fails."""
    crash = {"error": {"code": "internal_error", "message": "The service had a problem; please try again."}}
    with pytest.raises(ContractViolation):
        check_response("GET", "/bills/B-1001", 500, crash)
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/test_faults.py::test_anything (call)")
    check_response("GET", "/bills/B-1001", 500, crash)


def test_the_push_schemas_pass_their_meta_schema():
    from devtools.contract_lint import push_schemas

    result = push_schemas()
    assert result.ok, result.details


def test_the_lint_tools_are_pinned_exactly_and_locked():
    """devtools/contract_lint.py installs them with `npm ci`: the lock must hold exactly the pins."""
    package = json.loads((TOOLING / "package.json").read_text())
    lock = json.loads((TOOLING / "package-lock.json").read_text())
    pins = package["devDependencies"]
    assert {"@redocly/cli", "@stoplight/spectral-cli", "openapi-typescript", "typescript"} <= set(pins)
    for name, version in pins.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned exactly: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
    assert lock["packages"][""]["devDependencies"] == pins
    assert (TOOLING / ".redocly.yaml").is_file() and (TOOLING / ".spectral.yaml").is_file()
