"""A local S3 for `make run` and the tests: moto's S3 server behind a gate that checks browser-form
(presigned POST) uploads against their signed policy, as S3 does.

    python -m devtools.s3_local --port 8004 [--bucket NAME ...]   # foreground

Why not moto or s3rver alone: neither checks a POST policy. moto 5 stores whatever a form POST
sends (`_bucket_response_post` reads the key and the file, never `policy`); s3rver 3.7 lists
`policy` among the fields it leaves "unimplemented" (lib/controllers/object.js). A presigned POST
whose size and type limits nobody checks locally would let a test pass that S3 would fail, and the
reverse. So `PostPolicyGate` does what S3 does before it stores a form upload: the SigV4 signature
of the policy (with the secret key the local stack uses, `local`), its expiration, every condition
(exact values, `eq`, `starts-with`, `content-length-range`), and no form field left out of the
policy. Every other request goes to moto unchanged.

In Python: `start(port, buckets=[...]) -> handle`, `stop(handle)`, `free_port()`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
SECRET_KEY = "local"  # noqa: S105 - the local stack's AWS_SECRET_ACCESS_KEY; S3 here is a fake
REGION = "eu-west-3"
MAX_FORM_BYTES = 64 * 1024 * 1024  # far above any policy we sign: a bound on what is read
# Form fields S3 never asks the policy to cover.
UNCOVERED = {"policy", "x-amz-signature", "file"}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PolicyRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check_post(
    *,
    bucket: str,
    fields: dict[str, str],
    file_size: int,
    secret: str = SECRET_KEY,
    moment: datetime | None = None,
) -> None:
    """Refuse (PolicyRefused) a form upload to `bucket` as S3 would; `fields` are the form's text
    fields (names as sent), `file_size` the size of its file part."""
    lower = {name.lower(): value for name, value in fields.items()}
    for required in ("key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"):
        if required not in lower:
            raise PolicyRefused(
                400, "InvalidArgument", f"Bucket POST must contain a field named '{required}'."
            )
    if lower["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
        raise PolicyRefused(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 is supported.")
    try:
        _, date, region, service, _ = lower["x-amz-credential"].split("/")
    except ValueError:
        raise PolicyRefused(400, "InvalidArgument", "Malformed x-amz-credential.") from None
    expected = hmac.new(
        _signing_key(secret, date, region, service), lower["policy"].encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, lower["x-amz-signature"]):
        raise PolicyRefused(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    try:
        policy = json.loads(base64.b64decode(lower["policy"]))
        expiration = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
        conditions = list(policy["conditions"])
    except (ValueError, KeyError, TypeError):
        raise PolicyRefused(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
    if expiration <= (moment or datetime.now(UTC)):
        raise PolicyRefused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    values = {**lower, "bucket": bucket}
    covered: set[str] = set()
    for condition in conditions:
        _check_condition(condition, values, file_size, covered)
    extra = sorted(
        name
        for name in lower
        if name not in UNCOVERED and name not in covered and not name.startswith("x-ignore-")
    )
    if extra:
        raise PolicyRefused(
            403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"
        )


def _failed(condition: Any) -> PolicyRefused:
    return PolicyRefused(
        403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}"
    )


def _check_condition(condition: Any, values: dict[str, str], file_size: int, covered: set[str]) -> None:
    if isinstance(condition, dict) and len(condition) == 1:
        [(name, wanted)] = condition.items()
        covered.add(name.lower())
        if values.get(name.lower()) != wanted:
            raise _failed(condition)
        return
    if isinstance(condition, list) and len(condition) == 3:
        operator = str(condition[0]).lower()
        if operator == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if file_size > high:
                raise PolicyRefused(
                    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
                )
            if file_size < low:
                raise PolicyRefused(
                    400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
                )
            return
        if operator in ("eq", "starts-with") and str(condition[1]).startswith("$"):
            name = str(condition[1])[1:].lower()
            covered.add(name)
            value = values.get(name, "")
            ok = value == condition[2] if operator == "eq" else value.startswith(str(condition[2]))
            if not ok:
                raise _failed(condition)
            return
    raise PolicyRefused(
        400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {json.dumps(condition)}"
    )


def _error(start_response: StartResponse, refused: PolicyRefused) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{refused.code}</Code><Message>{escape(refused.message)}</Message>"
        "<RequestId>local</RequestId></Error>"
    ).encode()
    reason = {400: "Bad Request", 403: "Forbidden"}.get(refused.status, "Error")
    start_response(
        f"{refused.status} {reason}",
        [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


class PostPolicyGate:
    """WSGI middleware: a multipart form POST to a bucket (path style: `/<bucket>`) is checked by
    `check_post` before it reaches `app`; everything else passes through."""

    def __init__(self, app: WsgiApp, *, secret: str = SECRET_KEY) -> None:
        self.app, self.secret = app, secret

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        content_type = environ.get("CONTENT_TYPE", "")
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or not content_type.startswith("multipart/form-data")
            or path.strip("/").count("/") != 0
            or not path.strip("/")
        ):
            return self.app(environ, start_response)
        from werkzeug.formparser import parse_form_data

        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_FORM_BYTES:
            return _error(start_response, PolicyRefused(400, "EntityTooLarge", "The form is too large."))
        body = environ["wsgi.input"].read(length)
        probe = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        _, form, files = parse_form_data(probe)
        upload = files.get("file")
        size = len(upload.read()) if upload is not None else 0
        try:
            if upload is None:
                raise PolicyRefused(
                    400, "InvalidArgument", "POST requires exactly one file upload per request."
                )
            check_post(
                bucket=path.strip("/"),
                fields={name: form[name] for name in form},
                file_size=size,
                secret=self.secret,
            )
        except PolicyRefused as refused:
            return _error(start_response, refused)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


def serve(port: int, buckets: Iterable[str] = ()) -> None:
    """Serve in the foreground (the child process of `start`), creating `buckets` once it answers."""
    import threading

    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = PostPolicyGate(create_backend_app("s3"))  # S3 only: no guessing the service per request
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    endpoint = f"http://127.0.0.1:{port}"

    def create() -> None:
        for name in buckets:
            ensure_bucket(endpoint, name)
        print(f"s3_local: {endpoint} (buckets: {', '.join(buckets) or 'none'})", flush=True)

    threading.Thread(target=create, daemon=True).start()
    server.serve_forever()


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key=SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def ensure_bucket(endpoint: str, name: str) -> None:
    """Create `name` on the server at `endpoint` unless it is there."""
    from botocore.exceptions import ClientError

    try:
        _client(endpoint).create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise


def wait_ready(endpoint: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)  # noqa: S310 - our own local server
            return
        except urllib.error.HTTPError:
            return  # it answers: it is up
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local S3 did not start at {endpoint}") from None
            time.sleep(0.1)


def start(port: int, *, buckets: Iterable[str] = ()) -> subprocess.Popen[bytes]:
    """Start in the background (a child process); the caller stops it with `stop(handle)`."""
    LOCAL.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "devtools.s3_local", "--port", str(port)]
    with open(LOCAL / f"s3-local-{port}.log", "wb") as log:  # the child keeps its own handle
        handle = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        for name in buckets:
            ensure_bucket(f"http://127.0.0.1:{port}", name)
    except Exception:
        stop(handle)
        raise
    return handle


def stop(handle: subprocess.Popen[bytes]) -> None:
    handle.terminate()
    try:
        handle.wait(timeout=10)
    except subprocess.TimeoutExpired:
        handle.kill()
        handle.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8004)
    parser.add_argument("--bucket", action="append", default=[], help="a bucket to create (repeatable)")
    args = parser.parse_args()
    serve(args.port, args.bucket)


if __name__ == "__main__":
    main()
