"""Enrolment, sign-in and passkey management: the service behind the `/auth/passkeys` and
`/me/passkeys` routes.

Each ceremony is two calls: `*_options` stores a challenge and answers `{challenge_id, options}`
(py_webauthn's JSON, which browsers' `parse*OptionsFromJSON` and the native SDKs accept as is);
the verify call takes `{challenge_id, credential}` (`PublicKeyCredential.toJSON()`), consumes the
challenge, verifies, and commits every effect in one DynamoDB transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import UpdateError

from chalicelib.auth import activation, challenges, security_events, sessions
from chalicelib.auth.sessions import SessionTokens
from chalicelib.common.clock import iso, now
from chalicelib.errors import Conflict, DomainError, Expired, NotFound, Unauthenticated, ValidationFailed
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import ActivationCode, Challenge, Customer, Item, Passkey, customer_pk, number_pk

if TYPE_CHECKING:
    from chalicelib.api.ratelimit import Pending

DEFAULT_NAME = "Passkey"
MAX_PASSKEYS = 10  # per customer, enforced in the enrolment transaction


@dataclass(frozen=True)
class CeremonyOptions:
    challenge_id: str
    options: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"challenge_id": self.challenge_id, "options": self.options}


def _customer(customer_id: str) -> Customer:
    try:
        return Customer.get(customer_pk(customer_id), "PROFILE")
    except Customer.DoesNotExist:
        raise NotFound("No such customer.", code="customer_not_found") from None


def _passkeys_of(customer_id: str) -> list[Passkey]:
    return list(Passkey.gsi1.query(customer_pk(customer_id), Passkey.GSI1SK.startswith("PASSKEY#")))


def step_up_options(*, customer_id: str, challenge: bytes) -> dict[str, Any]:
    """WebAuthn request options for a confirmation by this customer: only their passkeys offered.
    The one place payments, bids and account changes build them."""
    from chalicelib.auth import ceremonies

    allowed = [(p.credential_id, list(p.transports or [])) for p in _passkeys_of(customer_id)]
    return ceremonies.step_up_options(challenge=challenge, allow=allowed)


# --- enrolment -----------------------------------------------------------------------------------


def registration_options(
    *, customer_id: str | None = None, enrolment_handle: str | None = None, activation_code: str | None = None
) -> CeremonyOptions:
    """Options to create a passkey: for a signed-in customer (`customer_id` from the access token,
    the step-up already confirmed by the caller), or for a first passkey with the letter's
    enrolment handle and activation code."""
    from chalicelib.auth import ceremonies

    code_id = None
    if customer_id is not None and (enrolment_handle or activation_code):
        raise ValidationFailed("Send either an access token or an activation code, not both.")
    if customer_id is None:
        if not enrolment_handle or not activation_code:
            raise ValidationFailed(
                "enrolment_handle and activation_code (both on the letter) are required to enrol a first passkey."
            )
        valid = activation.check(enrolment_handle=enrolment_handle, code=activation_code)
        customer_id, code_id = valid.customer_id, valid.code_id
    customer = _customer(customer_id)
    if int(customer.passkey_count or 0) >= MAX_PASSKEYS:
        raise _too_many_passkeys()
    exclude = [(p.credential_id, p.transports or []) for p in _passkeys_of(customer_id)]
    issued = challenges.issue(
        purpose=challenges.REGISTER,
        customer_id=customer_id,
        activation_code_id=code_id,
        algorithms=[int(a) for a in ceremonies.ALGORITHMS],
    )
    options = ceremonies.registration_options(
        challenge=issued.challenge,
        user_handle=customer.user_handle,
        user_name=customer.customer_number,
        display_name=customer.name,
        exclude=exclude,
    )
    return CeremonyOptions(challenge_id=issued.challenge_id, options=options)


def register(
    *, challenge_id: str, credential: dict[str, Any], name: str | None, device: str | None
) -> SessionTokens:
    """Verify the new credential, store it and open a session, all or nothing."""
    from chalicelib.auth import ceremonies

    spent = challenges.consume(challenge_id=challenge_id, purpose=challenges.REGISTER)
    if spent.customer_id is None:  # registration challenges are always bound to a customer
        raise RuntimeError("registration challenge without a customer")
    registered = ceremonies.verify_registration(
        credential=credential, challenge=spent.challenge, algorithms=spent.algorithms
    )
    customer = _customer(spent.customer_id)
    moment = iso(now())
    passkey = Passkey(
        f"CREDENTIAL#{registered.credential_id}",
        "CREDENTIAL",
        GSI1PK=customer_pk(customer.customer_id),
        GSI1SK=f"PASSKEY#{moment}#{registered.credential_id[:16]}",
        credential_id=registered.credential_id,
        customer_id=customer.customer_id,
        user_handle=customer.user_handle,
        public_key=registered.public_key,
        sign_count=registered.sign_count,
        transports=registered.transports,
        aaguid=registered.aaguid,
        backup_eligible=registered.backup_eligible,
        backed_up=registered.backed_up,
        name=(name or DEFAULT_NAME).strip() or DEFAULT_NAME,
        created_at=moment,
    )
    session, tokens = sessions.new_session(
        customer_id=customer.customer_id, device=device, passkey_id=registered.credential_id
    )
    try:
        with transaction() as tx:
            # A credential id is unique whoever holds it: the conditional put refuses a second owner.
            tx.save(passkey, condition=Passkey.PK.does_not_exist(), label="credential")
            # Counted in the same transaction: concurrent enrolments never pass the limit.
            tx.update(
                customer,
                actions=[
                    Customer.passkey_count.add(1),
                    *([Customer.synced_passkey_count.add(1)] if registered.backup_eligible else []),
                ],
                condition=Customer.passkey_count.does_not_exist() | (Customer.passkey_count < MAX_PASSKEYS),
                label="limit",
            )
            tx.save(session)
            tx.save(
                security_events.security_event(
                    customer.customer_id,
                    security_events.PASSKEY_ADDED,
                    {"passkey_id": registered.credential_id, "name": passkey.name},
                )
            )
            if spent.activation_code_id:
                tx.delete(  # the code works once
                    ActivationCode(number_pk(customer.customer_number), "ACTIVATION"),
                    condition=ActivationCode.code_id == spent.activation_code_id,
                    label="activation",
                )
    except ConditionsFailed as failed:
        if "credential" in failed.labels:
            raise Conflict(
                "This passkey is already registered.", code="credential_already_registered"
            ) from None
        if "limit" in failed.labels:
            raise _too_many_passkeys() from None
        raise Expired("This activation code has already been used.", code="activation_code_used") from None
    log_event(
        "passkey_registered",
        customer_id=customer.customer_id,
        with_activation_code=bool(spent.activation_code_id),
    )
    emit("SignInSucceeded")
    return tokens


def _too_many_passkeys() -> Conflict:
    return Conflict(
        f"You have {MAX_PASSKEYS} passkeys, the most an account can have: remove one you no longer use first.",
        code="passkey_limit_reached",
    )


# --- sign-in -------------------------------------------------------------------------------------


def login_options(*, limit: Pending | None = None) -> CeremonyOptions:
    """`limit`: the client's sign-in limit, counted in the challenge's own write (one call)."""
    from chalicelib.auth import ceremonies

    issued = challenges.issue(purpose=challenges.LOGIN, limit=limit)
    return CeremonyOptions(
        challenge_id=issued.challenge_id,
        options=ceremonies.authentication_options(challenge=issued.challenge),
    )


def _login_refused(reason: str, **fields: Any) -> Unauthenticated:
    log_event("sign_in_refused", reason=reason, **fields)
    return Unauthenticated("This passkey cannot sign in.", code="invalid_credential")


def login(
    *, challenge_id: str, credential: dict[str, Any], device: str | None, limit: Pending | None = None
) -> SessionTokens:
    """Every attempt is logged: `signed_in`, or `sign_in_refused` with the reason. `limit`: the
    client's sign-in limit, counted in the sign-in's own transaction (a refusal counts it in the
    write that spends the challenge): one call fewer than a count of its own at the edge."""
    try:
        tokens = _login(challenge_id=challenge_id, credential=credential, device=device, limit=limit)
    except DomainError as refused:
        if refused.code != "invalid_credential":  # those were logged with their precise reason
            log_event("sign_in_refused", reason=refused.code)
        emit("SignInRefused")
        raise
    emit("SignInSucceeded")
    return tokens


def _verified(
    credential: dict[str, Any], challenge: bytes, *, customer_id: str | None = None
) -> tuple[Passkey, Any]:
    """The stored passkey and py_webauthn's verification of this assertion, with our own rules:
    the user handle owns the credential, backup eligibility is unchanged, the counter does not go
    back (recorded as a security event). `customer_id` restricts it to that customer's passkeys."""
    from chalicelib.auth import ceremonies

    claimed = ceremonies.read_assertion(credential)
    try:
        stored = Passkey.get(*_passkey_key(claimed.credential_id), consistent_read=True)
    except Passkey.DoesNotExist:
        stored = None
    return _judged(credential, claimed, stored, challenge, customer_id=customer_id)


def _passkey_key(credential_id: str) -> tuple[str, str]:
    return f"CREDENTIAL#{credential_id}", "CREDENTIAL"


def _judged(
    credential: dict[str, Any],
    claimed: Any,
    found: Passkey | None,
    challenge: bytes,
    *,
    customer_id: str | None,
) -> tuple[Passkey, Any]:
    """`_verified`'s rules, on the passkey already read (None: unknown credential)."""
    from chalicelib.auth import ceremonies

    if found is None:
        raise _login_refused("unknown_credential")
    passkey = found
    if customer_id is not None and passkey.customer_id != customer_id:
        raise _login_refused("another_customers_passkey", customer_id=customer_id)
    # Usernameless: the user handle the authenticator returns must be the owner of this credential.
    if (
        claimed.user_handle is not None or customer_id is None
    ) and claimed.user_handle != passkey.user_handle:
        raise _login_refused("user_handle_mismatch", customer_id=passkey.customer_id)
    try:
        verified = ceremonies.verify_assertion(
            credential=credential, challenge=challenge, public_key=passkey.public_key
        )
    except Unauthenticated:
        log_event(
            "sign_in_refused", reason="invalid_assertion", customer_id=passkey.customer_id
        )  # the reason: webauthn_rejected
        raise
    if verified.backup_eligible != passkey.backup_eligible:
        raise _login_refused("backup_eligibility_changed", customer_id=passkey.customer_id)
    stored = int(passkey.sign_count)
    if (verified.sign_count or stored) and verified.sign_count <= stored:
        security_events.security_event(
            passkey.customer_id,
            security_events.SIGN_COUNT_REGRESSION,
            {"passkey_id": passkey.credential_id, "stored": stored, "presented": verified.sign_count},
        ).save()
        raise _login_refused("sign_count_regression", customer_id=passkey.customer_id)
    return passkey, verified


def _counter_update(passkey: Passkey, verified: Any) -> tuple[list[Any], Any]:
    """The passkey's new counter and last use, moving only from the value we judged."""
    actions = [
        Passkey.sign_count.set(verified.sign_count),
        Passkey.backed_up.set(verified.backed_up),
        Passkey.last_used_at.set(iso(now())),
    ]
    return actions, Passkey.sign_count == int(passkey.sign_count)


def confirm(*, customer_id: str, challenge: bytes, credential: dict[str, Any]) -> str:
    """Step-up: this customer confirmed with one of their passkeys (Face ID / fingerprint).
    Returns the passkey id. The challenge (already consumed by the caller) binds what is confirmed."""
    passkey, verified = _verified(credential, challenge, customer_id=customer_id)
    actions, condition = _counter_update(passkey, verified)
    try:
        passkey.update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise _login_refused("concurrent_sign_count_update", customer_id=customer_id) from None
        raise
    log_event("step_up_confirmed", customer_id=customer_id)
    return passkey.credential_id


def _login(
    *, challenge_id: str, credential: dict[str, Any], device: str | None, limit: Pending | None
) -> SessionTokens:
    """Two DynamoDB calls: the challenge and the passkey in one consistent BatchGetItem, then one
    transaction that counts the client's rate limit (`limit`; without it, the edge counted it in a
    call of its own), spends the challenge (conditions: still there, a sign-in one, unexpired),
    moves the sign count from the value judged, and opens the session with its security event.
    A refused attempt spends the challenge all the same, and is counted."""
    from chalicelib.auth import ceremonies

    try:
        claimed = ceremonies.read_assertion(credential)
    except DomainError:
        if limit is None:
            challenges.consume(challenge_id=challenge_id, purpose=challenges.LOGIN)  # unknown id: that error
        elif not _count_refusal(limit, challenge_id):
            raise challenges.not_found() from None  # unknown id: that error, as `consume` answers it
        raise
    keys = [challenges.key(challenge_id), _passkey_key(claimed.credential_id)]
    found = {(i.PK, i.SK): i for i in Item.batch_get(keys, consistent_read=True)}
    stored_challenge = found.get(keys[0])
    stored_passkey = found.get(keys[1])
    try:
        spent = challenges.accept(
            stored_challenge if isinstance(stored_challenge, Challenge) else None, purpose=challenges.LOGIN
        )
        passkey, verified = _judged(
            credential,
            claimed,
            stored_passkey if isinstance(stored_passkey, Passkey) else None,
            spent.challenge,
            customer_id=None,
        )
    except DomainError:
        if limit is not None:
            _count_refusal(limit, challenge_id if stored_challenge is not None else None)
        elif stored_challenge is not None:
            challenges.discard(challenge_id)
        raise
    session, tokens = sessions.new_session(
        customer_id=passkey.customer_id, device=device, passkey_id=passkey.credential_id
    )
    actions, condition = _counter_update(passkey, verified)
    try:
        with transaction() as tx:
            if limit is not None:
                # Over the limit, nothing is written: no session, the challenge left to expire.
                limit.count_in(tx)
            # Single use: of two sign-ins with this challenge, one transaction finds it.
            challenges.spend_in(tx, challenge_id, purpose=challenges.LOGIN)
            # The counter moves only from the value we judged: a concurrent sign-in loses.
            tx.update(passkey, actions=actions, condition=condition, label="sign_count")
            tx.save(session)
            tx.save(
                security_events.security_event(
                    passkey.customer_id,
                    security_events.NEW_SESSION,
                    {"session_id": tokens.session_id, "device": session.device},
                )
            )
    except ConditionsFailed as failed:
        if limit is not None and "rate_limit" in failed.labels:
            raise limit.refused() from None
        if "challenge" in failed.labels:  # `login` logs it, as every refusal with a code of its own
            if limit is not None:  # the cancelled transaction did not count this attempt
                _count_refusal(limit, None)
            raise challenges.not_found() from None
        if limit is not None:
            _count_refusal(limit, challenge_id)
        else:
            challenges.discard(challenge_id)
        raise _login_refused("concurrent_sign_count_update", customer_id=passkey.customer_id) from None
    log_event("signed_in", customer_id=passkey.customer_id, session=tokens.session_id)
    return tokens


def _count_refusal(limit: Pending, challenge_id: str | None) -> bool:
    """Count a refused sign-in against the client's limit, spending its challenge (if it was
    there) in the same transaction; over the limit, raise `limit.refused()` instead. Returns
    whether the challenge was there to spend. The challenge's delete is conditional (label
    "challenge"): a resend of this very transaction, after its answer was lost, then fails
    instead of counting twice; failing it (gone: used concurrently, or by that resend), the
    attempt is counted alone (at worst twice: never a refusal left uncounted)."""
    try:
        with transaction() as tx:
            limit.count_in(tx)
            if challenge_id is not None:
                tx.delete(
                    Challenge(*challenges.key(challenge_id)),
                    condition=Challenge.PK.exists(),
                    label="challenge",
                )
    except ConditionsFailed as failed:
        if "rate_limit" in failed.labels:
            raise limit.refused() from None
        _count_refusal(limit, None)
        return False
    return challenge_id is not None


# --- the customer's passkeys ---------------------------------------------------------------------


def _to_wire(p: Passkey) -> dict[str, Any]:
    return {
        "id": p.credential_id,
        "name": p.name,
        "created_at": p.created_at,
        "last_used_at": p.last_used_at,
        "backed_up": bool(p.backed_up),
        "device_bound": not p.backup_eligible,
        "transports": list(p.transports or []),
    }


def list_passkeys(*, customer_id: str) -> list[dict[str, Any]]:
    return [_to_wire(p) for p in _passkeys_of(customer_id)]


def name_of(*, customer_id: str, passkey_id: str) -> str:
    """The name of one of the caller's passkeys (404 for anyone else's)."""
    return str(_owned(customer_id, passkey_id).name)


def _owned(customer_id: str, passkey_id: str) -> Passkey:
    try:
        passkey = Passkey.get(f"CREDENTIAL#{passkey_id}", "CREDENTIAL", consistent_read=True)
    except Passkey.DoesNotExist:
        raise NotFound("No such passkey.", code="passkey_not_found") from None
    if passkey.customer_id != customer_id:
        log_event("access_refused", customer_id=customer_id, object="passkey")
        raise NotFound("No such passkey.", code="passkey_not_found")
    return passkey


def rename(*, customer_id: str, passkey_id: str, name: str) -> dict[str, Any]:
    passkey = _owned(customer_id, passkey_id)
    try:
        passkey.update(actions=[Passkey.name.set(name.strip())], condition=Passkey.customer_id == customer_id)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise NotFound("No such passkey.", code="passkey_not_found") from None
        raise
    return _to_wire(passkey)


def remove(*, customer_id: str, passkey_id: str) -> None:
    """Delete a passkey (never the last one) and end the sessions it opened."""
    passkey = _owned(customer_id, passkey_id)
    try:
        with transaction() as tx:
            tx.delete(passkey, condition=Passkey.customer_id == customer_id, label="owner")
            # Counted in the same transaction, so two concurrent deletes cannot remove the last two.
            tx.update(
                Customer(customer_pk(customer_id), "PROFILE"),
                actions=[
                    Customer.passkey_count.add(-1),
                    *([Customer.synced_passkey_count.add(-1)] if passkey.backup_eligible else []),
                ],
                condition=Customer.passkey_count > 1,
                label="not_last",
            )
            tx.save(
                security_events.security_event(
                    customer_id,
                    security_events.PASSKEY_REMOVED,
                    {"passkey_id": passkey_id, "name": passkey.name},
                )
            )
    except ConditionsFailed as failed:
        if "owner" in failed.labels:
            raise NotFound("No such passkey.", code="passkey_not_found") from None
        raise Conflict(
            "This is your last passkey: add another one before removing it, or you could not sign in.",
            code="last_passkey",
        ) from None
    sessions.revoke_sessions_of_passkey(customer_id=customer_id, passkey_id=passkey_id)
    log_event("passkey_removed", customer_id=customer_id)


# For a service that verifies a step-up on what it read itself, in its own transaction
# (billing/payments.py: the payment's one read and one write).
passkey_key = _passkey_key
judged = _judged
counter_update = _counter_update
refused = _login_refused
