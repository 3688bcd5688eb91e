"""Admin actions on customers, run as Lambda functions from the AWS console (see infra/admin-events/)."""
from __future__ import annotations

import re
import secrets
from typing import Any, Literal

from pydantic import EmailStr, Field, field_validator

from chalicelib.auth import activation
from chalicelib.common.clock import is_time_zone, iso, now
from chalicelib.common.secrets import b64url, new_id
from chalicelib.common.strict import Strict
from chalicelib.customers.formats import CUSTOMER_NUMBER, E164, SEGMENT
from chalicelib.errors import Conflict, NotFound
from chalicelib.observability.log import log_event
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import Customer, CustomerNumber, customer_pk, number_pk


class CreateCustomerEvent(Strict):

    customer_number: str = Field(pattern=CUSTOMER_NUMBER, description="Customer-facing number, e.g. C-1001")
    name: str = Field(min_length=1, max_length=120)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=E164)
    language: Literal["fr", "en"] = "fr"
    time_zone: str = Field(default="Europe/Paris", description="IANA time zone")
    segments: list[str] = Field(default_factory=list, max_length=20, description="Marketing segments, e.g. loyal-5y (offers' eligibility)")

    @field_validator("segments")
    @classmethod
    def _segment_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(SEGMENT, name):
                raise ValueError(f"segment {name!r}: lowercase letters, digits and dashes, 1 to 40")
        return sorted(set(value))

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value


class IssueActivationCodeEvent(Strict):

    customer_number: str = Field(pattern=CUSTOMER_NUMBER)


def create_customer(event: CreateCustomerEvent) -> dict[str, Any]:
    """A new customer and their first activation code; an existing number is refused, never overwritten."""
    customer_id = new_id("cus")
    customer = Customer(
        customer_pk(customer_id),
        "PROFILE",
        customer_id=customer_id,
        customer_number=event.customer_number,
        name=event.name,
        email=str(event.email) if event.email else None,
        phone=event.phone,
        user_handle=b64url(secrets.token_bytes(32)),
        passkey_count=0,
        created_at=iso(now()),
        language=event.language,
        time_zone=event.time_zone,
        segments=set(event.segments) or None,
    )
    code, code_item = activation.new_code(customer_id=customer_id, customer_number=event.customer_number)
    try:
        with transaction() as tx:
            tx.save(
                CustomerNumber(number_pk(event.customer_number), "CUSTNUM", customer_id=customer_id),
                condition=CustomerNumber.PK.does_not_exist(),
                label="number",
            )
            tx.save(customer, condition=Customer.PK.does_not_exist(), label="id")
            tx.save(code_item)
            tx.delete(activation.reset_failures(event.customer_number))
    except ConditionsFailed as failed:
        if "number" in failed.labels:
            raise Conflict(f"Customer number {event.customer_number} already exists.", code="customer_number_taken") from None
        raise
    log_event("customer_created", customer_id=customer_id)
    return {
        "customer_id": customer_id,
        "customer_number": event.customer_number,
        "activation_code": code.code,
        "activation_code_expires_at": code.expires_at,
    }


def issue_activation_code(event: IssueActivationCodeEvent) -> dict[str, Any]:
    """Replace the customer's activation code (the old one stops working) and lift a lockout."""
    try:
        mapping = CustomerNumber.get(number_pk(event.customer_number), "CUSTNUM", consistent_read=True)
    except CustomerNumber.DoesNotExist:
        raise NotFound(f"No customer with number {event.customer_number}.", code="customer_not_found") from None
    code, code_item = activation.new_code(customer_id=mapping.customer_id, customer_number=event.customer_number)
    with transaction() as tx:
        tx.save(code_item)
        tx.delete(activation.reset_failures(event.customer_number))
    log_event("activation_code_issued", customer_id=mapping.customer_id)
    return {
        "customer_id": mapping.customer_id,
        "customer_number": event.customer_number,
        "activation_code": code.code,
        "activation_code_expires_at": code.expires_at,
    }
