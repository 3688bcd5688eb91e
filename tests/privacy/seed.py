"""Helpers of the privacy tests: a customer holding every kind of datum, the export's S3 objects."""

from __future__ import annotations

import itertools
import os
from typing import Any

from chalicelib.cases.models import Case, CaseEvent, CaseUpload
from chalicelib.common.clock import iso, now
from chalicelib.privacy import export
from chalicelib.store.models import (
    Bill,
    CycleUsage,
    DailyUsage,
    Payment,
    PaymentMethod,
    ServiceRequest,
    customer_pk,
    cycle_sk,
)
from tests.bidding.conftest import give_line, offer_event, plant_bid

# Values that must reach the file, one per kind of datum seeded by `seed_everything`.
CASE_TEXT = "Mon téléphone ne capte plus depuis lundi"
ADVISER = "Camille Adviser-Name"
DOCUMENT_NAME = "facture-scan.pdf"
PROVIDER_REF = "pm_provider_secret_ref_123"
PROVIDER_CUSTOMER = "cus_provider_ref_456"
ATTEMPT_ID = "att_idempotency_secret_789"
_offers = itertools.count(1)
FCM_TOKEN = "fcm-registration-token-" + "x" * 40


def seed_everything(api: Any, app_module: Any, enrolled: Any) -> dict[str, str]:
    """A line (the admin's way), a registered device (the app's), and straight in the table: usage, a
    request, a bill with a payment by card, a case with a message (and an adviser's) and a
    document, and a bid on an open offer. Returns the ids to look for."""
    customer_id = enrolled.customer["customer_id"]
    pk, moment = customer_pk(customer_id), iso(now())
    line_id = give_line(app_module, enrolled)
    device = api.put(
        f"/me/devices/inst-{customer_id[-12:]}",
        {"fcm_token": FCM_TOKEN, "platform": "android", "app_version": "1.2.3", "locale": "fr-FR"},
        token=enrolled.token,
    )
    assert device.status in (200, 201), device.body
    CycleUsage(
        pk, cycle_sk(line_id, "2026-11-01"), line_id=line_id, cycle_start="2026-11-01", data_kb=2048
    ).save()
    DailyUsage(pk, f"USAGEDAY#{line_id}#2026-11-02", line_id=line_id, day="2026-11-02", data_kb=1024).save()
    ServiceRequest(
        pk,
        "REQUEST#req_00000000000000000001",
        request_id="req_00000000000000000001",
        customer_id=customer_id,
        request_kind="plan_change",
        line_id=line_id,
        status="done",
        reason="Plan changed, as you asked.",
        history=[],
        created_at=moment,
        updated_at=moment,
    ).save()
    bill_id = "bil_privacy0001"
    Bill(
        pk,
        f"BILL#{bill_id}#0",
        GSI1PK=f"BILLS#{customer_id}",
        GSI1SK=f"{moment}#{bill_id}",
        bill_id=bill_id,
        customer_id=customer_id,
        period_start="2026-10-01",
        period_end="2026-10-31",
        issued_at=moment,
        due_date="2026-11-15",
        currency="EUR",
        items=[{"label": "Forfait", "amount": 1299, "tax": 260}],
        total_amount=1559,
        total_tax=260,
        balance=0,
        available=0,
        status="paid",
        content_hash="content-hash-of-the-document",
    ).save()
    PaymentMethod(
        pk,
        "PM#pm_privacy0001",
        method_id="pm_privacy0001",
        provider_ref=PROVIDER_REF,
        provider_customer_ref=PROVIDER_CUSTOMER,
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030,
        created_at=moment,
    ).save()
    Payment(
        pk,
        f"BILL#{bill_id}#PAY#pay_privacy0001",
        payment_id="pay_privacy0001",
        bill_id=bill_id,
        customer_id=customer_id,
        amount=1559,
        currency="EUR",
        method_id="pm_privacy0001",
        status="succeeded",
        initiated_by="customer",
        attempt_id=ATTEMPT_ID,
        created_at=moment,
        updated_at=moment,
    ).save()
    case_id = "cas_" + "0" * 23 + "1"
    Case(
        pk,
        f"CASE#{case_id}",
        GSI1PK=f"CASES#{customer_id}",
        GSI1SK=f"{moment}#{case_id}",
        case_id=case_id,
        customer_id=customer_id,
        status="open",
        topic="network",
        origin="{}",
        context="{}",
        opened_at=moment,
        updated_at=moment,
    ).save()
    CaseEvent(
        pk,
        f"CASE#{case_id}#EV#evt1",
        event_id="evt1",
        case_id=case_id,
        kind="message",
        author="customer",
        at=moment,
        text=CASE_TEXT,
    ).save()
    CaseEvent(
        pk,
        f"CASE#{case_id}#EV#evt2",
        event_id="evt2",
        case_id=case_id,
        kind="message",
        author="agent",
        operator=ADVISER,
        at=moment,
        text="Nous regardons.",
    ).save()
    CaseUpload(
        pk,
        f"CASE#{case_id}#UP#upl1",
        upload_id="upl1",
        case_id=case_id,
        object_key=f"documents/{case_id}/upl1",
        content_type="application/pdf",
        file_name=DOCUMENT_NAME,
        status="attached",
        size=1234,
        created_at=moment,
    ).save()
    created = app_module.admin_create_offer(offer_event(offer_id=f"off_p{os.getpid()}-{next(_offers)}"), None)
    assert "error" not in created, created
    plant_bid(created["offer_id"], customer_id, 2500)
    return {"line_id": line_id, "bill_id": bill_id, "case_id": case_id, "offer_id": created["offer_id"]}


def export_objects(customer_id: str) -> list[str]:
    """The keys of the customer's export files in the bucket."""
    from chalicelib.config import get_settings

    listed = export.s3().list_objects_v2(
        Bucket=get_settings().exports_bucket, Prefix=f"exports/{customer_id}/"
    )
    return [o["Key"] for o in listed.get("Contents", [])]
