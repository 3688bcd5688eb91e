"""Idempotency-Key: a request that finds its key still running waits about 2 s (well under the API
function's 10 s), then 409 with Retry-After; a finished key replays its first answer without
taking the key, even when the payment rate limit is spent."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from chalicelib.billing import payments
from chalicelib.billing.gateway import install_gateway
from chalicelib.billing.idempotency import IdempotencyMismatch
from chalicelib.billing.sandbox_gateway import SandboxGateway
from chalicelib.config import get_settings
from chalicelib.errors import PaymentFailed
from tests.billing.conftest import confirm, only_payment, pay, wait_for


class _Slow(SandboxGateway):
    """The provider takes its time: every charge waits until `go` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def charge(self, **kwargs):
        self.go.wait(timeout=30)
        return super().charge(**kwargs)


class _VirtualTime:
    """`time` as idempotency.py sees it: `sleep` advances a virtual clock (and yields a moment), so
    the wait is measured in the time the code asked for, whatever the machine's speed."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        time.sleep(0.005)


def test_a_retry_while_the_first_request_runs_gets_409_with_retry_after_within_about_2_seconds(
    api, billed, monkeypatch
):
    """Mutation: WAIT_S back to 10 s → the retry answers after 10 s of waiting."""
    from chalicelib.billing import idempotency

    enrolled, bill_id, method = billed()
    body, key = confirm(api, enrolled, bill_id, 700, method), str(uuid.uuid4())
    slow = _Slow()
    previous = install_gateway(slow)
    first: list = []
    runner = threading.Thread(target=lambda: first.append(pay(api, enrolled, bill_id, body, key=key)))
    try:
        runner.start()
        assert wait_for(lambda: _pending(enrolled, bill_id))  # the first request holds the key
        clock = _VirtualTime()
        monkeypatch.setattr(idempotency, "time", clock)
        retry = pay(api, enrolled, bill_id, body, key=key)
        assert (
            retry.status == 409
            and retry.error_code == "request_in_progress"
            and retry.headers.get("Retry-After") == "2"
        )
        assert 2.0 <= clock.now < 2.5, clock.now  # it waited about 2 s, polling, then answered
    finally:
        monkeypatch.undo()
        slow.go.set()
        runner.join(timeout=30)
        install_gateway(previous)
    assert first[0].status == 201
    again = pay(api, enrolled, bill_id, body, key=key)
    assert again.status == 201 and again.body["payment_id"] == first[0].body["payment_id"]
    assert [(a.amount, a.idempotency_key) for a in slow.attempts] == [
        (700, only_payment(enrolled, bill_id).attempt_id)
    ]


def _pending(enrolled, bill_id) -> bool:
    from chalicelib.billing import bills

    _, found = bills.get_bill(customer_id=enrolled.customer["customer_id"], bill_id=bill_id)
    return bool(found) and found[0].status == "pending"


def test_replay_finished_answers_a_finished_key_only(api, billed):
    """Mutation: skip the fingerprint check in replay_finished → another body gets the first answer."""
    enrolled, bill_id, method = billed()
    cid = enrolled.customer["customer_id"]
    body, key = confirm(api, enrolled, bill_id, 700, method), str(uuid.uuid4())
    request = dict(
        customer_id=cid,
        bill_id=bill_id,
        idempotency_key=key,
        amount=700,
        method_id=method,
        challenge_id=body["challenge_id"],
        credential=body["credential"],
    )
    assert payments.replay_finished(**request) is None  # a new key: the route goes on (rate limit, then pay)
    paid = pay(api, enrolled, bill_id, body, key=key)
    assert paid.status == 201
    assert payments.replay_finished(**request) == paid.body
    with pytest.raises(IdempotencyMismatch):
        payments.replay_finished(**{**request, "amount": 701})


def test_replay_finished_raises_the_first_error_again(api, billed):
    enrolled, bill_id, method = billed(token="tok_insufficient_funds")
    body, key = confirm(api, enrolled, bill_id, 700, method), str(uuid.uuid4())
    assert pay(api, enrolled, bill_id, body, key=key).status == 402
    with pytest.raises(PaymentFailed) as declined:
        payments.replay_finished(
            customer_id=enrolled.customer["customer_id"],
            bill_id=bill_id,
            idempotency_key=key,
            amount=700,
            method_id=method,
            challenge_id=body["challenge_id"],
            credential=body["credential"],
        )
    assert declined.value.code == "insufficient_funds"
    assert only_payment(enrolled, bill_id).status == "failed"


def test_a_finished_payment_is_replayed_even_when_the_rate_limit_is_spent(api, billed, monkeypatch):
    """Needs the `pay_bill` route to call `payments.replay_finished` before `ratelimit.check` (the
    app.py change this work hands over). Mutation: check the limit first → 429."""
    enrolled, bill_id, method = billed()
    body, key = confirm(api, enrolled, bill_id, 700, method), str(uuid.uuid4())
    monkeypatch.setitem(
        get_settings().rate_limits, "payment_customer", (1, 3600)
    )  # a fresh window: one request
    paid = pay(api, enrolled, bill_id, body, key=key)  # the limit is spent
    assert paid.status == 201
    assert pay(api, enrolled, bill_id, body).status == 429  # a new payment is limited...
    again = pay(api, enrolled, bill_id, body, key=key)  # ...the retry of the finished one is not
    assert again.status == 201 and again.body == paid.body
