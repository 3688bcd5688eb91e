"""One-time activation codes, delivered out of band (a letter, an SMS), that let a customer enrol a
first passkey.

The letter carries two things: an **enrolment handle** (128 random bits, `enr_...`, e.g. in a QR
code) and the **activation code** (12 characters a person can type). The handle names the
enrolment; the code proves it. Because the handle is unguessable, a stranger who knows a customer
number cannot even reach that customer's code, let alone lock it: wrong codes are counted per
handle, and they slow the next try down (no wait for the first 3, then 1, 2, 4... minutes, at most
an hour) instead of locking the account for days. Every wrong code is a `ActivationCodeRejected`
metric, so a burst (someone trying handles or codes at scale) raises the alarm.

Codes are stored as an scrypt hash; expire (72 h by default); work once (deleted in the enrolment
transaction); a newer code (and its new handle) replaces the older one. Unknown and known handles
get the same answers and the same work, so the route tells nothing about which exist.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from chalicelib.common.clock import epoch, iso, now
from chalicelib.common.secrets import new_id, same, sha256_hex, slow_hash
from chalicelib.config import get_settings
from chalicelib.errors import Expired, TooManyAttempts, Unauthenticated
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.models import ActivationAttempts, ActivationCode, EnrolmentHandle, Item, number_pk

__all__ = ["NewActivationCode", "ValidActivation", "check", "new_code", "normalise"]

# Crockford base32 without I, L, O, U: nothing to misread on a letter or an SMS.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12  # 60 bits
FREE_TRIES = 3  # typos happen: no wait before the 4th try
MAX_BACKOFF_S = 3600


@dataclass(frozen=True)
class NewActivationCode:
    code: str  # shown once, to the admin who delivers it; only its hash is stored
    enrolment_handle: str  # printed beside it (QR code); only its digest is stored
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


def _handle_pk(handle: str) -> str:
    return f"ENROL#{sha256_hex(handle)}"


def new_code(*, customer_id: str, customer_number: str) -> tuple[NewActivationCode, list[Item]]:
    """A fresh code and handle, and the items that store their digests (the caller saves them,
    maybe in a transaction: the code replaces any older one of this customer)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    handle = "enr_" + secrets.token_urlsafe(16)
    code_id = new_id("act", 8)
    moment = now()
    expires = moment + timedelta(seconds=get_settings().activation_code_ttl_s)
    code_item = ActivationCode(
        number_pk(customer_number),
        "ACTIVATION",
        customer_id=customer_id,
        code_id=code_id,
        code_hash=_hash(raw, customer_number=customer_number, code_id=code_id),
        created_at=iso(moment),
        expires_at=epoch(expires),
    )
    handle_item = EnrolmentHandle(
        _handle_pk(handle),
        "HANDLE",
        customer_id=customer_id,
        customer_number=customer_number,
        code_id=code_id,
        expires_at=epoch(expires),
    )
    shown = "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))
    return NewActivationCode(code=shown, enrolment_handle=handle, code_id=code_id, expires_at=iso(expires)), [
        code_item,
        handle_item,
    ]


def _invalid() -> Unauthenticated:
    return Unauthenticated(
        "The enrolment handle or activation code is not valid.", code="invalid_activation_code"
    )


def _wait(not_before: int, moment: int) -> TooManyAttempts:
    retry_after = max(1, not_before - moment)
    return TooManyAttempts(
        f"Too many wrong codes: try again in {max(1, round(retry_after / 60))} minute(s).",
        retry_after_s=retry_after,
        code="activation_backoff",
    )


def backoff_s(failures: int) -> int:
    """The wait after `failures` wrong codes: none for the first FREE_TRIES, then 1, 2, 4... min."""
    if failures < FREE_TRIES:
        return 0
    return min(MAX_BACKOFF_S, 60 << (failures - FREE_TRIES))  # 60 s × 2^(failures - FREE_TRIES)


def check(*, enrolment_handle: str, code: str) -> ValidActivation:
    """Check a code without spending it (enrolment spends it); count a wrong try."""
    pk = _handle_pk(enrolment_handle)
    items = list(Item.query(pk, consistent_read=True))  # the handle and its attempts: one Query
    handle = next((i for i in items if isinstance(i, EnrolmentHandle)), None)
    attempts = next((i for i in items if isinstance(i, ActivationAttempts)), None)
    moment = epoch(now())
    if attempts is not None and (attempts.not_before or 0) > moment:
        raise _wait(int(attempts.not_before or 0), moment)

    activation = None
    if handle is not None:
        try:
            activation = ActivationCode.get(
                number_pk(handle.customer_number), "ACTIVATION", consistent_read=True
            )
        except ActivationCode.DoesNotExist:
            activation = None
        if activation is not None and activation.code_id != handle.code_id:
            activation = None  # a newer code was issued: this letter is void
    # Hash even when there is no code to compare with, so timing does not tell the cases apart.
    candidate = _hash(
        code,
        customer_number=handle.customer_number if handle else "none",
        code_id=activation.code_id if activation else "none",
    )
    if activation is not None and same(candidate, activation.code_hash):
        if (activation.expires_at or 0) <= moment:
            raise Expired(
                "This activation code has expired; ask customer care for a new one.",
                code="activation_code_expired",
            )
        return ValidActivation(customer_id=activation.customer_id, code_id=activation.code_id)

    failures = _count_failure(pk, moment)
    log_event("activation_code_rejected", handle_known=handle is not None, failures=failures)
    emit("ActivationCodeRejected")
    raise _invalid()


def _count_failure(pk: str, moment: int) -> int:
    """One more wrong try on this handle, and the back-off it earns (one UpdateItem)."""
    attempts = ActivationAttempts(pk, "ATTEMPTS")
    # ADD is not idempotent: a retried timeout may count one try twice, which errs on the safe side.
    attempts.update(
        actions=[
            # An update that creates the item must also write its discriminator, or reads cannot type it.
            ActivationAttempts.type.set(ActivationAttempts),
            ActivationAttempts.failures.add(1),
            ActivationAttempts.expires_at.set(moment + get_settings().activation_code_ttl_s),
        ]
    )
    failures = int(attempts.failures)
    wait = backoff_s(failures)
    if wait:
        attempts.update(actions=[ActivationAttempts.not_before.set(moment + wait)])
    return failures
