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
