"""Every response the tests see is checked against mobile_contract/openapi.yaml."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from chalice.test import Client

SPEC_PATH = Path(__file__).resolve().parents[2] / "mobile_contract" / "openapi.yaml"
METHODS = ("get", "put", "post", "patch", "delete")


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


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
    jsonschema.Draft202012Validator(rooted).validate(instance)


def check_response(method: str, path: str, status: int, body: Any) -> None:
    template = match_template(path)
    if template is None:
        # Unknown routes must still answer our error shape.
        validate({"$ref": "#/components/schemas/Error"}, body)
        return
    operations = spec()["paths"][template]
    operation = operations.get(method.lower())
    if operation is None:
        assert status == 405, f"{method} {template} is not in the contract but answered {status}"
        validate({"$ref": "#/components/schemas/Error"}, body)
        return
    declared = operation["responses"]
    if str(status) not in declared:
        assert status in (405, 415, 500) and "default" in declared, (
            f"{method} {template} answered {status}, contract declares {sorted(declared)}"
        )
    response = declared.get(str(status)) or declared["default"]
    if "$ref" in response:
        response = spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content")
    if content is None:
        assert body in (None, "", b""), f"{method} {template} {status} must have no body"
        return
    validate(content["application/json"]["schema"], body)


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error_code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


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
        check_response(method, path, response.status_code, parsed)
        template = match_template(path)
        if template:
            self.seen.add((method.upper(), template, response.status_code))
        return ApiResponse(status=response.status_code, body=parsed, headers=dict(response.headers))

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
