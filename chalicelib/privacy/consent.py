"""Marketing consent: whether the customer agrees to commercial messages (offer invitations,
announcements with a commercial purpose), apart from service alerts, which it never affects.

Default: no consent. A customer who never answered gets no commercial message (opt-in, as the
ePrivacy rules on direct marketing ask); they say yes in the app, and may say no at any time.
Stored on the profile item (`Customer.marketing_consent`, `marketing_consent_at`): the senders
read the profile anyway (offers' eligibility), so the check costs no extra read there.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pynamodb.exceptions import UpdateError

from chalicelib.common.clock import iso, now
from chalicelib.common.strict import Strict
from chalicelib.errors import NotFound
from chalicelib.observability.log import log_event
from chalicelib.store.models import Customer, customer_pk


class ConsentsBody(Strict):
    marketing: bool = Field(description="Commercial messages (offer invitations, commercial announcements)")


def consents_of(profile: Customer | None) -> bool:
    """Whether this profile consents to marketing (absent, or no profile: no)."""
    return bool(profile is not None and profile.marketing_consent)


def _wire(profile: Customer) -> dict[str, Any]:
    return {"marketing": consents_of(profile), "marketing_changed_at": profile.marketing_consent_at}


def _profile(customer_id: str) -> Customer:
    try:
        return Customer.get(customer_pk(customer_id), "PROFILE", consistent_read=True)
    except Customer.DoesNotExist:
        raise NotFound("No such customer.", code="customer_not_found") from None


def get_consents(*, customer_id: str) -> dict[str, Any]:
    return _wire(_profile(customer_id))


def set_consents(*, customer_id: str, marketing: bool) -> dict[str, Any]:
    """Record the answer; the time changes only when the answer does (a repeated PUT keeps it)."""
    profile = _profile(customer_id)
    if consents_of(profile) == marketing and profile.marketing_consent_at is not None:
        return _wire(profile)
    try:
        profile.update(
            actions=[
                Customer.marketing_consent.set(marketing),
                Customer.marketing_consent_at.set(iso(now())),
            ],
            condition=Customer.PK.exists(),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise NotFound("No such customer.", code="customer_not_found") from None
        raise
    log_event("marketing_consent_changed", customer_id=customer_id, marketing=marketing)
    return _wire(profile)


def marketing_allowed(customer_id: str) -> bool:
    """One projected GetItem of the profile, for senders that have not read it (announcements)."""
    try:
        profile = Customer.get(
            customer_pk(customer_id), "PROFILE", attributes_to_get=["marketing_consent", "type"]
        )
    except Customer.DoesNotExist:
        return False
    return consents_of(profile)
