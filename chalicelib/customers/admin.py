"""Admin actions on customers, run as Lambda functions from the AWS console (see infra/admin-events/)."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import EmailStr, Field, field_validator

from chalicelib.auth import activation
from chalicelib.common.clock import is_time_zone, iso, now
from chalicelib.common.secrets import b64url, new_id
from chalicelib.common.strict import Strict
from chalicelib.customers.formats import CUSTOMER_NUMBER, E164, SegmentName
from chalicelib.errors import Conflict, NotFound
from chalicelib.observability.log import log_event
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import Customer, CustomerNumber, Passkey, SegmentMember, customer_pk, number_pk

# A passkey removed is two actions (the delete, the security event) and the count one more: 40 per
# transaction stays well inside DynamoDB's 100 actions.
RESET_CHUNK = 40


class CreateCustomerEvent(Strict):
    customer_number: str = Field(pattern=CUSTOMER_NUMBER, description="Customer-facing number, e.g. C-1001")
    name: str = Field(min_length=1, max_length=120)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=E164)
    language: Literal["fr", "en"] = "fr"
    time_zone: str = Field(default="Europe/Paris", description="IANA time zone")
    segments: list[SegmentName] = Field(
        default_factory=list,
        max_length=20,
        description="Marketing segments, e.g. loyal-5y (offers' eligibility)",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value


class IssueActivationCodeEvent(Strict):
    customer_number: str = Field(pattern=CUSTOMER_NUMBER)


class CustomerRefEvent(Strict):
    customer_number: str = Field(pattern=CUSTOMER_NUMBER)
    reason: str = Field(
        default="admin",
        min_length=1,
        max_length=60,
        description="Kept on the sessions ended, e.g. lost_phone",
    )


class SetSegmentsEvent(Strict):
    customer_number: str = Field(pattern=CUSTOMER_NUMBER)
    segments: list[SegmentName] = Field(
        max_length=20, description="The customer's whole list of segments (replaces the previous one)"
    )


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
    members = [
        SegmentMember(f"SEGMENT#{name}", f"CUSTOMER#{customer_id}", customer_id=customer_id)
        for name in sorted({"all", *event.segments})
    ]
    code, code_items = activation.new_code(customer_id=customer_id, customer_number=event.customer_number)
    try:
        with transaction() as tx:
            tx.save(
                CustomerNumber(number_pk(event.customer_number), "CUSTNUM", customer_id=customer_id),
                condition=CustomerNumber.PK.does_not_exist(),
                label="number",
            )
            tx.save(customer, condition=Customer.PK.does_not_exist(), label="id")
            for item in code_items:
                tx.save(item)
            for member in members:
                tx.save(member)
    except ConditionsFailed as failed:
        if "number" in failed.labels:
            raise Conflict(
                f"Customer number {event.customer_number} already exists.", code="customer_number_taken"
            ) from None
        raise
    log_event("customer_created", customer_id=customer_id)
    return {
        "customer_id": customer_id,
        "customer_number": event.customer_number,
        **_letter(code),
    }


def _letter(code: activation.NewActivationCode) -> dict[str, str]:
    """What the letter (or SMS) to the customer carries; shown once, never logged."""
    return {
        "enrolment_handle": code.enrolment_handle,
        "activation_code": code.code,
        "activation_code_expires_at": code.expires_at,
    }


def _customer_id(customer_number: str) -> str:
    try:
        return CustomerNumber.get(number_pk(customer_number), "CUSTNUM", consistent_read=True).customer_id
    except CustomerNumber.DoesNotExist:
        raise NotFound(f"No customer with number {customer_number}.", code="customer_not_found") from None


def _new_code(customer_id: str, customer_number: str) -> dict[str, Any]:
    code, code_items = activation.new_code(customer_id=customer_id, customer_number=customer_number)
    with transaction() as tx:
        for item in code_items:
            tx.save(item)
    log_event("activation_code_issued", customer_id=customer_id)
    return {"customer_id": customer_id, "customer_number": customer_number, **_letter(code)}


def issue_activation_code(event: IssueActivationCodeEvent) -> dict[str, Any]:
    """Replace the customer's activation code and enrolment handle (the old letter stops working)."""
    return _new_code(_customer_id(event.customer_number), event.customer_number)


def revoke_sessions(event: CustomerRefEvent) -> dict[str, Any]:
    """End every session of a customer (a stolen phone): refresh stops at once, factor, contact and
    money routes refuse its access tokens at once, its devices stop receiving pushes; read-only
    views accept an access token already issued until its expiry (15 minutes at most)."""
    from chalicelib.auth import sessions

    customer_id = _customer_id(event.customer_number)
    ended = sessions.revoke_all(customer_id=customer_id, reason=event.reason)
    log_event("sessions_revoked_by_admin", customer_id=customer_id, ended=ended)
    return {
        "customer_number": event.customer_number,
        "sessions_ended": ended,
        "message": "Sessions ended: refresh, payments and account changes are refused now, pushes stop; "
        "read-only views accept tokens already issued until they expire (15 minutes at most).",
    }


def reset_passkeys(event: CustomerRefEvent) -> dict[str, Any]:
    """The customer lost every device: end all sessions (first, so no stolen session outlives the
    reset), remove all their passkeys, whatever their number, in chunks that fit a transaction, and
    issue a new activation code to enrol again (the customer is told of each removed passkey).

    Safe to run again: a run that stopped half-way removed whole chunks; the next removes the rest."""
    customer_id = _customer_id(event.customer_number)
    return {
        "customer_number": event.customer_number,
        **reset_passkeys_of(
            customer_id=customer_id, customer_number=event.customer_number, reason=event.reason
        ),
    }


def reset_passkeys_of(*, customer_id: str, customer_number: str, reason: str) -> dict[str, Any]:
    """reset_passkeys for a customer already found (also run by an agent's lost-phone case flow:
    cases/lost_phone.py): {passkeys_removed, sessions_ended} and the new letter."""
    from chalicelib.auth import security_events, sessions

    ended = sessions.revoke_all(customer_id=customer_id, reason=reason)
    passkeys = list(Passkey.gsi1.query(customer_pk(customer_id), Passkey.GSI1SK.startswith("PASSKEY#")))
    for start in range(0, len(passkeys), RESET_CHUNK):
        chunk = passkeys[start : start + RESET_CHUNK]
        with transaction() as tx:
            for passkey in chunk:
                tx.delete(passkey)
                tx.save(
                    security_events.security_event(
                        customer_id,
                        security_events.PASSKEY_REMOVED,
                        {"passkey_id": passkey.credential_id, "name": passkey.name, "by": "admin"},
                    )
                )
            tx.update(
                Customer(customer_pk(customer_id), "PROFILE"),
                actions=[
                    Customer.passkey_count.add(-len(chunk)),
                    Customer.synced_passkey_count.add(-sum(1 for p in chunk if p.backup_eligible)),
                ],
                condition=Customer.PK.exists(),
            )
    Customer(customer_pk(customer_id), "PROFILE").update(
        actions=[Customer.passkey_count.set(0), Customer.synced_passkey_count.set(0)],
        condition=Customer.PK.exists(),
    )
    # A sign-in with a passkey not yet deleted may have opened a session meanwhile: end it too.
    ended += sessions.revoke_all(customer_id=customer_id, reason=reason)
    code = _new_code(customer_id, customer_number)
    log_event("passkeys_reset_by_admin", customer_id=customer_id, removed=len(passkeys), sessions_ended=ended)
    return {
        "passkeys_removed": len(passkeys),
        "sessions_ended": ended,
        **{k: v for k, v in code.items() if k not in ("customer_id", "customer_number")},
    }


def set_segments(event: SetSegmentsEvent) -> dict[str, Any]:
    """Replace a customer's segments (offers' eligibility, announcements' audience)."""
    customer_id = _customer_id(event.customer_number)
    customer = Customer.get(customer_pk(customer_id), "PROFILE", consistent_read=True)
    before, after = set(customer.segments or ()), set(event.segments)
    with transaction() as tx:
        tx.update(customer, actions=[Customer.segments.set(after) if after else Customer.segments.remove()])
        for name in after - before:
            tx.save(SegmentMember(f"SEGMENT#{name}", f"CUSTOMER#{customer_id}", customer_id=customer_id))
        for name in before - after:
            tx.delete(SegmentMember(f"SEGMENT#{name}", f"CUSTOMER#{customer_id}"))
    return {"customer_number": event.customer_number, "segments": sorted(after)}
