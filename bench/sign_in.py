"""Warm latency of the sign-in routes, as a ratio to one raw DynamoDB GetItem in the same run, and
the DynamoDB calls each request makes."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import calls, summary, timed

ROOT = Path(__file__).resolve().parent.parent


def run(repeat: int = 200) -> dict[str, Any]:
    import boto3
    from chalice.test import Client

    import app
    from devtools import gateway
    from devtools.soft_authenticator import SoftAuthenticator

    gateway.install()
    client = Client(app.app, stage_name="dev", project_dir=str(ROOT))

    def post(path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = client.http.post(
            path, headers=headers, body=json.dumps(body).encode() if body is not None else b""
        )
        assert response.status_code < 300, response.body
        return json.loads(response.body) if response.body else None

    def get(path: str, token: str) -> Any:
        response = client.http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.body
        return json.loads(response.body)

    customer = app.admin_create_customer({"customer_number": "B-1", "name": "Bench"}, None)
    phone = SoftAuthenticator()
    options = post(
        "/auth/passkeys/register/options",
        {"enrolment_handle": customer["enrolment_handle"], "activation_code": customer["activation_code"]},
    )
    session = post(
        "/auth/passkeys/register/verify",
        {"challenge_id": options["challenge_id"], "credential": phone.create(options["options"])},
    )

    per_request: dict[str, dict[str, int]] = {}
    latencies: dict[str, dict[str, float]] = {}

    def measure(name: str, prepare: Any, call: Any) -> None:
        samples = []
        for i in range(repeat):
            state = prepare()
            with calls() as seen:
                samples.extend(timed(partial(call, state), 1))
            if i == 0:
                per_request[name] = dict(seen)
        latencies[name] = summary(samples)

    def login_prepare() -> dict[str, Any]:
        opts = post("/auth/passkeys/login/options")
        return {"challenge_id": opts["challenge_id"], "credential": phone.get(opts["options"])}

    # The listings first, while the customer has one session (each sign-in below adds one).
    measure("GET /me/passkeys", lambda: None, lambda _: get("/me/passkeys", session["access_token"]))
    measure("GET /me/sessions", lambda: None, lambda _: get("/me/sessions", session["access_token"]))
    measure("POST /auth/passkeys/login/options", lambda: None, lambda _: post("/auth/passkeys/login/options"))
    measure(
        "POST /auth/passkeys/login/verify",
        login_prepare,
        lambda body: post("/auth/passkeys/login/verify", body),
    )
    refresh_state = {"token": session["refresh_token"]}

    def refresh(_: Any) -> None:
        refresh_state["token"] = post("/auth/token/refresh", {"refresh_token": refresh_state["token"]})[
            "refresh_token"
        ]

    measure("POST /auth/token/refresh", lambda: None, refresh)

    import os

    raw = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    key = {"PK": {"S": f"CUSTOMER#{customer['customer_id']}"}, "SK": {"S": "PROFILE"}}
    raw.get_item(TableName=os.environ["APP_TABLE_NAME"], Key=key)
    get_item = summary(timed(lambda: raw.get_item(TableName=os.environ["APP_TABLE_NAME"], Key=key), repeat))
    base = get_item["median_ms"]
    return {
        "raw_get_item": get_item,
        "routes": {
            name: {
                **stats,
                "ratio_to_get_item": round(stats["median_ms"] / base, 1),
                "dynamodb_calls": per_request[name],
            }
            for name, stats in latencies.items()
        },
    }
