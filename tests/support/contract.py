"""Every response the tests see is checked against mobile_contract/openapi.yaml: its status must be
one the operation declares (the contract has no catch-all `default`), and its body, error `code`
included, must match that status's schema."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from chalice.test import Client

SPEC_PATH = Path(__file__).resolve().parents[2] / "mobile_contract" / "openapi.yaml"
METHODS = ("get", "put", "post", "patch", "delete")
ERROR = {"$ref": "#/components/schemas/Error"}

# Tests that break the app on purpose (a monkeypatched crash, DynamoDB faults injected below the
# SDK) see 500 `internal_error`, the answer of a crash, which the contract never declares (an app
# must never answer it): in those tests, and only there, that one answer is let through (its body
# still checked against the error shape). Anywhere else it fails the test that made the request.
FAULT_INJECTING_TESTS = (
    "tests/test_errors.py::test_an_unexpected_failure_is_a_json_500_that_reveals_nothing",
    "tests/test_hostile_input.py::test_personal_answers_and_every_error_are_no_store",
    "tests/test_faults.py::",
)


class ContractViolation(AssertionError):
    """An answer the contract does not declare."""


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


@cache
def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}$")


def match_template(path: str) -> str | None:
    path = path.split("?", 1)[0]
    for template in spec()["paths"]:
        if _template_regex(template).match(path):
            return template
    return None


def validate(schema: dict[str, Any], instance: Any) -> None:
    rooted = {**schema, "components": spec()["components"]}
    jsonschema.Draft202012Validator(rooted, format_checker=jsonschema.FormatChecker()).validate(instance)


def resolve_response(response: dict[str, Any]) -> dict[str, Any]:
    """A response object, following its `$ref` into components/responses."""
    if "$ref" in response:
        resolved: dict[str, Any] = spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
        return resolved
    return response


def _in_fault_injecting_test() -> bool:
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return any(current.startswith(prefix) for prefix in FAULT_INJECTING_TESTS)


def _error_code(body: Any) -> Any:
    return (
        body.get("error", {}).get("code")
        if isinstance(body, dict) and isinstance(body.get("error"), dict)
        else None
    )


def check_response(
    method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    """Raise ContractViolation unless `status`, `body` and the declared headers are what the
    contract says `method path` answers."""
    template = match_template(path)
    if template is None:
        # No such route: API Gateway's answer (infra/resources.json, devtools/gateway.py).
        if status != 404 or _error_code(body) != "not_found":
            raise ContractViolation(f"{method} {path} (no such route) answered {status} {body!r}")
        validate(ERROR, body)
        return
    operation = spec()["paths"][template].get(method.lower())
    if operation is None:
        if status != 405 or _error_code(body) != "method_not_allowed":
            raise ContractViolation(f"{method} {template} is not in the contract but answered {status}")
        validate(ERROR, body)
        return
    if status == 500 and _error_code(body) == "internal_error" and _in_fault_injecting_test():
        validate(ERROR, body)
        return
    declared = operation["responses"]
    if str(status) not in declared:
        raise ContractViolation(
            f"{method} {template} answered {status} {body!r}, but the contract declares only {sorted(declared)}"
        )
    response = resolve_response(declared[str(status)])
    sent = {name.lower() for name in (headers or {})}
    for name, header in (response.get("headers") or {}).items():
        if header.get("required") and name.lower() not in sent:
            raise ContractViolation(f"{method} {template} {status} must send the {name} header")
    content = response.get("content")
    if content is None:
        if body not in (None, "", b""):
            raise ContractViolation(f"{method} {template} {status} must have no body, got {body!r}")
        return
    try:
        validate(content["application/json"]["schema"], body)
    except jsonschema.ValidationError as error:
        raise ContractViolation(
            f"{method} {template} {status}: the body does not match the contract: {error.message}"
        ) from None


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error_code(self) -> str | None:
        code = _error_code(self.body)
        return str(code) if code is not None else None


class ApiClient:
    """Chalice's test client (the real routes, authorizer and local gateway), with JSON in and out
    and the contract checked on every response."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.seen: set[tuple[str, str, int]] = set()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> ApiResponse:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response = self._client.http.request(method, path, headers=sent, body=payload)
        text = response.body.decode() if response.body else ""
        parsed = json.loads(text) if text else None
        answered = dict(response.headers)
        check_response(method, path, response.status_code, parsed, answered)
        template = match_template(path)
        if template:
            self.seen.add((method.upper(), template, response.status_code))
        return ApiResponse(status=response.status_code, body=parsed, headers=answered)

    def get(self, path: str, **kw: Any) -> ApiResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> ApiResponse:
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> ApiResponse:
        return self.request("PATCH", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> ApiResponse:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> ApiResponse:
        return self.request("DELETE", path, body, **kw)
