"""Run one of the app's Lambda functions locally, as the AWS console's Test button would.

    python -m devtools.invoke admin_create_customer infra/admin-events/admin_create_customer.json
"""
from __future__ import annotations

import json
import sys
import uuid
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

    handler: Any = getattr(app, name, None)
    known = sorted(f.name for f in app.app.pure_lambda_functions)
    if handler is None or name not in known:
        print(f"No Lambda function {name!r}. Known: {', '.join(known)}", file=sys.stderr)
        return 2
    event = json.loads(Path(event_file).read_text())
    result = handler(event, _Context(name))
    print(json.dumps(result, indent=2))
    return 1 if isinstance(result, dict) and "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
