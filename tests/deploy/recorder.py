"""A recording proxy in front of DynamoDB Local: which IAM actions each step of the Lambda run used.

DynamoDB Local enforces no IAM, so a function whose policy lacks an action it needs would pass every
local test and fail in AWS. The test sets `step` before each invocation (they run one at a time);
every DynamoDB request that follows is recorded under that step as the IAM actions it needs, on the
table or on an index. IAM asks for the actions inside a transaction, not for the transaction
itself: TransactWriteItems needs PutItem / UpdateItem / DeleteItem / ConditionCheckItem per action,
TransactGetItems GetItem.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def iam_actions(operation: str, body: dict[str, Any]) -> set[tuple[str, str]]:
    """(IAM action, "table" | "index") pairs a DynamoDB request needs."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return {
            (f"dynamodb:{_TRANSACT_ACTIONS[kind]}", "table")
            for item in body.get("TransactItems", [])
            for kind in item
        }
    return {(f"dynamodb:{operation}", "index" if body.get("IndexName") else "table")}


class DynamoDBRecorder:
    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.calls: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.step = "import"  # where the calls made now belong
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - every DynamoDB API call
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2]
                with recorder._lock:
                    recorder.calls[recorder.step] |= iam_actions(operation, json.loads(body or b"{}"))
                upstream = http.client.HTTPConnection(
                    recorder.target.hostname, recorder.target.port, timeout=30
                )
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                    }
                    upstream.request("POST", self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    self._answer(answer.status, dict(answer.getheaders()), answer.read())
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in (
                        "content-length",
                        "connection",
                        "transfer-encoding",
                        "date",
                        "server",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> DynamoDBRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
