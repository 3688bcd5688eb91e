"""`make bench`: every benchmark, one report (printed, and written to bench/results.json)."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import account, clearing, cold_start, fanout, help_search, load, payment, scale, sign_in
from bench.common import count_dynamodb_calls, machine, start_stack

RESULTS = Path(__file__).resolve().parent / "results.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller runs: 1,000 alerts instead of 10,000, 10,000 bids instead of 100,000",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="only these parts (e.g. sign_in push_fanout); the others keep their last results",
    )
    args = parser.parse_args()
    logging.getLogger("selfcare").setLevel(
        logging.WARNING
    )  # the app's per-request lines would bury the report
    ddb = start_stack()
    try:
        count_dynamodb_calls()
        runs: dict[str, Callable[[], Any]] = {
            "cold_start": cold_start.run,
            "package": cold_start.package,  # issue 17: dist/dev/deployment.zip, zipped and unzipped
            "sign_in": sign_in.run,
            "push_fanout": lambda: fanout.run(customers=500 if args.quick else 5000),
            "account": lambda: account.run(records=2000 if args.quick else 10_000),
            "payment": payment.run,
            "load": lambda: load.run(customers=20 if args.quick else 60),
            "clearing": lambda: clearing.run(
                bids=10_000 if args.quick else 100_000, units=50 if args.quick else 500
            ),
            "help_search": lambda: help_search.run(articles=1000 if args.quick else 5000),
            "scale": lambda: scale.run(bidders=500 if args.quick else 2000),  # issue 17: one offer's hot keys
        }
        unknown = set(args.only or ()) - set(runs)
        if unknown:
            parser.error(f"unknown parts {sorted(unknown)}: choose among {sorted(runs)}")
        report: dict[str, Any] = json.loads(RESULTS.read_text()) if args.only else {}
        report.update(
            ran_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            machine=machine(),
            note="DynamoDB Local on the same machine; Chalice's test client (the real routes, authorizer and gateway shim).",
        )
        for name, run in runs.items():
            if not args.only or name in args.only:
                report[name] = run()
    finally:
        ddb.terminate()
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
