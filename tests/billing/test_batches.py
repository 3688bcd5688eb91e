"""One bad item never blocks a batch: the payment sweeper, autopay and the reminders handle each item
on its own (logged, counted, the others finish)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import boto3

from chalicelib.billing import bills, payments
from chalicelib.common.clock import now
from tests.billing.conftest import bill_document, confirm, only_payment, pay
from tests.support.stepup import add_card, set_autopay


@contextmanager
def planted(item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A malformed item written raw (as a bug or a hand edit would leave it), removed afterwards."""
    client = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    table = os.environ["APP_TABLE_NAME"]
    client.put_item(TableName=table, Item=item)
    try:
        yield item
    finally:
        client.delete_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]})


def test_a_poisoned_payment_does_not_stop_the_sweeper(api, billed, events, metrics_seen, sandbox):
    """A pending payment whose amount is not a number (it cannot be read), beside one that really
    is pending. Mutation: iterate the index with the model (one failure ends the loop) or let the
    exception out of the item → the good payment stays pending."""
    enrolled, bill_id, method = billed(token="tok_timeout")  # charged, the answer lost: pending
    assert pay(api, enrolled, bill_id, confirm(api, enrolled, bill_id, 1800, method)).status == 503
    good = only_payment(enrolled, bill_id)
    poison_id = f"pay_poison_{uuid.uuid4().hex[:8]}"
    with planted(
        {
            "PK": {"S": "CUSTOMER#nobody"},
            "SK": {"S": f"BILL#B0#PAY#{poison_id}"},
            "type": {"S": "payment"},
            "GSI1PK": {"S": "PAYMENTS#PENDING"},
            "GSI1SK": {"S": f"2000-01-01T00:00:00Z#nobody#B0#{poison_id}"},
            "payment_id": {"S": poison_id},
            "amount": {"S": "lots"},
            "status": {"S": "pending"},
        }
    ):
        done = payments.sweep(moment=now() + timedelta(minutes=3))
    assert done[poison_id] == "error" and done[good.payment_id] == "succeeded"
    assert only_payment(enrolled, bill_id).status == "succeeded"
    # The sweeper asked the provider about the charge, never charged again.
    assert [(a.amount, a.idempotency_key) for a in sandbox.attempts_for(good.payment_id)] == [
        (1800, good.attempt_id)
    ]
    failures = [e for e in events if e.get("event") == "batch_item_failed" and e.get("item") == poison_id]
    assert [(e["job"], e["error"]) for e in failures] == [
        ("sweep_pending_payments", "AttributeDeserializationError")
    ]
    assert "BatchItemFailed" in metrics_seen


def test_a_poisoned_due_notice_does_not_stop_autopay_nor_a_missing_method(
    api, app_module, enrol, events, sandbox
):
    """Mutations: no per-item isolation in autopay → the malformed notice's error ends the run and
    the good bill is not paid."""
    from chalicelib.store.models import BillingSettings, customer_pk

    paying = enrol()
    add_card(api, paying)
    assert set_autopay(api, paying, True).status == 200
    good = bill_document(paying.customer["customer_number"], due=date.today())
    # A customer whose default method no longer exists (a race with its removal).
    stale = enrol()
    add_card(api, stale)
    assert set_autopay(api, stale, True).status == 200
    settings = BillingSettings.get(customer_pk(stale.customer["customer_id"]), "SETTINGS#BILLING")
    settings.default_method_id = "pm_" + "0" * 16
    settings.save()
    orphan = bill_document(stale.customer["customer_number"], due=date.today())
    app_module.import_bills({"bills": [good, orphan]}, None)
    with planted(
        {
            "PK": {"S": "CUSTOMER#nobody"},
            "SK": {"S": "NOTICE#BILLDUE#B-POISON"},
            "type": {"S": "notice"},
            "GSI1PK": {"S": f"DUE#{date.today().isoformat()}"},
            "GSI1SK": {"S": "0#B-POISON"},
            "bill_id": {"S": "B-POISON"},
            "notice_kind": {"S": "bill_due"},
            "customer_id": {"N": "12"},
        }
    ):
        outcomes = payments.autopay()
    assert outcomes["B-POISON"] == "error"
    assert (
        outcomes[good["bill_id"]] == "succeeded" and outcomes[orphan["bill_id"]] == "payment_method_not_found"
    )
    assert api.get(f"/bills/{good['bill_id']}", token=paying.token).body["status"] == "paid"
    paid = only_payment(paying, good["bill_id"])
    assert [(a.amount, a.idempotency_key) for a in sandbox.attempts_for(paid.payment_id)] == [
        (1800, paid.attempt_id)
    ]
    assert [e["job"] for e in events if e.get("event") == "batch_item_failed"] == ["autopay"]


def test_a_poisoned_due_notice_does_not_stop_the_reminders(api, app_module, enrol, events):
    enrolled = enrol()
    due = date.today() + timedelta(days=3)
    document = bill_document(enrolled.customer["customer_number"], due=due)
    app_module.import_bills({"bills": [document]}, None)
    with planted(
        {
            "PK": {"S": "CUSTOMER#nobody"},
            "SK": {"S": "NOTICE#BILLDUE#B-POISON2"},
            "type": {"S": "notice"},
            "GSI1PK": {"S": f"DUE#{due.isoformat()}"},
            "GSI1SK": {"S": "0#B-POISON2"},
            "bill_id": {"S": "B-POISON2"},
            "notice_kind": {"S": "bill_due"},
            "amount": {"S": "many"},
        }
    ):
        assert bills.remind_due() >= 1
    reminders = [
        i for i in api.get("/me/inbox", token=enrolled.token).body["items"] if i["kind"] == "billing.bill_due"
    ]
    assert [r["data"]["bill_id"] for r in reminders] == [document["bill_id"]]
    assert [(e["job"], e["item"]) for e in events if e.get("event") == "batch_item_failed"] == [
        ("remind_due_bills", "NOTICE#BILLDUE#B-POISON2")
    ]
