"""The app's side of a step-up: ask `POST /me/step-up` for one change, confirm with the passkey."""

from __future__ import annotations

from typing import Any


def confirmation(
    api: Any,
    enrolled: Any,
    action: str,
    *,
    authenticator: Any = None,
    token: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """A `confirmation` for exactly this change, signed by `authenticator` (the enrolled phone)."""
    started = api.post("/me/step-up", {"action": action, **params}, token=token or enrolled.token)
    assert started.status == 200, started.body
    credential = (authenticator or enrolled.authenticator).get(started.body["options"])
    return {"challenge_id": started.body["challenge_id"], "credential": credential}


def add_card(api: Any, enrolled: Any, provider_token: str = "tok_visa", *, label: str | None = None) -> Any:
    """`POST /me/payment-methods` as the app does it: step-up for this token, then the add."""
    body: dict[str, Any] = {"provider_token": provider_token, **({"label": label} if label else {})}
    body["confirmation"] = confirmation(api, enrolled, "payment_method.add", provider_token=provider_token)
    return api.post("/me/payment-methods", body, token=enrolled.token)


def remove_card(api: Any, enrolled: Any, method_id: str) -> Any:
    confirmed = confirmation(api, enrolled, "payment_method.remove", payment_method_id=method_id)
    return api.delete(f"/me/payment-methods/{method_id}", {"confirmation": confirmed}, token=enrolled.token)


def make_default(api: Any, enrolled: Any, method_id: str) -> Any:
    confirmed = confirmation(api, enrolled, "payment_method.default", payment_method_id=method_id)
    return api.post(
        f"/me/payment-methods/{method_id}/default", {"confirmation": confirmed}, token=enrolled.token
    )


def set_autopay(api: Any, enrolled: Any, enabled: bool) -> Any:
    confirmed = confirmation(api, enrolled, "autopay.set", enabled=enabled)
    return api.put("/me/autopay", {"enabled": enabled, "confirmation": confirmed}, token=enrolled.token)


def session_id_of(enrolled: Any) -> str:
    """The session behind `enrolled.token` (the refresh token is `<customer>.<session>.<secret>`)."""
    return str(enrolled.session["refresh_token"].split(".")[1])


def signed_confirmation(enrolled: Any, binding: str, *, authenticator: Any = None) -> dict[str, Any]:
    """A real confirmation of `enrolled` (a live challenge issued to this customer, signed by their
    passkey) committing to `binding`, minted through the services rather than a route: for a change
    the routes would never confirm, such as one on another customer's object, so that a test can
    show that nothing but the ownership check stands in the way."""
    from chalicelib.auth import challenges, passkeys

    customer_id = enrolled.customer["customer_id"]
    issued = challenges.issue(purpose=challenges.STEP_UP, customer_id=customer_id, binding=binding)
    options = passkeys.step_up_options(customer_id=customer_id, challenge=issued.challenge)
    credential = (authenticator or enrolled.authenticator).get(options)
    return {"challenge_id": issued.challenge_id, "credential": credential}


def step_up_confirmation(enrolled: Any, action: str, **params: Any) -> dict[str, Any]:
    """`signed_confirmation` for a step-up action, bound exactly as `POST /me/step-up` binds it
    (action, parameters, the caller's session)."""
    from chalicelib.auth import stepup

    bound = stepup.binding_for(action=action, params=params, session_id=session_id_of(enrolled))
    return signed_confirmation(enrolled, bound)


def challenge_left(challenge_id: str) -> bool:
    """Whether the challenge is still in the table, unspent (read consistently)."""
    from chalicelib.auth import challenges
    from chalicelib.store.models import Challenge

    try:
        Challenge.get(*challenges.key(challenge_id), consistent_read=True)
    except Challenge.DoesNotExist:
        return False
    return True
