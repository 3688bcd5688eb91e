"""Load: concurrent customers through the whole journey over HTTP against `chalice local`
(devtools.serve, a threaded server, Nagle's algorithm off as in devtools/gateway.py, keep-alive
connections), backed by DynamoDB Local: enrol a passkey, sign in, home screen, line usage, bills,
pay a bill with a passkey, bid on an offer with a passkey, read the offer, the inbox.
Reports throughput and p50/p99 per step and overall; any unexpected status is an error.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def run(*, customers: int = 40, concurrency: int = 8) -> dict[str, Any]:
    import app
    from devtools.soft_authenticator import SoftAuthenticator

    port = _port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "WEBAUTHN_ORIGINS": "http://localhost:8000",
        "RATE_LIMITS": "sign_in_client=1000000/60,activation_client=1000000/60",
    }  # one address plays every customer here
    server = subprocess.Popen(
        [sys.executable, "-m", "devtools.serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(150):
            try:
                requests.get(f"{base}/.well-known/jwks.json", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        app.admin_upsert_catalog(
            json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text()), None
        )
        now = datetime.now(UTC)
        offer_id = f"off_load{int(time.time())}"
        app.admin_create_offer(
            {
                "offer_id": offer_id,
                "title": {"fr": "Charge", "en": "Load"},
                "description": {"fr": "x", "en": "x"},
                "inventory": 10,
                "currency": "EUR",
                "min_bid": 100,
                "max_bid": 100_000,
                "increment": 100,
                "opens_at": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "closes_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "grant": {"kind": "option", "entry_id": "data-pass-10", "days": 30},
            },
            None,
        )
        prepared = []
        for n in range(customers + 1):  # what admins and the billing system did beforehand (not timed)
            number = f"L-{os.getpid()}-{n}"
            created = app.admin_create_customer({"customer_number": number, "name": "Load"}, None)
            line_id = "ln_" + secrets.token_hex(6)
            app.admin_set_line(
                {
                    "customer_number": number,
                    "line_id": line_id,
                    "msisdn": "+33600000000",
                    "plan_id": "essentiel-20",
                    "anchor_day": 1,
                },
                None,
            )
            bill_id = f"BL-{os.getpid()}-{n}"
            app.import_bills(
                {
                    "bills": [
                        {
                            "bill_id": bill_id,
                            "customer_number": number,
                            "period": {"start": "2026-10-01", "end": "2026-10-31"},
                            "issued_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "due_date": (now + timedelta(days=20)).strftime("%Y-%m-%d"),
                            "currency": "EUR",
                            "items": [{"label": "Forfait", "amount": 1500, "tax": 300}],
                            "total": 1800,
                        }
                    ]
                },
                None,
            )
            prepared.append((created["enrolment_handle"], created["activation_code"], line_id, bill_id))

        timings: dict[str, list[float]] = {}
        errors: list[str] = []
        lock = threading.Lock()

        def journey(args: tuple[str, str, str, str]) -> None:
            handle, code, line_id, bill_id = args
            http = requests.Session()
            phone = SoftAuthenticator()

            def call(
                step: str,
                method: str,
                path: str,
                expect: int,
                body: Any = None,
                token: str | None = None,
                headers: dict[str, str] | None = None,
            ) -> Any:
                sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
                started = time.perf_counter()
                answer = http.request(method, base + path, json=body, headers=sent)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    timings.setdefault(step, []).append(elapsed)
                    if answer.status_code != expect:
                        errors.append(f"{step}: {answer.status_code} {answer.text[:200]}")
                return answer.json() if answer.content else {}

            options = call(
                "register options",
                "POST",
                "/auth/passkeys/register/options",
                200,
                {"enrolment_handle": handle, "activation_code": code},
            )
            call(
                "register verify",
                "POST",
                "/auth/passkeys/register/verify",
                201,
                {"challenge_id": options["challenge_id"], "credential": phone.create(options["options"])},
            )
            login = call("login options", "POST", "/auth/passkeys/login/options", 200)
            token = call(
                "login verify",
                "POST",
                "/auth/passkeys/login/verify",
                200,
                {"challenge_id": login["challenge_id"], "credential": phone.get(login["options"])},
            )["access_token"]
            call("GET /me", "GET", "/me", 200, token=token)
            call("GET /lines/{id}/usage", "GET", f"/lines/{line_id}/usage", 200, token=token)
            call("GET /bills", "GET", "/bills", 200, token=token)
            step_up = call(
                "add card step-up",
                "POST",
                "/me/step-up",
                200,
                {"action": "payment_method.add", "provider_token": "tok_visa"},
                token=token,
            )
            confirmation = {
                "challenge_id": step_up["challenge_id"],
                "credential": phone.get(step_up["options"]),
            }
            method = call(
                "add card",
                "POST",
                "/me/payment-methods",
                201,
                {"provider_token": "tok_visa", "confirmation": confirmation},
                token=token,
            )["payment_method_id"]
            challenge = call(
                "payment challenge",
                "POST",
                f"/bills/{bill_id}/payments/challenge",
                200,
                {"amount": 1800, "payment_method_id": method},
                token=token,
            )
            call(
                "pay",
                "POST",
                f"/bills/{bill_id}/payments",
                201,
                {
                    "amount": 1800,
                    "payment_method_id": method,
                    "challenge_id": challenge["challenge_id"],
                    "credential": phone.get(challenge["options"]),
                },
                token=token,
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            amount = 100 * secrets.randbelow(900) + 100
            bid = call(
                "bid challenge",
                "POST",
                f"/offers/{offer_id}/bid/challenge",
                200,
                {"amount": amount, "payment_method_id": method, "line_id": line_id},
                token=token,
            )
            call(
                "place bid",
                "PUT",
                f"/offers/{offer_id}/bid",
                201,
                {
                    "amount": amount,
                    "payment_method_id": method,
                    "line_id": line_id,
                    "challenge_id": bid["challenge_id"],
                    "credential": phone.get(bid["options"]),
                },
                token=token,
            )
            call("GET /offers/{id}", "GET", f"/offers/{offer_id}", 200, token=token)
            call("GET /me/inbox", "GET", "/me/inbox", 200, token=token)

        journey(
            prepared.pop()
        )  # warm-up: the server's first sign-in imports webauthn (a cold start, measured apart)
        timings.clear()
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(journey, prepared))
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    every = [t for values in timings.values() for t in values]
    if errors:
        raise AssertionError(f"{len(errors)} errors under load, e.g. {errors[:3]}")
    return {
        "how": "HTTP to chalice local (threaded, Nagle off, keep-alive), DynamoDB Local; soft authenticator as the phone",
        "customers": customers,
        "concurrency": concurrency,
        "requests": len(every),
        "errors": len(errors),
        "error_samples": errors[:5],
        "seconds": round(seconds, 1),
        "requests_per_second": round(len(every) / seconds, 1),
        "journeys_per_second": round(customers / seconds, 2),
        "p50_ms": _pct(every, 0.5),
        "p99_ms": _pct(every, 0.99),
        "steps": {step: {"p50_ms": _pct(v, 0.5), "p99_ms": _pct(v, 0.99)} for step, v in timings.items()},
    }


if __name__ == "__main__":
    import logging

    from bench.common import start_stack

    logging.getLogger("selfcare").setLevel(logging.WARNING)
    ddb = start_stack()
    try:
        print(json.dumps(run(customers=int(sys.argv[1]) if len(sys.argv) > 1 else 40), indent=2))
    finally:
        ddb.terminate()
