"""A local fake of the FCM HTTP v1 API (`POST /v1/projects/<id>/messages:send`), for the tests, the
benchmarks and `make run`. firebase_admin's real client talks to it over HTTP; only its URL changes.

Each target (the message's `fid`, or the deprecated `token`) answers as told with `behave()`:
`ok`, `unregistered` (404 UNREGISTERED), `invalid` (400 INVALID_ARGUMENT with an FcmError detail),
`bad-payload` (400 INVALID_ARGUMENT without one), `unavailable:N` (503 with Retry-After, N times,
then ok), `quota:N` (429 QUOTA_EXCEEDED, N times, then ok). Unknown targets are `ok`.

    python -m devtools.fake_fcm --port 8002    # prints each message it accepts
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


class FakeFcm:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, echo: bool = False) -> None:
        self.accepted: list[dict[str, Any]] = []  # messages answered 200, in order
        self.attempts: dict[str, int] = defaultdict(int)  # per target, every answer counted
        self._behaviour: dict[str, str] = {}
        self._lock = threading.Lock()
        self._echo = echo
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                match = _PATH.match(self.path)
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                if not match:
                    return self._answer(
                        404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}}
                    )
                status, body, headers = fake._decide(payload.get("message", {}))
                return self._answer(status, body, headers)

            def _answer(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024  # send_each opens up to 500 connections at once

        self._server = Server((host, port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeFcm:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def behave(self, target: str, behaviour: str) -> None:
        with self._lock:
            self._behaviour[target] = behaviour

    def reset(self) -> None:
        with self._lock:
            self.accepted.clear()
            self.attempts.clear()
            self._behaviour.clear()

    def delivered_to(self, target: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.accepted if (m.get("fid") or m.get("token")) == target]

    def _decide(self, message: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        target = message.get("fid") or message.get("token") or ""
        with self._lock:
            self.attempts[target] += 1
            behaviour = self._behaviour.get(target, "ok")
            name, _, count = behaviour.partition(":")
            if count:
                remaining = int(count) - 1
                self._behaviour[target] = f"{name}:{remaining}" if remaining > 0 else "ok"
            if name == "ok":
                self.accepted.append(message)
                if self._echo:
                    print("FCM accepted " + json.dumps(message, ensure_ascii=False), flush=True)
                return 200, {"name": f"projects/fake/messages/{len(self.accepted)}"}, {}
        if name == "unregistered":
            return 404, _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"), {}
        if name == "invalid":
            return (
                400,
                _error(
                    400,
                    "INVALID_ARGUMENT",
                    "The registration token is not a valid FCM registration token",
                    "INVALID_ARGUMENT",
                ),
                {},
            )
        if name == "bad-payload":
            return (
                400,
                {
                    "error": {
                        "code": 400,
                        "message": "Invalid JSON payload received.",
                        "status": "INVALID_ARGUMENT",
                    }
                },
                {},
            )
        if name == "unavailable":
            return (
                503,
                _error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
                {"Retry-After": "30"},
            )
        if name == "quota":
            return (
                429,
                _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED"),
                {"Retry-After": "90"},
            )
        raise ValueError(f"unknown behaviour {behaviour!r}")


def _error(code: int, status: str, message: str, fcm_code: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "details": [{"@type": _FCM_ERROR, "errorCode": fcm_code}],
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args()
    fake = FakeFcm(port=args.port, echo=True).start()
    print(f"Fake FCM v1 API on {fake.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
