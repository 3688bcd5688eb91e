"""A payment's latency, excluding the payment provider's own time, as a ratio to the raw DynamoDB
transaction it performs (settling: payment + bill in one TransactWriteItems), and its DynamoDB calls.

Measured in-process on the service function (`payments.pay`), with the sandbox gateway's `charge`
timed separately and subtracted; the step-up's challenge is made before the clock starts, as the
app does it on the previous screen."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import date, timedelta
from typing import Any

from bench.common import calls, summary


def run(*, repeat: int = 100) -> dict[str, Any]:
    import boto3

    import app
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

    gateway_module.SandboxGateway.charge = timed_charge  # type: ignore[method-assign]
    samples, per_payment = [], {}
    try:
        for i in range(repeat):
            challenge = payments.challenge(
                customer_id=cid, bill_id="BP-BILL-1", amount=100, method_id=method_id
            )
            credential = phone.get(challenge["options"])
            gateway_ms.clear()
            with calls() as seen:
                started = time.perf_counter()
                payments.pay(
                    customer_id=cid,
                    bill_id="BP-BILL-1",
                    idempotency_key=str(uuid.uuid4()),
                    amount=100,
                    method_id=method_id,
                    challenge_id=challenge["challenge_id"],
                    credential=credential,
                )
                total = (time.perf_counter() - started) * 1000
            samples.append(total - sum(gateway_ms))
            if i == 0:
                per_payment = dict(seen)
    finally:
        gateway_module.SandboxGateway.charge = real_charge  # type: ignore[method-assign]

    # The raw transaction a payment's settlement performs: two conditional updates.
    raw = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    table = os.environ["APP_TABLE_NAME"]
    key = {"PK": {"S": f"CUSTOMER#{cid}"}, "SK": {"S": "BENCH#RAW"}}
    raw.put_item(TableName=table, Item={**key, "n": {"N": "0"}})
    bill_key = {"PK": {"S": f"CUSTOMER#{cid}"}, "SK": {"S": "BENCH#RAW2"}}
    raw.put_item(TableName=table, Item={**bill_key, "n": {"N": "0"}})
    raw_samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        raw.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": key,
                        "UpdateExpression": "ADD n :one",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": bill_key,
                        "UpdateExpression": "ADD n :one",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
        raw_samples.append((time.perf_counter() - started) * 1000)
    ours, base = summary(samples), summary(raw_samples)
    return {
        "payment_excluding_gateway": ours,
        "raw_transact_write": base,
        "ratio_to_raw_transaction": round(ours["median_ms"] / base["median_ms"], 1),
        "dynamodb_calls_per_payment": per_payment,
        "note": json.dumps("the step-up verification (ES256 signature) and idempotency record are included"),
    }
