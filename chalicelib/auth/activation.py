"""One-time activation codes, delivered out of band, that let a customer enrol a first passkey.

Stored as an scrypt hash; expire (72 h by default); work once (deleted in the enrolment
transaction); lock after 5 wrong tries. Wrong tries are counted per customer number whether or not
the number exists, and known and unknown numbers get the same answers, so the route cannot be used
to learn which customer numbers exist.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from chalicelib.common.clock import epoch, iso, now
from chalicelib.common.secrets import new_id, same, slow_hash
from chalicelib.config import get_settings
from chalicelib.errors import Expired, TooManyAttempts, Unauthenticated
from chalicelib.observability.log import log_event
from chalicelib.store.models import ActivationAttempts, ActivationCode, CustomerNumber, Item, number_pk

# Crockford base32 without I, L, O, U: nothing to misread on a letter or an SMS.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12  # 60 bits


@dataclass(frozen=True)
class NewActivationCode:
    code: str  # shown once, to the admin who delivers it; only its hash is stored
    code_id: str
    expires_at: str


@dataclass(frozen=True)
class ValidActivation:
    customer_id: str
    code_id: str


def normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _hash(code: str, *, customer_number: str, code_id: str) -> str:
    return slow_hash(normalise(code), salt=f"{customer_number}:{code_id}")


def new_code(*, customer_id: str, customer_number: str) -> tuple[NewActivationCode, ActivationCode]:
    """A fresh code and the item that stores its hash (the caller saves it, maybe in a transaction)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    code_id = new_id("act", 8)
    moment = now()
    expires = moment + timedelta(seconds=get_settings().activation_code_ttl_s)
    item = ActivationCode(
        number_pk(customer_number),
        "ACTIVATION",
        customer_id=customer_id,
        code_id=code_id,
        code_hash=_hash(raw, customer_number=customer_number, code_id=code_id),
        created_at=iso(moment),
        expires_at=epoch(expires),
    )
    shown = "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))
    return NewActivationCode(code=shown, code_id=code_id, expires_at=iso(expires)), item


def _invalid() -> Unauthenticated:
    return Unauthenticated("The customer number or activation code is not valid.", code="invalid_activation_code")


def _locked(attempts: ActivationAttempts | None) -> TooManyAttempts:
    retry_after = max(1, int((attempts.expires_at if attempts and attempts.expires_at else 0) - epoch(now())))
    return TooManyAttempts(
        "Too many wrong activation codes; ask customer care for a new code.",
        retry_after_s=retry_after,
        code="activation_locked",
    )


def check(*, customer_number: str, code: str) -> ValidActivation:
    """Check a code without spending it (enrolment spends it); count a wrong try."""
    settings = get_settings()
    items = list(Item.query(number_pk(customer_number), consistent_read=True))
    activation = next((i for i in items if isinstance(i, ActivationCode)), None)
    attempts = next((i for i in items if isinstance(i, ActivationAttempts)), None)
    known = any(isinstance(i, CustomerNumber) for i in items)
    moment = epoch(now())
    if attempts and attempts.failures >= settings.activation_max_failures and (attempts.expires_at or 0) > moment:
        raise _locked(attempts)

    # Hash even when there is no code to compare with, so timing does not tell the two apart.
    code_id = activation.code_id if activation else "none"
    candidate = _hash(code, customer_number=customer_number, code_id=code_id)
    if activation is not None and same(candidate, activation.code_hash):
        if (activation.expires_at or 0) <= moment:
            raise Expired("This activation code has expired; ask customer care for a new one.", code="activation_code_expired")
        return ValidActivation(customer_id=activation.customer_id, code_id=activation.code_id)

    failures = _count_failure(customer_number)
    log_event("activation_code_rejected", customer_number_known=known, failures=failures)
    if failures >= settings.activation_max_failures:
        raise _locked(ActivationAttempts(expires_at=moment + settings.activation_code_ttl_s))
    raise _invalid()


def _count_failure(customer_number: str) -> int:
    settings = get_settings()
    attempts = ActivationAttempts(number_pk(customer_number), "ATTEMPTS")
    lock_until = epoch(now()) + settings.activation_code_ttl_s
    # ADD is not idempotent: a retried timeout may count one try twice, which errs on the safe side.
    attempts.update(
        actions=[
            # An update that creates the item must also write its discriminator, or reads cannot type it.
            ActivationAttempts.type.set(ActivationAttempts),
            ActivationAttempts.failures.add(1),
            ActivationAttempts.expires_at.set(ActivationAttempts.expires_at | lock_until),
        ]
    )
    return int(attempts.failures)


def reset_failures(customer_number: str) -> ActivationAttempts:
    """The item to delete when an admin issues a new code (the lock is lifted with it)."""
    return ActivationAttempts(number_pk(customer_number), "ATTEMPTS")
