"""`make run`: the whole service on this machine, stopped together with Ctrl-C.

DynamoDB Local (data kept in .local/dynamodb-data/), the table from infra/, a demo customer with a
fresh activation code, and the API (`chalice local`, with infra/'s gateway responses) on
127.0.0.1. Later capabilities add their background workers to WORKERS.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC
from typing import Any

from devtools import dynamodb_local, help_seed, s3_local, tables
from devtools.dynamodb_local import ROOT

DEMO_CUSTOMER = {
    "customer_number": "C-1001",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+33612345678",
}
DEMO_LINE_ID = "ln_demo1001"

# (name, argv) of background processes started beside the API, each with the same environment:
# the table stream poller and the every-minute schedule (devtools/workers.py). Without
# FCM_PROJECT_ID/FIREBASE_CREDENTIALS the pushes are printed by the console sender.
WORKERS: list[tuple[str, list[str]]] = [("workers", [sys.executable, "-m", "devtools.workers"])]


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def seed_demo_customer() -> dict[str, Any]:
    import app

    result = app.admin_create_customer(DEMO_CUSTOMER, None)
    if result.get("error", {}).get("code") == "customer_number_taken":
        result = app.admin_issue_activation_code({"customer_number": DEMO_CUSTOMER["customer_number"]}, None)
    if "error" in result:
        raise SystemExit(f"Could not seed the demo customer: {result['error']}")
    _seed_account(app)
    return result


def _seed_account(app: Any) -> None:
    """The catalogue, a line whose cycle began 12 days ago, and 12 days of usage (84 % of data)."""
    import json
    from datetime import datetime, timedelta

    from devtools import usage_simulator

    catalogue = json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text())
    app.admin_upsert_catalog(catalogue, None)
    anchor = min(28, (datetime.now(UTC) - timedelta(days=12)).day)
    line = {
        "customer_number": DEMO_CUSTOMER["customer_number"],
        "line_id": DEMO_LINE_ID,
        "msisdn": DEMO_CUSTOMER["phone"],
        "plan_id": "essentiel-20",
        "option_ids": ["data-plus-5"],
        "anchor_day": anchor,
        "status": "active",
        "reason": "correction",  # a restart on another day moves the demo line's cycle day: say why
    }
    result = app.admin_set_line(line, None)
    if "error" in result:
        raise SystemExit(f"Could not seed the demo line: {result['error']}")
    usage_simulator.backfill(app.ingest_usage, DEMO_LINE_ID, days=12, data_mb_per_day=1800)
    month = datetime.now(UTC).strftime("%Y%m")
    app.import_bills(
        {
            "bills": [
                {  # the same id every run this month: imported once, then "unchanged"
                    "bill_id": f"B-{month}-1001",
                    "customer_number": DEMO_CUSTOMER["customer_number"],
                    "line_ids": [DEMO_LINE_ID],
                    "period": {"start": "2026-10-01", "end": "2026-10-31"},
                    "issued_at": datetime.now(UTC).strftime("%Y-%m-01T06:00:00Z"),
                    "due_date": (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%d"),
                    "currency": "EUR",
                    "items": [
                        {"label": "Forfait Essentiel 20 Go", "amount": 1083, "tax": 216},
                        {"label": "Option Data +5 Go", "amount": 417, "tax": 83},
                    ],
                    "total": 1799,
                }
            ]
        },
        None,
    )
    _seed_offer(app)


def _seed_offer(app: Any) -> None:
    """An upgrade offer open for bids, closing 15 minutes after this start (then cleared by the
    clear_offers worker within 10 s): one unit, so a second bidder can be outbid."""
    from datetime import datetime, timedelta

    start = datetime.now(UTC)
    result = app.admin_create_offer(
        {
            "offer_id": "off_demo_" + start.strftime("%Y%m%d%H%M"),
            "title": {"fr": "Premium 100 Go pendant 3 mois", "en": "Premium 100 GB for 3 months"},
            "description": {
                "fr": "Le forfait Premium 100 Go pendant 3 mois, puis retour à votre forfait.",
                "en": "The Premium 100 GB plan for 3 months, then back to your plan.",
            },
            "inventory": 1,
            "currency": "EUR",
            "min_bid": 500,
            "max_bid": 2900,
            "increment": 100,
            "opens_at": (start - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "closes_at": (start + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eligibility": {"plan_ids": ["essentiel-20"], "segments": []},
            "grant": {"kind": "plan", "entry_id": "premium-100", "days": 90},
        },
        None,
    )
    if "error" in result and result["error"]["code"] != "offer_exists":
        raise SystemExit(f"Could not seed the demo offer: {result['error']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ddb-port", type=int, default=8001)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--s3-port", type=int, default=8004)
    args = parser.parse_args()
    for port in (args.ddb_port, args.api_port, args.s3_port):
        if _port_busy(port):
            raise SystemExit(
                f"Port {port} is in use (another `make run`?). Stop it, or pass DDB_PORT=/API_PORT=."
            )

    children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def stop(*_: Any) -> None:
        for _name, proc in reversed(children):
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in children:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("\nStopped: " + ", ".join(name for name, _ in children))
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    print(f"Starting DynamoDB Local on 127.0.0.1:{args.ddb_port} (data in .local/dynamodb-data/) ...")
    children.append(("DynamoDB Local", dynamodb_local.start(args.ddb_port, in_memory=False)))
    endpoint = f"http://127.0.0.1:{args.ddb_port}"
    tables.create_tables(endpoint=endpoint, table_name=os.environ["APP_TABLE_NAME"])
    # The help index objects and the case documents: a local S3-compatible server (moto's, behind
    # devtools/s3_local.py's presigned-POST policy gate); its objects live as long as the process.
    from chalicelib.config import get_settings

    print(f"Starting the local S3 on 127.0.0.1:{args.s3_port} ...")
    os.environ["S3_ENDPOINT"] = f"http://127.0.0.1:{args.s3_port}"
    get_settings.cache_clear()
    settings = get_settings()
    children.append(
        (
            "local S3",
            s3_local.start(
                args.s3_port,
                buckets=[settings.help_bucket, settings.case_documents_bucket, settings.exports_bucket],
            ),
        )
    )
    demo = seed_demo_customer()
    help_index = help_seed.seed_demo()

    # The dev defaults expect the API on :8000; on another port the browser's origin follows it.
    origin = f"http://localhost:{args.api_port}"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "WEBAUTHN_ORIGINS": os.environ.get("WEBAUTHN_ORIGINS", origin),
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "devtools.serve", "--port", str(args.api_port)], cwd=ROOT, env=env
    )
    children.append(("API", api))
    for name, argv in WORKERS:
        children.append((name, subprocess.Popen(argv, cwd=ROOT, env=env)))
    deadline = time.monotonic() + 30
    while not _port_busy(args.api_port):
        if api.poll() is not None or time.monotonic() > deadline:
            stop()
        time.sleep(0.2)

    base = f"http://localhost:{args.api_port}"
    print(
        f"""
==============================================================================
 Self-care API on {base}   (DynamoDB Local on {endpoint})

 Demo customer  {demo["customer_number"]}   enrolment handle  {demo["enrolment_handle"]}
                activation code  {demo["activation_code"]}
                (valid until {demo["activation_code_expires_at"]}; a new one at every `make run`)

 Try next, in another terminal:
   make demo                                   # enrol a passkey, sign in, refresh, sessions
   open {base}/demo/passkeys.html  # the same with your browser's passkeys
   curl -s {base}/.well-known/jwks.json
   curl -s -X POST {base}/auth/passkeys/login/options
   make invoke FUNCTION=admin_create_customer EVENT=infra/admin-events/admin_create_customer.json
   curl -s "{base}/help/search?q=facture+impayee"   # help search ({help_index.get("articles", "?")} articles indexed)
   An upgrade offer closes 15 minutes from now: GET /offers with the demo customer's token,
   bid with a passkey, and watch clear_offers charge the winner and fill the inbox.

 The contract: mobile_contract/openapi.yaml.   Ctrl-C stops everything.
==============================================================================
""",
        flush=True,
    )
    while True:
        for name, proc in children:
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping.")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
