"""Step-up: a fresh passkey confirmation bound to one exact change, on a live session.

A stolen access token must not become a stolen account. So every change that could hand the
account to someone else (a new or removed passkey, new contact details, payment methods, autopay)
or spend the customer's money (an option bought, or removed, in the app) or cut the customer's
line (suspended for a lost or stolen phone, or restored) takes two calls, as
payments do:

1. `begin` answers WebAuthn request options whose challenge is SHA-256(random || binding), where
   the binding is the canonical JSON of the action, its exact parameters and the session asking;
   plus a statement, in the customer's language, of what will change.
2. The change itself carries `confirmation: {challenge_id, credential}`; `confirm` consumes the
   challenge (single use), checks that it was issued for this customer, this session and this
   exact change, checks that the session is still live, and verifies the assertion with one of the
   customer's own passkeys (user verification required).

Another change, another session, another customer's passkey or a replay: 401 `step_up_mismatch`
or `challenge_not_found`, and nothing changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from chalicelib.auth import challenges, passkeys
from chalicelib.errors import Unauthenticated
from chalicelib.observability.log import log_event
from chalicelib.store.models import Customer, customer_pk

__all__ = ["ACTIONS", "StepUpOptions", "begin", "binding_for", "confirm", "describe", "masked"]

# action → (what the customer is asked to confirm, fr / en). `{detail}` is filled from the params.
ACTIONS: dict[str, tuple[str, str]] = {
    "passkey.add": (
        "Confirmez pour ajouter une nouvelle clé d'accès à votre compte.",
        "Confirm to add a new passkey to your account.",
    ),
    "passkey.remove": (
        "Confirmez pour supprimer la clé d'accès « {detail} » et fermer ses sessions.",
        "Confirm to remove the passkey \u201c{detail}\u201d and end its sessions.",
    ),
    "profile.update": (
        "Confirmez pour modifier vos coordonnées : {detail}.",
        "Confirm to change your contact details: {detail}.",
    ),
    "payment_method.add": (
        "Confirmez pour enregistrer une nouvelle carte de paiement.",
        "Confirm to save a new payment card.",
    ),
    "payment_method.remove": (
        "Confirmez pour supprimer la carte {detail}.",
        "Confirm to remove the card {detail}.",
    ),
    "payment_method.default": (
        "Confirmez pour payer désormais avec la carte {detail}.",
        "Confirm to pay with the card {detail} from now on.",
    ),
    "autopay.set": (
        "Confirmez pour {detail} le paiement automatique de vos factures.",
        "Confirm to {detail} automatic payment of your bills.",
    ),
    "call_code": (
        "Confirmez pour obtenir un code à donner au conseiller qui vous répondra au téléphone.",
        "Confirm to get a code to give the adviser who answers your call.",
    ),
    # Bound to {line_id, option_id, amount, currency}: the price shown is the price confirmed.
    "option.buy": (
        "Confirmez l'achat de {detail} sur votre ligne, ajouté à votre prochaine facture.",
        "Confirm buying {detail} for your line, added to your next bill.",
    ),
    "option.remove": (
        "Confirmez pour retirer {detail} de votre ligne à la fin du cycle en cours.",
        "Confirm to remove {detail} from your line at the end of the current cycle.",
    ),
    # Bound to {line_id, reason}: a confirmation to suspend for loss does not suspend for theft.
    "line.suspend": (
        "Confirmez pour suspendre tout de suite la ligne {detail} : appels, SMS et données s'arrêtent.",
        "Confirm to suspend the line {detail} now: calls, texts and data stop.",
    ),
    "line.restore": (
        "Confirmez pour réactiver la ligne {detail}.",
        "Confirm to restore the line {detail}.",
    ),
    # Abroad: bound to {line_id, amount} or {line_id, lifted}: the limit shown is the limit set.
    "roaming.limit": (
        "Confirmez le plafond de dépense internet à l'étranger de la ligne {detail}.",
        "Confirm the roaming data spending limit of the line {detail}.",
    ),
    # Cannot pay: bound to {balance, currency, instalments: [{date, amount}]}: the schedule
    # shown is the schedule charged.
    "arrangement.create": (
        "Confirmez l'échéancier de votre solde impayé : {detail}, prélevés sur votre carte par défaut.",
        "Confirm the payment arrangement of your overdue balance: {detail}, charged to your default card.",
    ),
    # Closure: bound to the effective date the preview showed (privacy/closure.py).
    "account.close": (
        "Confirmez la fermeture de votre compte, effective le {detail} : vos données seront ensuite effacées, sauf vos factures gardées 10 ans.",
        "Confirm closing your account, effective on {detail}: your data is then erased, except your bills, kept 10 years.",
    ),
    "account.close_cancel": (
        "Confirmez pour annuler la fermeture de votre compte prévue le {detail}.",
        "Confirm to cancel your account's closure planned on {detail}.",
    ),
}


@dataclass(frozen=True)
class StepUpOptions:
    challenge_id: str
    options: dict[str, Any]
    action: str
    statement: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "challenge_id": self.challenge_id,
            "options": self.options,
            "transaction": {"action": self.action, "statement": self.statement},
        }


def binding_for(*, action: str, params: dict[str, Any], session_id: str) -> str:
    """What a step-up challenge commits to: the SHA-256 of the canonical JSON of the action, its
    exact parameters and the session (a digest, so no contact detail or provider token is stored)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown step-up action {action!r}")
    canonical = json.dumps(
        {"action": action, "params": params, "session": session_id}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def begin(*, customer_id: str, session_id: str, action: str, params: dict[str, Any]) -> StepUpOptions:
    """Issue the challenge for this exact change, with a statement of it in the customer's language.
    The edge has checked that the session is live (one read per request, not one per step)."""
    detail = describe(customer_id=customer_id, action=action, params=params)
    try:
        language = Customer.get(customer_pk(customer_id), "PROFILE").language or "fr"
    except Customer.DoesNotExist:
        raise Unauthenticated("This session has ended; sign in again.", code="session_revoked") from None
    bound = binding_for(action=action, params=params, session_id=session_id)
    issued = challenges.issue(purpose=challenges.STEP_UP, customer_id=customer_id, binding=bound)
    fr, en = ACTIONS[action]
    text = fr if language == "fr" else en
    statement = text.format(detail=detail.get(language, ""))
    return StepUpOptions(
        challenge_id=issued.challenge_id,
        options=passkeys.step_up_options(customer_id=customer_id, challenge=issued.challenge),
        action=action,
        statement=statement,
    )


def describe(*, customer_id: str, action: str, params: dict[str, Any]) -> dict[str, str]:
    """The statement's detail per language, read from the caller's own objects (404 for anyone
    else's, so a step-up cannot be asked about another customer's passkey or card)."""
    if action == "passkey.remove":
        name = passkeys.name_of(customer_id=customer_id, passkey_id=params["passkey_id"])
        return {"fr": name, "en": name}
    if action in ("payment_method.remove", "payment_method.default"):
        from chalicelib.billing import methods

        method = methods.get_owned(customer_id, params["payment_method_id"])
        card = f"{method.brand} \u2022\u2022\u2022\u2022 {method.last4}"
        return {"fr": card, "en": card}
    if action in ("option.buy", "option.remove"):
        from chalicelib.purchases import service as purchases

        return purchases.describe(customer_id=customer_id, action=action, params=params)
    if action == "arrangement.create":
        from chalicelib.billing import arrangements

        return arrangements.describe(params=params)
    if action in ("line.suspend", "line.restore"):
        from chalicelib.account import suspension

        return suspension.describe(customer_id=customer_id, action=action, params=params)
    if action in ("account.close", "account.close_cancel"):  # Closure
        from chalicelib.privacy import closure

        return closure.describe(params=params)
    if action == "roaming.limit":
        from chalicelib.account import roaming

        return roaming.describe(customer_id=customer_id, params=params)
    if action == "autopay.set":
        return {
            "fr": "activer" if params["enabled"] else "désactiver",
            "en": "turn on" if params["enabled"] else "turn off",
        }
    if action == "profile.update":
        changes = params["changes"]
        names = {
            "email": ("e-mail", "email"),
            "phone": ("téléphone", "phone"),
            "postal_address": ("adresse postale", "postal address"),
        }
        fr = ", ".join(f"{names[k][0]} → {masked(k, v)}" for k, v in changes.items())
        en = ", ".join(f"{names[k][1]} → {masked(k, v)}" for k, v in changes.items())
        return {"fr": fr, "en": en}
    return {}


def masked(field: str, value: Any) -> str:
    """Enough of a new contact detail for its owner to recognise it, not for a passer-by."""
    if field == "email":
        local, _, domain = str(value).partition("@")
        return f"{local[:1]}\u2022\u2022\u2022@{domain}"
    if field == "phone":
        return "\u2022\u2022\u2022 " + str(value)[-2:]
    return (
        f"{value.get('postal_code', '')} {value.get('city', '')}".strip()
        if isinstance(value, dict)
        else "\u2022\u2022\u2022"
    )


def confirm(
    *,
    customer_id: str,
    session_id: str,
    action: str,
    params: dict[str, Any],
    challenge_id: str,
    credential: dict[str, Any],
) -> str:
    """The customer confirmed exactly this change on this session (which the edge has just checked is
    live); returns the passkey used."""
    spent = challenges.consume(challenge_id=challenge_id, purpose=challenges.STEP_UP)
    expected = binding_for(action=action, params=params, session_id=session_id)
    if spent.customer_id != customer_id or spent.binding != expected:
        log_event(
            "step_up_refused", customer_id=customer_id, action=action, reason="challenge_for_another_change"
        )
        raise Unauthenticated(
            "This confirmation was for another change: confirm this one again.", code="step_up_mismatch"
        )
    passkey_id = passkeys.confirm(customer_id=customer_id, challenge=spent.challenge, credential=credential)
    log_event("step_up_used", customer_id=customer_id, action=action)
    return passkey_id
