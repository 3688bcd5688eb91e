"""mobile_contract/ and the app agree: same routes, and responses (checked on every test request by
tests/support/contract.py) match the spec's schemas."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate as validate_spec

from tests.support.contract import METHODS, spec

ROOT = Path(__file__).resolve().parent.parent


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
