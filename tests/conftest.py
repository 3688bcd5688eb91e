"""The suite runs against a real DynamoDB Local (started here, in memory, on a free port) and the
real Chalice routes through Chalice's test client. Settings are environment variables, so they are
set before `app` is first imported."""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_state: dict[str, Any] = {}


def _xdist_controller(config: pytest.Config) -> bool:
    """Under pytest-xdist (`-n 2`), the process that only hands out tests: each worker starts its own
    DynamoDB Local, local S3 and fake FCM (separate state, no shared ports), the controller none."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _xdist_controller(config):
        return
    from devtools import dynamodb_local, tables
    from devtools.fake_fcm import FakeFcm

    _state["fcm"] = FakeFcm().start()
    # One local S3 (moto's, behind devtools/s3_local.py's presigned-POST policy gate) for the help
    # index objects and the case documents.
    from devtools import s3_local

    s3_port = s3_local.free_port()
    _state["s3"] = s3_local.start(
        s3_port, buckets=["selfcare-test-help", "selfcare-test-case-documents", "selfcare-test-exports"]
    )

    endpoint = os.environ.get("TEST_DYNAMODB_ENDPOINT")
    if not endpoint:
        port = dynamodb_local.free_port()
        _state["ddb"] = dynamodb_local.start(port, in_memory=True)
        endpoint = f"http://127.0.0.1:{port}"
    keys_dir = tempfile.mkdtemp(prefix="selfcare-test-keys-")
    os.environ.update(
        APP_TABLE_NAME=f"selfcare-test-{os.getpid()}",
        DYNAMODB_ENDPOINT=endpoint,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="eu-west-3",
        AWS_REGION="eu-west-3",
        JWT_KEY_SOURCE=f"file:{keys_dir}/jwt-keys.json",
        # The real firebase_admin client, pointed at a local fake of the FCM v1 API.
        FCM_PROJECT_ID="selfcare-test",
        FIREBASE_CREDENTIALS="none",
        FCM_ENDPOINT=_state["fcm"].url,
        # The whole suite signs in and pays from one address at machine speed: limits far above it
        # (tests/test_rate_limits.py checks the real limiter with tight ones).
        S3_ENDPOINT=f"http://127.0.0.1:{s3_port}",
        HELP_BUCKET="selfcare-test-help",
        HELP_INDEX_REFRESH_SECONDS="0",
        CASE_DOCUMENTS_BUCKET="selfcare-test-case-documents",
        EXPORTS_BUCKET="selfcare-test-exports",  # data exports (tests/privacy)
        RATE_LIMITS="help_client=100000/60,case_write_customer=100000/60,call_code_customer=100000/60,call_code_guesses=100000/60,sign_in_client=100000/60,activation_client=100000/60,payment_customer=100000/60,bid_customer=100000/60,offer_view_customer=100000/60",
    )
    tables.create_tables(endpoint=endpoint, table_name=os.environ["APP_TABLE_NAME"])


def pytest_unconfigure(config: pytest.Config) -> None:
    if "fcm" in _state:
        _state["fcm"].stop()
    if "s3" in _state:
        from devtools import s3_local

        s3_local.stop(_state["s3"])
    proc: subprocess.Popen[bytes] | None = _state.get("ddb")
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def app_module() -> Any:
    from chalice.local import LocalChalice

    from devtools import gateway

    gateway.install()
    import app

    # Chalice's test client keeps `app.current_request` in one attribute shared by every thread;
    # the suite sends concurrent requests of different customers, so give each thread its own, as
    # `chalice local` does (and as Lambda does, one request per process at a time).
    class ThreadLocalApp(LocalChalice, type(app.app)):  # type: ignore[misc, valid-type]
        pass

    app.app.__class__ = ThreadLocalApp
    return app


@pytest.fixture(scope="session")
def api(app_module: Any) -> Iterator[Any]:
    from chalice.test import Client

    from tests.support.contract import ApiClient

    # "local": no deployed stage's settings (SSM sources, its domain) leak into the test process.
    with Client(app_module.app, stage_name="local", project_dir=str(ROOT)) as client:
        yield ApiClient(client)


_numbers = itertools.count(1)


@pytest.fixture
def new_customer(app_module: Any) -> Callable[..., dict[str, Any]]:
    """Create a customer the way an admin does (the admin Lambda function)."""

    def create(**overrides: Any) -> dict[str, Any]:
        event = {
            "customer_number": f"T-{os.getpid()}-{next(_numbers)}",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+33612345678",
            **overrides,
        }
        result = app_module.admin_create_customer(event, None)
        assert "error" not in result, result
        return result

    return create


@dataclass
class Enrolled:
    customer: dict[str, Any]
    authenticator: Any
    session: dict[str, Any]

    @property
    def token(self) -> str:
        return self.session["access_token"]


@pytest.fixture
def enrol(api: Any, new_customer: Callable[..., dict[str, Any]]) -> Callable[..., Enrolled]:
    """A customer with a first passkey enrolled through the real routes; returns its session."""
    from devtools.soft_authenticator import SoftAuthenticator

    def run(**authenticator_options: Any) -> Enrolled:
        customer = new_customer()
        authenticator = SoftAuthenticator(**authenticator_options)
        options = api.post(
            "/auth/passkeys/register/options",
            {
                "enrolment_handle": customer["enrolment_handle"],
                "activation_code": customer["activation_code"],
            },
        )
        assert options.status == 200, options.body
        verify = api.post(
            "/auth/passkeys/register/verify",
            {
                "challenge_id": options.body["challenge_id"],
                "credential": authenticator.create(options.body["options"]),
                "name": "Test phone",
            },
        )
        assert verify.status == 201, verify.body
        return Enrolled(customer=customer, authenticator=authenticator, session=verify.body)

    return run


@pytest.fixture
def sign_in(api: Any) -> Callable[..., Any]:
    """Usernameless sign-in with an authenticator; returns the raw response."""

    def run(authenticator: Any, **get_options: Any) -> Any:
        options = api.post("/auth/passkeys/login/options")
        assert options.status == 200, options.body
        credential = authenticator.get(options.body["options"], **get_options)
        return api.post(
            "/auth/passkeys/login/verify",
            {"challenge_id": options.body["challenge_id"], "credential": credential},
        )

    return run


@pytest.fixture(scope="session")
def counted() -> Callable[[], Any]:
    """`with counted() as seen:` the DynamoDB calls made inside, by operation (bench/common.py)."""
    from bench.common import calls, count_dynamodb_calls

    count_dynamodb_calls()
    return calls


@pytest.fixture
def fcm() -> Any:
    """The fake FCM server, emptied for each test."""
    fake = _state["fcm"]
    fake.reset()
    return fake


@pytest.fixture(scope="session")
def stream(app_module: Any) -> Any:
    """The table's stream on DynamoDB Local, handed to the app's stream handler on `drain()`."""
    from devtools.stream_poller import StreamPoller

    return StreamPoller(
        endpoint=os.environ["DYNAMODB_ENDPOINT"],
        table_name=os.environ["APP_TABLE_NAME"],
        handler=app_module.on_table_stream,
    )
