"""Contract fuzzing: schemathesis generates requests for every operation of
mobile_contract/openapi.yaml (valid and invalid bodies, query strings, path ids) and sends them to
`chalice local` (devtools.serve, the gateway shim included) backed by the suite's DynamoDB Local,
with a signed-in customer's token. No answer may be a 5xx, and every answer must be one the
contract declares, with the declared body and content type."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

ROOT = Path(__file__).resolve().parent.parent
schema = schemathesis.openapi.from_path(ROOT / "mobile_contract" / "openapi.yaml")
# Logging out would end the fuzzing session's own token halfway; it is covered by tests/auth.
schema = schema.exclude(method="POST", path="/auth/logout")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(app_module: Any) -> Iterator[dict[str, str]]:
    """chalice local on a free port, and a customer signed in through it over HTTP."""
    from devtools.soft_authenticator import SoftAuthenticator

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "WEBAUTHN_ORIGINS": "http://localhost:8000", "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "devtools.serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/.well-known/jwks.json", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("chalice local did not start") from None
                time.sleep(0.2)
        customer = app_module.admin_create_customer(
            {"customer_number": f"FUZZ-{os.getpid()}", "name": "Fuzz"}, None
        )
        phone = SoftAuthenticator()
        options = requests.post(
            f"{base}/auth/passkeys/register/options",
            json={
                "enrolment_handle": customer["enrolment_handle"],
                "activation_code": customer["activation_code"],
            },
        ).json()
        tokens = requests.post(
            f"{base}/auth/passkeys/register/verify",
            json={"challenge_id": options["challenge_id"], "credential": phone.create(options["options"])},
        ).json()
        yield {"base": base, "token": tokens["access_token"]}
    finally:
        server.terminate()
        server.wait(timeout=10)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_answer_is_in_the_contract(case: Any, live: dict[str, str]) -> None:
    headers = (
        {"Authorization": f"Bearer {live['token']}"} if case.operation.definition.raw.get("security") else {}
    )
    case.call_and_validate(
        base_url=live["base"],
        headers=headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
