"""Call codes: the phone without starting over.

In the app, after a passkey confirmation of `call_code` (bound to the case, or to the account), the
customer gets an 8-digit code valid 10 minutes; they read it to the agent, who enters it in the
console (`admin_call_code_verify`): the caller is authenticated without security questions and the
agent lands on the customer's case with its whole context.

- Stored as HMAC-SHA256(pepper, code) only, the pepper a secret of the stage (CALL_CODE_PEPPER):
  a copy of the table does not give the codes back, even by trying all 10^8. The code is in the
  customer's answer once and in no log line.
- One use: the verification that wins sets `used_at` on condition it is unset (one UpdateItem).
- One live code per customer: a new code deletes the previous one, so at most one code per
  customer can be guessed at any time.
- Brute force: every verification is counted before the code is looked at, in one global window
  (all consoles together: `call_code_guesses`, 20 per 10 minutes by default); a right code gives
  its count back, so the window counts wrong codes, and once it is full verification is locked
  until the window ends (429 `call_codes_locked`, logged). With N live codes, a guess succeeds
  with probability N / 10^8: 20 guesses per 10 minutes against 10,000 live codes is one success
  every ~35 days of sustained guessing by someone with console access, each wrong code logged.
- Issuing is limited per customer (`call_code_customer`, 5 an hour).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.cases import limits, service
from chalicelib.cases import settings as case_config
from chalicelib.cases.messages import text
from chalicelib.cases.models import POINTER_SK, CallCode, CallCodePointer, code_pk
from chalicelib.common.clock import epoch, iso, now
from chalicelib.errors import NotFound, TemporarilyUnavailable, ValidationFailed
from chalicelib.observability.log import log_event
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import customer_pk

DIGITS = 8
VALID = timedelta(minutes=10)
CODE_SK = "CALLCODE"
GUESS_SUBJECT = "all-consoles"


def code_hash(code: str) -> str:
    return hmac.new(case_config.pepper(), code.encode(), hashlib.sha256).hexdigest()


def _pointer(customer_id: str) -> CallCodePointer | None:
    try:
        return CallCodePointer.get(customer_pk(customer_id), POINTER_SK, consistent_read=True)
    except CallCodePointer.DoesNotExist:
        return None


def issue(*, customer_id: str, case_id: str | None) -> dict[str, Any]:
    """A new code for this customer (bound to `case_id`, one of theirs, or to the account); the
    previous one stops working."""
    if case_id is not None:
        service.load(customer_id, case_id)  # 404 for another customer's case
    previous = _pointer(customer_id)
    moment = now()
    expires = epoch(moment + VALID)
    for _ in range(5):
        code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
        digest = code_hash(code)
        try:
            with transaction() as tx:
                tx.save(
                    CallCode(
                        code_pk(digest),
                        CODE_SK,
                        customer_id=customer_id,
                        case_id=case_id,
                        created_at=iso(moment),
                        expires_at=expires,
                    ),
                    # Drawn again if the same digits are someone's live code (an expired one is replaced).
                    condition=CallCode.PK.does_not_exist() | (CallCode.expires_at <= epoch(moment)),
                    label="unique",
                )
                tx.save(
                    CallCodePointer(
                        customer_pk(customer_id), POINTER_SK, code_hash=digest, expires_at=expires
                    )
                )
                if previous is not None and previous.code_hash != digest:
                    tx.delete(CallCode(code_pk(previous.code_hash), CODE_SK))
        except ConditionsFailed:
            continue
        log_event("call_code_issued", customer_id=customer_id, case_id=case_id)
        return {
            "code": code,
            "display": f"{code[:4]} {code[4:]}",
            "case_id": case_id,
            "expires_at": iso(moment + VALID),
        }
    raise TemporarilyUnavailable("No call code could be issued just now: try again.")


def _digits(code: str) -> str:
    digits = re.sub(r"[ -]", "", code)
    if not re.fullmatch(rf"[0-9]{{{DIGITS}}}", digits):
        raise ValidationFailed(f"code: the {DIGITS} digits the caller reads out.")
    return digits


def verify(*, code: str, operator: str) -> dict[str, Any]:
    """The caller behind this code, and the case the agent lands on (the code's, else the
    customer's newest open case), with the whole context. Single use; wrong codes are limited."""
    digits = _digits(code)
    counted = limits.take("call_code_guesses", GUESS_SUBJECT, code="call_codes_locked")
    moment = now()
    found = CallCode(code_pk(code_hash(digits)), CODE_SK)
    try:
        found.update(
            actions=[CallCode.used_at.set(iso(moment)), CallCode.used_by.set(operator)],
            condition=CallCode.PK.exists()
            & CallCode.used_at.does_not_exist()
            & (CallCode.expires_at > epoch(moment)),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        log_event("call_code_rejected", operator=operator)
        raise NotFound(text("call_code_invalid"), code="call_code_invalid") from None
    limits.give_back(counted)  # a right code is not a guess
    customer_id = found.customer_id
    context = service.agent_context(customer_id=customer_id, case_id=found.case_id)
    case = context["case"]
    if case is not None:
        service.record_call(customer_id=customer_id, case_id=case["case_id"], operator=operator)
    log_event("call_code_verified", customer_id=customer_id, operator=operator)
    return {
        "verified": True,
        "customer_id": customer_id,
        "customer_number": context["customer"]["customer_number"],
        "name": context["customer"]["name"],
        "case_id": case["case_id"] if case is not None else None,
        "bound_to": "case" if found.case_id else "account",
        "context": context,
    }
