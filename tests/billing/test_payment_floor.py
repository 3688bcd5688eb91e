"""A payment at its floor of DynamoDB calls (issue 17): one read, one transaction that claims the
key, counts the rate limit, spends the challenge, moves the passkey's counter, creates the payment
and reserves its amount, the charge, one settlement that records the key's outcome. Every check
that used to be a call of its own is now a condition of that transaction: each one failing is
played here (the concurrent change made between the read and the commit), with what it must
answer and what it must leave unwritten; so are a commit whose answer was lost, a crash between
the charge and the settlement, a refusal, and an ended session."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.api import ratelimit
from chalicelib.auth import challenges
from chalicelib.billing import payments, settlement
from chalicelib.common.clock import now
from chalicelib.config import get_settings
from chalicelib.store.models import Bill, Challenge, IdempotencyRecord, Passkey, RateWindow, customer_pk
from tests.billing.conftest import balance, confirm, pay
from tests.support.faults import dynamodb_faults
from tests.support.stepup import challenge_left


def _record(cid: str, key: str) -> IdempotencyRecord | None:
    try:
        return IdempotencyRecord.get(customer_pk(cid), f"IDEMP#{key}", consistent_read=True)
    except IdempotencyRecord.DoesNotExist:
        return None


def _passkey(cid: str) -> Passkey:
    (passkey,) = Passkey.gsi1.query(customer_pk(cid), Passkey.GSI1SK.startswith("PASSKEY#"))
    return Passkey.get(passkey.PK, passkey.SK, consistent_read=True)


def _hits(cid: str) -> int:
    window = ratelimit.pending("payment_customer", cid)
    try:
        return int(RateWindow.get(window.pk, window.sk, consistent_read=True).hits)
    except RateWindow.DoesNotExist:
        return 0


def _payments_of(api: Any, enrolled: Any, bill_id: str) -> list[Any]:
    return list(api.get(f"/bills/{bill_id}", token=enrolled.token).body["payments"])


@pytest.fixture
def hour_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate-limit windows of an hour, so that a test never straddles two."""
    monkeypatch.setitem(get_settings().rate_limits, "payment_customer", (10, 3600))


# The change another request makes between this one's read and its transaction, and what this one
# must answer: (error code, status, the key's outcome recorded, the challenge spent).
RACES = {
    "challenge": ("challenge_not_found", 404, True),  # another payment used the challenge
    "sign_count": ("invalid_credential", 401, True),  # another use of the passkey moved its counter
    "available": ("amount_exceeds_balance", 400, True),  # another payment reserved the balance
    "rate_limit": ("rate_limited", 429, False),  # other requests spent the limit
}


@pytest.mark.parametrize("race", sorted(RACES))
def test_each_condition_of_the_payment_transaction_refuses_and_writes_nothing(
    api: Any, billed: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch, hour_windows: None, race: str
) -> None:
    """Mutations (one per case): drop the transaction's condition on the challenge (`spend_in`) /
    on the counter / on `available` / on the rate limit → a payment is created and charged."""
    enrolled, bill_id, method = billed()
    cid = enrolled.customer["customer_id"]
    body, key = confirm(api, enrolled, bill_id, 700, method), str(uuid.uuid4())
    real_reserve = payments._reserve_in

    def concurrently(tx: Any, payment: Any, bill: Any) -> None:  # runs before the commit
        if race == "challenge":
            Challenge(*challenges.key(body["challenge_id"])).delete()
        elif race == "sign_count":
            _passkey(cid).update(actions=[Passkey.sign_count.add(1)])
        elif race == "available":
            Bill(bill.PK, bill.SK).update(actions=[Bill.available.set(600)])
        else:
            window = ratelimit.pending("payment_customer", cid)
            RateWindow(window.pk, window.sk).update(actions=[RateWindow.hits.set(window.limit)])
        real_reserve(tx, payment, bill)

    monkeypatch.setattr(payments, "_reserve_in", concurrently)
    counter_before, hits_before = int(_passkey(cid).sign_count), _hits(cid)
    answer = pay(api, enrolled, bill_id, body, key=key)
    code, status, recorded = RACES[race]
    assert (answer.status, answer.error_code) == (status, code), answer.body
    if race == "available":  # what is left now, not what was read before the other payment
        assert "6.00 EUR" in answer.body["error"]["message"], answer.body
    # Nothing of the payment was written: no payment, no reservation, no charge.
    payment_id = payments.payment_id_for(namespace=payments.CLIENT, customer_id=cid, key=key)
    assert _payments_of(api, enrolled, bill_id) == [] and sandbox.attempts_for(payment_id) == []
    assert balance(api, enrolled, bill_id) == {
        "balance": 1800,
        "available": 600 if race == "available" else 1800,
    }
    assert int(_passkey(cid).sign_count) == counter_before + (race == "sign_count")
    record = _record(cid, key)
    if recorded:  # the refusal is the key's outcome, the request counted, the challenge spent
        assert record is not None and record.state == "done"
        assert _hits(cid) == hits_before + 1
        assert not challenge_left(body["challenge_id"])
        monkeypatch.undo()
        again = pay(api, enrolled, bill_id, body, key=key)  # a retry answers the same refusal
        assert (again.status, again.error_code) == (status, code)
    else:  # over the limit: not even the key is taken, the challenge is still good
        assert record is None
        assert _hits(cid) == get_settings().rate_limits["payment_customer"][0]
        assert challenge_left(body["challenge_id"])


def test_a_payment_transaction_whose_answer_was_lost_goes_through_at_once(
    api: Any, billed: Any, sandbox: Any
) -> None:
    """The transaction commits, its answer is lost, and the SDK's resend meets a write conflict: the
    retry (a new transaction) fails on the claim it wrote itself, which the run recognises as its
    own (its mark on the claim) and pays at once, charging once. Mutation: `idempotency.is_ours`
    answering False → 409 `request_in_progress` (the run waits for its own lease)."""
    enrolled, bill_id, method = billed()
    body = confirm(api, enrolled, bill_id, 700, method)
    with dynamodb_faults(
        throttle=0.0,
        server_error=0.0,
        conflict=0.0,
        lost_reply=0.0,
        operations=("TransactWriteItems",),
        sequence=("lost_reply", "conflict"),
    ) as lost:
        paid = pay(api, enrolled, bill_id, body)
    assert lost["lost_reply:TransactWriteItems"] == 1 and lost["conflict"] == 1
    assert paid.status == 201, paid.body
    assert [p["status"] for p in _payments_of(api, enrolled, bill_id)] == ["succeeded"]
    assert len(sandbox.attempts_for(paid.body["payment_id"])) == 1
    assert balance(api, enrolled, bill_id) == {"balance": 1100, "available": 1100}


def test_a_crash_between_the_charge_and_the_settlement_is_settled_once_by_the_sweeper(
    api: Any, billed: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request charges, then dies before its settlement (the key is freed: a 503). The sweeper
    settles the payment from the provider's charge, once; the retry with the key answers the
    payment without charging again. Mutations: the general path without its `_find` of the
    payment → the retry answers 404 (the challenge was spent); `settle` without its condition on
    `pending` → the balance moves twice."""
    enrolled, bill_id, method = billed()
    body, key = confirm(api, enrolled, bill_id, 700, method), str(uuid.uuid4())
    real_settle = settlement.settle

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the function died")

    monkeypatch.setattr(settlement, "settle", crash)
    died = pay(api, enrolled, bill_id, body, key=key)
    monkeypatch.setattr(settlement, "settle", real_settle)
    assert died.status == 503, died.body
    (payment,) = _payments_of(api, enrolled, bill_id)
    assert payment["status"] == "pending" and len(sandbox.attempts_for(payment["payment_id"])) == 1
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1100}

    later = now() + settlement.SWEEP_AFTER + timedelta(minutes=1)
    assert settlement.sweep(moment=later).get(payment["payment_id"]) == "succeeded"
    assert payment["payment_id"] not in settlement.sweep(moment=later)  # again: nothing left to settle
    # The provider's word delivered once more (a late webhook): the payment is settled already.
    row = payments._find(enrolled.customer["customer_id"], bill_id, payment["payment_id"])
    assert row is not None
    charge = sandbox.get_charge(reference=row.payment_id, idempotency_key=settlement.attempt_key(row))
    assert settlement.settle(row, charge, via="webhook").status == "succeeded"
    assert balance(api, enrolled, bill_id) == {"balance": 1100, "available": 1100}

    retried = pay(api, enrolled, bill_id, body, key=key)
    assert retried.status == 201, retried.body
    assert retried.body["payment_id"] == payment["payment_id"] and retried.body["status"] == "succeeded"
    assert len(sandbox.attempts_for(payment["payment_id"])) == 1


def test_a_refused_step_up_writes_its_outcome_the_count_and_the_spent_challenge_only(
    api: Any, billed: Any, hour_windows: None
) -> None:
    """A confirmation for another amount: 401 `step_up_mismatch`, recorded as the key's outcome in
    the one refusal transaction, with the request counted and the challenge spent (good for one
    attempt); no payment, no reservation. Mutation: `_refuse` without the challenge's delete → the
    challenge is left for a second attempt."""
    enrolled, bill_id, method = billed()
    cid = enrolled.customer["customer_id"]
    body, key = confirm(api, enrolled, bill_id, 700, method), str(uuid.uuid4())
    hits_before = _hits(cid)
    refused = pay(api, enrolled, bill_id, {**body, "amount": 800}, key=key)
    assert (refused.status, refused.error_code) == (401, "step_up_mismatch")
    assert _record(cid, key) is not None and _hits(cid) == hits_before + 1
    assert not challenge_left(body["challenge_id"])
    assert _payments_of(api, enrolled, bill_id) == []
    assert balance(api, enrolled, bill_id) == {"balance": 1800, "available": 1800}
    # The challenge is spent: the right amount with it is refused too (under a new key).
    assert pay(api, enrolled, bill_id, body).error_code == "challenge_not_found"


def test_an_ended_session_gets_no_answer_not_even_a_replay(api: Any, billed: Any) -> None:
    """The route no longer reads the session itself: the payment checks it in its one read, before
    anything. Mutation: skip `_require_live` in `payments.pay` → the replay answers 201."""
    enrolled, bill_id, method = billed()
    body, key = confirm(api, enrolled, bill_id, 700, method), str(uuid.uuid4())
    assert pay(api, enrolled, bill_id, body, key=key).status == 201
    assert api.post("/auth/logout", token=enrolled.token).status in (200, 204)
    again = pay(api, enrolled, bill_id, body, key=key)
    assert (again.status, again.error_code) == (401, "session_revoked")
