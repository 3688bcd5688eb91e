"""Recording proxies in front of DynamoDB Local and the local S3: which IAM actions each step of the
Lambda run used.

Neither DynamoDB Local nor the local S3 enforces IAM, so a function whose policy lacks an action it
needs would pass every local test and fail in AWS. The test sets `step` before each invocation (they
run one at a time); every request that follows is recorded under that step as the IAM actions it
needs, and on what.

DynamoDB: on the table or on an index. IAM asks for the actions inside a transaction, not for the
transaction itself: TransactWriteItems needs PutItem / UpdateItem / DeleteItem / ConditionCheckItem
per action, TransactGetItems GetItem.

S3 (path-style requests, as the functions make them with S3_ENDPOINT): on a bucket, or on the
objects under one top-level prefix of it (`documents/...` → `documents/*`). HEAD of an object needs
s3:GetObject; a browser-form POST (a presigned POST) s3:PutObject on the form's key, authorised as
whoever signed the form, not as who sends it; a CopyObject (a PUT with x-amz-copy-source)
s3:PutObject on the destination and s3:GetObject on the source; a listing (ListObjectsV2)
s3:ListBucket on the bucket.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# Response headers the proxy sets itself (the body is re-sent whole, with its own length).
_HOP_HEADERS = ("content-length", "connection", "transfer-encoding", "date", "server", "keep-alive")


def iam_actions(operation: str, body: dict[str, Any]) -> set[tuple[str, str]]:
    """(IAM action, "table" | "index") pairs a DynamoDB request needs."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return {
            (f"dynamodb:{_TRANSACT_ACTIONS[kind]}", "table")
            for item in body.get("TransactItems", [])
            for kind in item
        }
    return {(f"dynamodb:{operation}", "index" if body.get("IndexName") else "table")}


def _form_key(body: bytes) -> str | None:
    """The `key` field of a multipart form (a presigned POST's object key)."""
    found = re.search(rb'name="key"\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]*)\r\n', body)
    return found.group(1).decode() if found else None


def _objects(bucket: str, key: str) -> str:
    """The resource an object request is on, as the policies name it: `<bucket>/<prefix>/*`."""
    prefix, slash, _ = key.partition("/")
    return f"{bucket}/{prefix}/*" if slash else f"{bucket}/{key}"


# The query of a listing (ListObjectsV2, as boto3 sends it: it always asks for `encoding-type=url`).
LISTING_PARAMS = {
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "encoding-type",
    "continuation-token",
    "start-after",
    "fetch-owner",
}


def s3_actions(method: str, target: str, body: bytes = b"") -> set[tuple[str, str]]:
    """(IAM action, resource) pairs a path-style S3 request needs; resource is `<bucket>` or
    `<bucket>/<prefix>/*`. A request of a kind not listed here is recorded as `s3:?<what>`: no
    policy allows it, so the test names it rather than passing it unseen."""
    split = urlsplit(target)
    bucket, _, key = unquote(split.path).lstrip("/").partition("/")
    params = parse_qs(split.query, keep_blank_values=True)
    if not key:
        if method == "POST" and not params:  # a browser form upload (presigned POST)
            form_key = _form_key(body)
            return {("s3:PutObject", _objects(bucket, form_key or ""))}
        if method in ("GET", "HEAD") and not (set(params) - LISTING_PARAMS):
            return {("s3:ListBucket", bucket)}
        return {(f"s3:?{method} bucket {sorted(params)}", bucket)}
    if set(params) & {"tagging", "acl", "retention", "legal-hold", "restore", "select"}:
        return {(f"s3:?{method} object {sorted(params)}", _objects(bucket, key))}
    if method in ("GET", "HEAD"):
        return {("s3:GetObject", _objects(bucket, key))}
    if method in ("PUT", "POST"):  # a PUT, or a multipart upload's parts and completion
        return {("s3:PutObject", _objects(bucket, key))}
    if method == "DELETE":
        action = "s3:AbortMultipartUpload" if "uploadId" in params else "s3:DeleteObject"
        return {(action, _objects(bucket, key))}
    return {(f"s3:?{method} object", _objects(bucket, key))}


class _RecordingProxy:
    """An HTTP proxy to `target` that records, under the current `step`, what `_record` makes of
    each request, then forwards it unchanged and answers with the upstream's answer."""

    methods: tuple[str, ...] = ("POST",)

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        if not self.target.hostname:
            raise ValueError(f"endpoint without a host: {target!r}")
        self.host: str = self.target.hostname
        self.calls: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.step = "import"  # where the calls made now belong
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The answer's headers and body leave in two writes: with Nagle's algorithm on, the
            # body waits for the client's delayed ACK (~40 ms a request, most of a run's time).
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in str(self.headers.get("Transfer-Encoding", "")).lower():
                    parts: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _forward(self) -> None:
                body = self._body()
                with recorder._lock:
                    recorder.calls[recorder.step] |= recorder._record(
                        self.command, self.path, dict(self.headers.items()), body
                    )
                upstream = http.client.HTTPConnection(recorder.host, recorder.target.port, timeout=30)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection", "expect", "transfer-encoding")
                    }
                    headers["Content-Length"] = str(len(body))
                    if self.command in ("GET", "HEAD", "DELETE") and not body:
                        headers.pop("Content-Length")
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    payload = answer.read()
                    self._answer(answer.status, answer.getheaders(), payload)
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_HEADERS:
                        self.send_header(name, value)
                if self.command == "HEAD":  # no body: the length is the object's, as upstream said
                    length = next((v for k, v in headers if k.lower() == "content-length"), "0")
                    self.send_header("Content-Length", length)
                else:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

        for method in self.methods:
            setattr(Handler, f"do_{method}", Handler._forward)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> set[tuple[str, str]]:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


class DynamoDBRecorder(_RecordingProxy):
    """Every DynamoDB API call (a POST naming its operation in X-Amz-Target)."""

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> set[tuple[str, str]]:
        lowered = {k.lower(): v for k, v in headers.items()}
        operation = str(lowered.get("x-amz-target", "")).rpartition(".")[2]
        return iam_actions(operation, json.loads(body or b"{}"))

    def __enter__(self) -> DynamoDBRecorder:
        super().__enter__()
        return self


class S3Recorder(_RecordingProxy):
    """Every S3 request, path style (the local S3 answers on one host)."""

    methods = ("GET", "HEAD", "PUT", "POST", "DELETE")

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> set[tuple[str, str]]:
        actions = s3_actions(method, path, body)
        source = {k.lower(): v for k, v in headers.items()}.get("x-amz-copy-source")
        if method == "PUT" and source:
            # A CopyObject: PutObject on the destination, and GetObject on the source it reads.
            actions |= s3_actions("GET", "/" + unquote(source.split("?", 1)[0]).lstrip("/"))
        return actions

    def __enter__(self) -> S3Recorder:
        super().__enter__()
        return self
