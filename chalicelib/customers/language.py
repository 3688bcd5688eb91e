"""The language a customer reads us in, from their profile."""

from __future__ import annotations

from chalicelib.common.languages import spoken
from chalicelib.store.models import Customer, customer_pk


def customer_language(customer_id: str) -> str:
    """One GetItem of the profile; French when there is none or it names a language we do not speak."""
    try:
        return spoken(Customer.get(customer_pk(customer_id), "PROFILE").language)
    except Customer.DoesNotExist:
        return "fr"
