from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.support.stepup import add_card

_bills = itertools.count(1)


def bill_document(
    customer_number: str,
    *,
    total_items: tuple[int, int] = (1500, 300),
    due: date | None = None,
    bill_id: str | None = None,
    issued: datetime | None = None,
) -> dict[str, Any]:
    amount, tax = total_items
    return {
        "bill_id": bill_id or f"B{os.getpid()}-{next(_bills)}",
        "customer_number": customer_number,
        "line_ids": [],
        "period": {"start": "2026-10-05", "end": "2026-11-04"},
        "issued_at": (issued or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "due_date": (due or date.today() + timedelta(days=10)).isoformat(),
        "currency": "EUR",
        "items": [{"label": "Forfait Essentiel 20 Go", "amount": amount, "tax": tax}],
        "total": amount + tax,
    }


@pytest.fixture
def billed(app_module: Any, enrol: Any, api: Any) -> Callable[..., Any]:
    """A signed-in customer with one imported bill (18.00 EUR) and a card (`tok_visa` unless told)."""

    def make(token: str = "tok_visa", **bill: Any) -> tuple[Any, str, str]:
        enrolled = enrol()
        document = bill_document(enrolled.customer["customer_number"], **bill)
        result = app_module.import_bills({"bills": [document]}, None)
        assert result["imported"] == [document["bill_id"]], result
        method = add_card(api, enrolled, token)
        assert method.status == 201, method.body
        return enrolled, document["bill_id"], method.body["payment_method_id"]

    return make


def confirm(api: Any, enrolled: Any, bill_id: str, amount: int, method_id: str) -> dict[str, Any]:
    """The app's step-up: challenge, Face ID (the soft authenticator), the body to pay with."""
    challenge = api.post(
        f"/bills/{bill_id}/payments/challenge",
        {"amount": amount, "payment_method_id": method_id},
        token=enrolled.token,
    )
    assert challenge.status == 200, challenge.body
    credential = enrolled.authenticator.get(challenge.body["options"])
    return {
        "amount": amount,
        "payment_method_id": method_id,
        "challenge_id": challenge.body["challenge_id"],
        "credential": credential,
    }


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[Any]:
    from devtools.fake_stripe import FakeStripe

    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_api(fake_stripe: Any) -> Iterator[Any]:
    """For one test, the app pays through the Stripe adapter (the real `stripe` library) against the
    fake Stripe API, with a 1 s timeout; yields the fake."""
    from chalicelib.billing.gateway import install_gateway
    from chalicelib.billing.stripe_gateway import StripeGateway

    fake_stripe.reset()
    previous = install_gateway(
        StripeGateway(
            api_key=fake_stripe.api_key,
            webhook_secret=fake_stripe.webhook_secret,
            api_base=fake_stripe.url,
            timeout_s=1.0,
        )
    )
    try:
        yield fake_stripe
    finally:
        fake_stripe.release()
        install_gateway(previous)


@pytest.fixture
def sandbox() -> Any:
    """The sandbox gateway the suite pays through (its `attempts` count every charge call)."""
    from chalicelib.billing.gateway import get_gateway
    from chalicelib.billing.sandbox_gateway import SandboxGateway

    gateway = get_gateway()
    assert isinstance(gateway, SandboxGateway)
    return gateway


def pay(api: Any, enrolled: Any, bill_id: str, body: dict[str, Any], key: str | None = None) -> Any:
    import uuid

    return api.post(
        f"/bills/{bill_id}/payments",
        body,
        token=enrolled.token,
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def balance(api: Any, enrolled: Any, bill_id: str) -> dict[str, int]:
    """What the bill says: its balance, and what a new payment may still take."""
    from chalicelib.store.models import Bill, customer_pk

    bill = Bill.get(customer_pk(enrolled.customer["customer_id"]), f"BILL#{bill_id}#0", consistent_read=True)
    return {"balance": int(bill.balance), "available": int(bill.available)}


def only_payment(enrolled: Any, bill_id: str) -> Any:
    from chalicelib.billing import bills

    _, payments = bills.get_bill(customer_id=enrolled.customer["customer_id"], bill_id=bill_id)
    assert len(payments) == 1, payments
    return payments[0]


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    """The structured log lines written during the test (parsed), and the raw text of every line."""
    import json
    import logging

    seen: list[dict[str, Any]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            try:
                line = json.loads(text)
            except ValueError:
                line = {}
            seen.append({**(line if isinstance(line, dict) else {}), "_raw": text})

    handler = Capture()
    logger = logging.getLogger("selfcare")
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)


class Written:
    """What the service wrote since the last `take()`."""

    def __init__(self, log: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
        self._log, self._capfd, self._caplog, self._seen = log, capfd, caplog, 0

    def take(self) -> tuple[str, str]:
        """(the `selfcare` log lines, everything: those, other loggers' records, stdout, stderr)."""
        text = self._log.getvalue()
        log, self._seen = text[self._seen :], len(text)
        out, err = self._capfd.readouterr()
        others = self._caplog.text
        self._caplog.clear()
        return log, "\n".join((log, others, out, err))


@pytest.fixture
def written(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[Written]:
    """Everything the service writes while the test runs: the `selfcare` logger's lines as its
    own handlers write them, any other logger's records, and whatever reaches stdout or stderr.
    The `selfcare` handler holds the `sys.stdout` of import time, which capsys and capfd do not
    see, so its stream is swapped here for the test."""
    import io
    import logging

    logger = logging.getLogger("selfcare")
    stream = io.StringIO()
    handlers = [
        h
        for h in logger.handlers
        if type(h) is logging.StreamHandler  # not pytest's own handlers
    ]
    previous = [h.setStream(stream) for h in handlers]
    # Without a handler of its own (a new logging setup), ours sees the records all the same.
    fallback = None if handlers else logging.StreamHandler(stream)
    if fallback is not None:
        logger.addHandler(fallback)
    caplog.set_level(logging.INFO)
    try:
        yield Written(stream, capfd, caplog)
    finally:
        if fallback is not None:
            logger.removeHandler(fallback)
        for handler, old in zip(handlers, previous, strict=True):
            if old is not None:
                handler.setStream(old)


@pytest.fixture
def metrics_seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the metrics emitted during the test, as on a deployed stage. The billing metrics
    are declared here too, in case observability/metrics.py does not declare them yet."""
    import dataclasses
    import json

    from chalicelib.config import get_settings
    from chalicelib.observability import metrics

    names: list[str] = []
    for name in ("PaymentChargeMismatch", "PaymentLateChargeRefunded", "BatchItemFailed"):
        monkeypatch.setitem(metrics.METRICS, name, metrics.METRICS.get(name, "declared by the test"))
    monkeypatch.setattr(metrics, "get_settings", lambda: dataclasses.replace(get_settings(), stage="dev"))
    monkeypatch.setattr(
        metrics,
        "write_line",
        lambda line: names.append(next(k for k in json.loads(line) if k not in ("_aws", "Stage"))),
    )
    return names


def wait_for(condition: Callable[[], Any], *, seconds: float = 10.0) -> Any:
    import time

    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
