"""`PATCH /me`: what a customer may change about themselves (contact details, language, time zone,
postal address). Name and customer number are not theirs to change here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from chalicelib.account.views import profile_to_wire
from chalicelib.common.clock import is_time_zone
from chalicelib.common.strict import Strict
from chalicelib.customers.formats import E164
from chalicelib.errors import NotFound
from chalicelib.store.models import Customer, customer_pk

# A pragmatic address check (email-validator's full one stays off the API's cold start).
EMAIL = r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"


class PostalAddress(Strict):
    line1: str = Field(min_length=1, max_length=120)
    line2: str | None = Field(default=None, max_length=120)
    postal_code: str = Field(min_length=2, max_length=12)
    city: str = Field(min_length=1, max_length=80)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class ProfilePatch(Strict):
    email: str | None = Field(default=None, pattern=EMAIL, max_length=254)
    phone: str | None = Field(default=None, pattern=E164)
    language: Literal["fr", "en"] | None = None
    time_zone: str | None = Field(default=None, max_length=64)
    postal_address: PostalAddress | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not is_time_zone(value):
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value


CONTACT_FIELDS = ("email", "phone", "postal_address")


def patch(*, customer_id: str, changes: ProfilePatch) -> dict[str, Any]:
    """Apply the changes (the edge checked the step-up for contact fields); each contact detail
    that changed is a security event: every device is told, with the old value masked."""
    from chalicelib.auth import security_events, stepup

    fields = changes.model_dump(include=set(ProfilePatch.model_fields), exclude_unset=True, exclude_none=True)
    customer = Customer(customer_pk(customer_id), "PROFILE")
    before: Customer | None = None
    if any(name in fields for name in CONTACT_FIELDS):
        try:
            before = Customer.get(customer_pk(customer_id), "PROFILE", consistent_read=True)
        except Customer.DoesNotExist:
            raise NotFound("No such customer.", code="customer_not_found") from None
    if fields:
        actions = [getattr(Customer, name).set(value) for name, value in fields.items()]
        from pynamodb.exceptions import UpdateError

        try:
            customer.update(actions=actions, condition=Customer.PK.exists())
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound("No such customer.", code="customer_not_found") from None
            raise
    else:
        customer.refresh()
    if before is not None:
        for name in CONTACT_FIELDS:
            old = getattr(before, name)
            old_plain = old.as_dict() if hasattr(old, "as_dict") else old
            if name in fields and fields[name] != old_plain:
                security_events.account_changed(
                    customer_id, name, old=stepup.masked(name, old_plain) if old_plain else None
                )
    return profile_to_wire(customer)
