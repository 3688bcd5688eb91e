"""One Lambda function's container, in the runtime's Python (3.12): started as
`python -I -S -B lambda_runner.py <task root>` with the unpacked package as working directory, so
that the package is the only code it can import (no repository, no site-packages), as in Lambda's
/var/task. Standard library only, by design.

It imports `app` once (a cold start: the first line it answers says how that went), then reads
invocations from stdin, one JSON object per line: `{"handler": "admin_create_customer", "event":
{...}}` calls `getattr(app, handler)(event, context)`, as Lambda calls the function's Handler
`app.<handler>`; `{"harness": "passkey_create" | "passkey_get", "options": {...}}` plays the
phone's part of a passkey ceremony instead (tests/deploy starts one container for the phone), and
`{"harness": "import", "modules": [...]}` imports modules that the code imports only when needed
(`"where": true`: answers each module's file instead of "ok", to show where it was found). Each
answer is one JSON line: the result, or the traceback of an unhandled exception. The handlers' own
output (their JSON logs) goes to stderr, so that it never mixes with the answers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any


class LambdaContext:
    """The attributes Lambda's Python runtime gives a handler's context."""

    def __init__(self, handler: str) -> None:
        self.function_name = f"selfcare-test-{handler}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-3:123456789012:function:{self.function_name}"
        self.memory_limit_in_mb = "512"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2026/11/27/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + 60

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Phone:
    """A software passkey (devtools/soft_authenticator.py, loaded by its path) for this stage's RP ID
    and origin; its imports (cbor2, cryptography) resolve in the package."""

    def __init__(self, authenticator_file: str) -> None:
        spec = importlib.util.spec_from_file_location("soft_authenticator", authenticator_file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        origin = os.environ["WEBAUTHN_ORIGINS"].split(",")[0].strip()
        self.authenticator = module.SoftAuthenticator(origin=origin, rp_id=os.environ["WEBAUTHN_RP_ID"])

    def __call__(self, kind: str, options: dict[str, Any]) -> Any:
        return (
            self.authenticator.create(options)
            if kind == "passkey_create"
            else self.authenticator.get(options)
        )


def imported(modules: list[str], *, where: bool = False) -> dict[str, str]:
    """module → "ok" (or its file, `where`) or why it cannot be imported here (what a lazy import
    would meet in AWS)."""
    outcome = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
            outcome[name] = str(getattr(module, "__file__", None)) if where else "ok"
        except BaseException as error:  # noqa: BLE001 - reported per module
            outcome[name] = f"{type(error).__name__}: {error}"
    return outcome


def main() -> int:
    task_root = sys.argv[1]
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the handlers print goes to stderr; answers keep the original stdout
    sys.path.insert(0, task_root)  # Lambda's LAMBDA_TASK_ROOT, first on the path

    def answer(**entry: Any) -> None:
        answers.write(json.dumps(entry, default=str) + "\n")
        answers.flush()

    phone: Phone | None = None
    started = time.perf_counter()
    try:
        import chalice

        import app
    except BaseException:  # noqa: BLE001 - the package itself is broken: nothing else can run
        answer(ok=False, error=traceback.format_exc())
        return 1
    answer(
        ok=True,
        seconds=round(time.perf_counter() - started, 3),
        sys_path=sys.path,
        app_file=app.__file__,
        app_cached=getattr(app, "__cached__", None),
        chalice_file=chalice.__file__,
    )

    for line in sys.stdin:
        call = json.loads(line)
        try:
            if call.get("harness") == "import":
                result = imported(call["modules"], where=bool(call.get("where")))
            elif "harness" in call:
                phone = phone or Phone(call["authenticator_file"])
                result = phone(call["harness"], call["options"])
            else:
                event = call["event"]
                if isinstance(
                    event.get("body"), (dict, list)
                ):  # an API body written as an object in the test
                    event["body"] = json.dumps(event["body"])
                result = getattr(app, call["handler"])(event, LambdaContext(call["handler"]))
            json.dumps(result)  # a handler's answer must be JSON, as Lambda serialises it
        except BaseException:  # noqa: BLE001 - reported; the container takes the next invocation
            answer(ok=False, error=traceback.format_exc())
            continue
        answer(ok=True, result=result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
