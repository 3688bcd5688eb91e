"""What every part of `make demo` shares: the customer's session over HTTP, the step numbers, and
the list of what did not show as expected (the demo goes on, then fails with it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from devtools.soft_authenticator import SoftAuthenticator


@dataclass(kw_only=True)
class Journey:
    api: str
    http: requests.Session
    app: Any
    bearer: dict[str, str]
    phone: SoftAuthenticator
    steps: Iterator[int]
    problems: list[str] = field(default_factory=list)

    def step(self, text: str) -> str:
        return f"{next(self.steps)}. {text}"

    def expect(self, condition: bool, what: str) -> None:
        """Say so when a step does not show what it should (the demo goes on, then fails)."""
        if not condition:
            self.problems.append(what)
            print(f"   !! expected: {what}")

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.api}{path}", headers=self.bearer)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
        return self.http.post(f"{self.api}{path}", headers={**self.bearer, **(headers or {})}, json=body)
