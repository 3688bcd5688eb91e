"""Paying: a fresh, transaction-bound passkey confirmation; exactly one charge per key; readable
failures; recovery without a second charge."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from chalicelib.billing.gateway import get_gateway
from chalicelib.billing.sandbox_gateway import SandboxGateway
from tests.billing.conftest import confirm
from tests.support.stepup import add_card, set_autopay


def _pay(api, enrolled, bill_id, body, key=None):
    return api.post(
        f"/bills/{bill_id}/payments",
        body,
        token=enrolled.token,
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def _balance(api, enrolled, bill_id) -> int:
    return api.get(f"/bills/{bill_id}", token=enrolled.token).body["balance"]["amount"]


def _asked(payment_id: str) -> list[tuple[int, str]]:
    """Every charge call made for this payment, as (amount, the provider's idempotency key): what
    the provider was asked, not what its keys deduplicated."""
    gateway = get_gateway()
    assert isinstance(gateway, SandboxGateway), gateway
    return [(a.amount, a.idempotency_key) for a in gateway.attempts_for(payment_id)]


def _attempt_key(enrolled, bill_id: str) -> str:
    from tests.billing.conftest import only_payment

    return only_payment(enrolled, bill_id).attempt_id


def test_pay_in_full_with_a_passkey(api, billed):
    enrolled, bill_id, method = billed()
    paid = _pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method))
    assert paid.status == 201 and paid.body["status"] == "succeeded"
    assert _asked(paid.body["payment_id"]) == [(1800, _attempt_key(enrolled, bill_id))]
    bill = api.get(f"/bills/{bill_id}", token=enrolled.token).body
    assert (
        bill["status"] == "paid"
        and bill["balance"]["amount"] == 0
        and bill["payments"][0]["payment_id"] == paid.body["payment_id"]
    )
    assert all(a["type"] != "bill_due" for a in api.get("/me", token=enrolled.token).body["attention"])
    assert "billing.payment_succeeded" in [
        i["kind"] for i in api.get("/me/inbox", token=enrolled.token).body["items"]
    ]


def test_partial_payments_and_never_more_than_the_balance(api, billed):
    enrolled, bill_id, method = billed()
    assert _pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 500, method)).status == 201
    assert _balance(api, enrolled, bill_id) == 1300
    too_much = api.post(
        f"/bills/{bill_id}/payments/challenge",
        {"amount": 1301, "payment_method_id": method},
        token=enrolled.token,
    )
    assert too_much.status == 400 and too_much.error_code == "amount_exceeds_balance"
    assert (
        api.post(
            f"/bills/{bill_id}/payments/challenge",
            {"amount": 0, "payment_method_id": method},
            token=enrolled.token,
        ).status
        == 400
    )


def test_the_confirmation_is_bound_to_the_transaction(api, billed):
    enrolled, bill_id, method = billed()
    body = confirm(api, enrolled, bill_id, 500, method)
    other_amount = _pay(api, enrolled, bill_id, {**body, "amount": 1800})
    assert other_amount.status == 401 and other_amount.error_code == "step_up_mismatch"
    assert _balance(api, enrolled, bill_id) == 1800
    # The challenge was spent by that attempt: the right body now needs a fresh confirmation.
    spent = _pay(api, enrolled, bill_id, body)
    assert (spent.status, spent.error_code) == (404, "challenge_not_found")
    assert _balance(api, enrolled, bill_id) == 1800


def test_a_confirmation_for_another_bill_is_refused(api, billed, app_module):
    from tests.billing.conftest import bill_document

    enrolled, bill_a, method = billed()
    other = bill_document(enrolled.customer["customer_number"])
    app_module.import_bills({"bills": [other]}, None)
    body = confirm(api, enrolled, bill_a, 500, method)
    response = _pay(api, enrolled, other["bill_id"], body)
    assert (response.status, response.error_code) == (401, "step_up_mismatch")
    assert _balance(api, enrolled, other["bill_id"]) == 1800 and _balance(api, enrolled, bill_a) == 1800


def test_another_customers_passkey_cannot_confirm(api, billed, enrol):
    enrolled, bill_id, method = billed()
    intruder = enrol()
    challenge = api.post(
        f"/bills/{bill_id}/payments/challenge",
        {"amount": 500, "payment_method_id": method},
        token=enrolled.token,
    ).body
    credential = intruder.authenticator.get({"challenge": challenge["options"]["challenge"]})
    body = {
        "amount": 500,
        "payment_method_id": method,
        "challenge_id": challenge["challenge_id"],
        "credential": credential,
    }
    refused = _pay(api, enrolled, bill_id, body)
    assert (refused.status, refused.error_code) == (401, "invalid_credential")  # not one of theirs
    assert _balance(api, enrolled, bill_id) == 1800


def test_twenty_concurrent_requests_with_one_key_charge_once_and_answer_the_same(api, billed):
    """Mutation: run the operation without the idempotency record's lock → 20 charge calls."""
    from chalicelib.billing import payments
    from chalicelib.errors import Conflict

    enrolled, bill_id, method = billed()
    body = confirm(api, enrolled, bill_id, 700, method)
    key = str(uuid.uuid4())
    cid = enrolled.customer["customer_id"]

    def attempt(_: int):
        for _ in range(50):  # as the app does on 409 request_in_progress: the same request again
            try:
                return (
                    "ok",
                    payments.pay(
                        customer_id=cid,
                        bill_id=bill_id,
                        idempotency_key=key,
                        amount=700,
                        method_id=method,
                        challenge_id=body["challenge_id"],
                        credential=body["credential"],
                    ),
                )
            except Conflict as error:
                assert error.code == "request_in_progress" and error.retry_after_s
                time.sleep(0.2)
            except Exception as error:  # noqa: BLE001
                return ("error", type(error).__name__)
        return ("error", "still in progress")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    assert {r[0] for r in results} == {"ok"}, results
    assert len({r[1]["payment_id"] for r in results}) == 1
    payment_id = results[0][1]["payment_id"]
    assert _asked(payment_id) == [(700, _attempt_key(enrolled, bill_id))]  # one call for twenty requests
    assert _balance(api, enrolled, bill_id) == 1100
    again = _pay(api, enrolled, bill_id, body, key=key)  # a retry after the fact: the same answer
    assert again.status == 201 and again.body["payment_id"] == payment_id
    assert _balance(api, enrolled, bill_id) == 1100 and len(_asked(payment_id)) == 1


def test_the_same_key_with_another_body_is_a_422(api, billed):
    enrolled, bill_id, method = billed()
    key = str(uuid.uuid4())
    body = confirm(api, enrolled, bill_id, 300, method)
    assert _pay(api, enrolled, bill_id, body, key=key).status == 201
    other = confirm(api, enrolled, bill_id, 400, method)
    reused = _pay(api, enrolled, bill_id, other, key=key)
    assert reused.status == 422 and reused.error_code == "idempotency_key_reused"
    assert _balance(api, enrolled, bill_id) == 1500


def test_a_missing_or_bad_idempotency_key(api, billed):
    enrolled, bill_id, method = billed()
    body = confirm(api, enrolled, bill_id, 300, method)
    missing = api.post(f"/bills/{bill_id}/payments", body, token=enrolled.token)
    assert missing.status == 400 and missing.error_code == "idempotency_key_required"
    short = _pay(api, enrolled, bill_id, body, key="short")
    assert (short.status, short.error_code) == (400, "invalid_idempotency_key")


def test_a_declined_card_leaves_the_balance_and_says_why(api, billed):
    enrolled, bill_id, method = billed(token="tok_insufficient_funds")
    key = str(uuid.uuid4())
    declined = _pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method), key=key)
    assert declined.status == 402 and declined.error_code == "insufficient_funds"
    assert "Insufficient funds" in declined.body["error"]["message"]
    bill = api.get(f"/bills/{bill_id}", token=enrolled.token).body
    assert bill["balance"]["amount"] == 1800 and bill["payments"][0]["status"] == "failed"
    attention = api.get("/me", token=enrolled.token).body["attention"]
    assert any(a["type"] == "payment_failed" and a["bill_id"] == bill_id for a in attention)
    assert "billing.payment_failed" in [
        i["kind"] for i in api.get("/me/inbox", token=enrolled.token).body["items"]
    ]
    # The money is available again for another card.
    visa = add_card(api, enrolled, "tok_visa_2").body["payment_method_id"]
    assert _pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, visa)).status == 201
    assert all(a["type"] != "payment_failed" for a in api.get("/me", token=enrolled.token).body["attention"])


def test_a_provider_timeout_is_recovered_without_a_second_charge(api, billed):
    from chalicelib.billing import payments

    enrolled, bill_id, method = billed(token="tok_timeout")
    key = str(uuid.uuid4())
    body = confirm(api, enrolled, bill_id, 1800, method)
    first = _pay(api, enrolled, bill_id, body, key=key)
    assert first.status == 503 and first.headers.get("Retry-After")
    payment_id = payments.payment_id_for(
        namespace="client", customer_id=enrolled.customer["customer_id"], key=key
    )
    once = [(1800, _attempt_key(enrolled, bill_id))]
    assert _asked(payment_id) == once  # one call, and the provider did charge
    # Nobody retries: the sweeper asks the provider (never charges) and finishes the payment.
    settled = payments.sweep(moment=datetime.now(UTC) + timedelta(minutes=3))
    assert settled[payment_id] == "succeeded"
    assert _balance(api, enrolled, bill_id) == 0 and _asked(payment_id) == once
    # The app's late retry with the same key gets the payment, not a new charge.
    retried = _pay(api, enrolled, bill_id, body, key=key)
    assert retried.status == 201 and retried.body["status"] == "succeeded" and _asked(payment_id) == once


def test_a_retry_after_a_timeout_asks_before_charging_again(api, billed):
    """The app's retry of a payment whose answer was lost first asks the provider what became of
    the attempt (by its key) and settles what it finds: the provider was asked to charge exactly
    once. Mutations: charge again on resume → two charge calls; a fresh provider key per call →
    the lookup finds nothing and a second key is charged."""
    from chalicelib.billing import payments

    enrolled, bill_id, method = billed(token="tok_timeout")
    key = str(uuid.uuid4())
    body = confirm(api, enrolled, bill_id, 1800, method)
    assert _pay(api, enrolled, bill_id, body, key=key).status == 503
    retried = _pay(api, enrolled, bill_id, body, key=key)
    assert retried.status == 201 and retried.body["status"] == "succeeded", retried.body
    payment_id = payments.payment_id_for(
        namespace="client", customer_id=enrolled.customer["customer_id"], key=key
    )
    assert _asked(payment_id) == [(1800, _attempt_key(enrolled, bill_id))]
    assert _balance(api, enrolled, bill_id) == 0


def test_autopay_pays_due_bills_once(api, app_module, enrol):
    from datetime import date

    from chalicelib.billing import payments
    from tests.billing.conftest import bill_document

    enrolled = enrol()
    add_card(api, enrolled)
    set_autopay(api, enrolled, True)
    document = bill_document(enrolled.customer["customer_number"], due=date.today())
    app_module.import_bills({"bills": [document]}, None)
    assert payments.autopay()[document["bill_id"]] == "succeeded"
    assert document["bill_id"] not in payments.autopay()  # paid: its due notice is gone
    bill = api.get(f"/bills/{document['bill_id']}", token=enrolled.token).body
    assert bill["status"] == "paid" and [p["initiated_by"] for p in bill["payments"]] == ["autopay"]
    # Two runs, one call to the provider.
    assert _asked(bill["payments"][0]["payment_id"]) == [(1800, _attempt_key(enrolled, document["bill_id"]))]
