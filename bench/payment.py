"""A payment's latency, excluding the payment provider's own time, as a ratio to the raw DynamoDB
transaction it performs (settling: payment + bill in one TransactWriteItems) measured in the same
run, and its DynamoDB calls by operation; the same for a retry of a finished payment (a replay).

Measured in-process on the service function (`payments.pay`) called as the route calls it (the
access token's session checked live, the customer's rate limit counted in the payment's own
transaction, under bench/common.py's limits), with the
sandbox gateway's `charge` timed separately and subtracted (its own record in DynamoDB Local is one
TransactWriteItems of the calls: Stripe's is an HTTP call); the step-up's challenge is made before
the clock starts, as the app does it on the previous screen."""

from __future__ import annotations

import os
import time
import uuid
from datetime import date, timedelta
from typing import Any

from bench.common import calls, summary


def run(*, repeat: int = 100) -> dict[str, Any]:
    import boto3

    import app
    from chalicelib.api import ratelimit
    from chalicelib.auth import passkeys
    from chalicelib.billing import payments
    from chalicelib.billing import sandbox_gateway as gateway_module
    from devtools.soft_authenticator import SoftAuthenticator

    customer = app.admin_create_customer({"customer_number": "BP-1", "name": "Payer"}, None)
    cid = customer["customer_id"]
    phone = SoftAuthenticator()
    options = passkeys.registration_options(
        enrolment_handle=customer["enrolment_handle"], activation_code=customer["activation_code"]
    )
    passkeys.register(
        challenge_id=options.challenge_id, credential=phone.create(options.options), name="bench", device=None
    )
    from chalicelib.billing import methods

    # A session, as the route has one from the access token.
    login = passkeys.login_options()
    session_id = passkeys.login(
        challenge_id=login.challenge_id, credential=phone.get(login.options), device=None
    ).session_id

    method_id = methods.add(customer_id=cid, provider_token="tok_visa", label=None)["payment_method_id"]  # noqa: S106 - a sandbox test token
    app.import_bills(
        {
            "bills": [
                {
                    "bill_id": "BP-BILL-1",
                    "customer_number": "BP-1",
                    "period": {"start": "2026-10-01", "end": "2026-10-31"},
                    "issued_at": "2026-11-01T00:00:00Z",
                    "due_date": (date.today() + timedelta(days=20)).isoformat(),
                    "currency": "EUR",
                    "items": [{"label": "x", "amount": 10_000_000, "tax": 0}],
                    "total": 10_000_000,
                }
            ]
        },
        None,
    )

    gateway_ms: list[float] = []
    real_charge = gateway_module.SandboxGateway.charge

    def timed_charge(self: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real_charge(self, **kwargs)
        finally:
            gateway_ms.append((time.perf_counter() - started) * 1000)

    # The raw transaction a payment's settlement performs: two conditional updates; one after each
    # payment, so that both see the same load on this shared machine.
    raw = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    table = os.environ["APP_TABLE_NAME"]
    key = {"PK": {"S": f"CUSTOMER#{cid}"}, "SK": {"S": "BENCH#RAW"}}
    raw.put_item(TableName=table, Item={**key, "n": {"N": "0"}})
    bill_key = {"PK": {"S": f"CUSTOMER#{cid}"}, "SK": {"S": "BENCH#RAW2"}}
    raw.put_item(TableName=table, Item={**bill_key, "n": {"N": "0"}})
    raw_samples: list[float] = []

    def raw_transaction() -> None:
        started = time.perf_counter()
        raw.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": item_key,
                        "UpdateExpression": "ADD n :one",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                }
                for item_key in (key, bill_key)
            ]
        )
        raw_samples.append((time.perf_counter() - started) * 1000)

    gateway_module.SandboxGateway.charge = timed_charge  # type: ignore[method-assign]
    samples: list[float] = []
    replay_samples: list[float] = []
    per_payment: dict[str, int] = {}
    per_replay: dict[str, int] = {}
    try:
        for i in range(repeat):
            challenge = payments.challenge(
                customer_id=cid, bill_id="BP-BILL-1", amount=100, method_id=method_id
            )
            request = payments.PaymentRequest(
                customer_id=cid,
                bill_id="BP-BILL-1",
                idempotency_key=str(uuid.uuid4()),
                amount=100,
                method_id=method_id,
                challenge_id=challenge["challenge_id"],
                credential=phone.get(challenge["options"]),
            )
            gateway_ms.clear()
            with calls() as seen:
                started = time.perf_counter()
                paid = payments.pay(
                    **request, limit=ratelimit.pending("payment_customer", cid), session_id=session_id
                )
                total = (time.perf_counter() - started) * 1000
            samples.append(total - sum(gateway_ms))
            with calls() as replayed:
                started = time.perf_counter()
                again = payments.pay(
                    **request, limit=ratelimit.pending("payment_customer", cid), session_id=session_id
                )
                replay_samples.append((time.perf_counter() - started) * 1000)
            assert again == paid and paid["status"] == "succeeded"
            raw_transaction()
            if i == 0:
                per_payment, per_replay = dict(seen), dict(replayed)
    finally:
        gateway_module.SandboxGateway.charge = real_charge  # type: ignore[method-assign]

    ours, replay, base = summary(samples), summary(replay_samples), summary(raw_samples)
    return {
        "payment_excluding_gateway": ours,
        "replay_of_a_finished_payment": replay,
        "raw_transact_write": base,
        "ratio_to_raw_transaction": round(ours["median_ms"] / base["median_ms"], 1),
        "replay_ratio_to_raw_transaction": round(replay["median_ms"] / base["median_ms"], 1),
        "dynamodb_calls_per_payment": per_payment,
        "dynamodb_calls_in_all": sum(per_payment.values()),
        "dynamodb_calls_per_replay": per_replay,
        "note": (
            "payments.pay as the route calls it: the live session, the step-up verification (ES256 signature), "
            "the Idempotency-Key and the rate limit included; the sandbox provider's time excluded, its own "
            "record (one TransactWriteItems) counted; the alert and the bill's due notice written by the "
            "settlement's transaction, the language read with the rest"
        ),
    }
