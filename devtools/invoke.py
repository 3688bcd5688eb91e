"""Run one of the app's Lambda functions locally, as the AWS console's Test button would.

    python -m devtools.invoke admin_create_customer infra/admin-events/admin_create_customer.json
    python -m devtools.invoke clear_offers infra/sample-events/clear_offers.json

Admin functions take their samples from infra/admin-events/; the schedules, the SQS usage consumer
and the table stream consumer from infra/sample-events/ (`${now}` in a sample is the current time;
any other `${...}` is a value of your own data to fill in first, e.g. a customer id).
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class _Context:
    """The parts of a Lambda context that handlers read."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: make invoke FUNCTION=<name> EVENT=<file.json>", file=sys.stderr)
        return 2
    name, event_file = argv
    import app

    # Function name → the attribute Lambda calls (its Handler `app.<attribute>`).
    functions = {f.name: f.handler_string for f in app.app.pure_lambda_functions}
    functions |= {source.name: source.handler_string for source in app.app.event_sources}
    if name not in functions:
        print(f"No Lambda function {name!r}. Known: {', '.join(sorted(functions))}", file=sys.stderr)
        return 2
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    text = Path(event_file).read_text().replace("${now}", now)
    unfilled = sorted(set(re.findall(r"\$\{(\w+)\}", text)))
    if unfilled:
        print(
            f"Fill in {', '.join(unfilled)} in {event_file} first (values of your own data).", file=sys.stderr
        )
        return 2
    handler: Any = getattr(app, functions[name].partition(".")[2])
    result = handler(json.loads(text), _Context(name))
    print(json.dumps(result, indent=2))
    failed = isinstance(result, dict) and ("error" in result or result.get("batchItemFailures"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
