"""The ownership sweep: for every route of the contract with an object id in its path, another
customer's token gets 404 (never 403: ids leak nothing) and changes nothing. Driven by the spec: a
new route with an id fails this test until it is added to SWEEP."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((ROOT / "mobile_contract" / "openapi.yaml").read_text())

# Deliberate exceptions, with the reason.
EXEMPT = {
    (
        "PUT",
        "/me/devices/{installation_id}",
    ): "an installation follows the account that registers it (a phone that changed hands); "
    "the caller receives its own alerts there, never the previous owner's data",
}


def _victim(api: Any, app_module: Any, enrol: Callable[..., Any]) -> dict[str, Any]:
    from chalicelib.notifications import inbox
    from devtools.soft_authenticator import SoftAuthenticator
    from tests.bidding.conftest import offer_event
    from tests.billing.conftest import bill_document

    owner = enrol()
    token, number, customer_id = owner.token, owner.customer["customer_number"], owner.customer["customer_id"]
    # A second passkey, so that a broken ownership check on DELETE would really delete one.
    from tests.support.stepup import add_card, confirmation

    options = api.post(
        "/auth/passkeys/register/options",
        {"confirmation": confirmation(api, owner, "passkey.add")},
        token=token,
    )
    second = SoftAuthenticator()
    assert (
        api.post(
            "/auth/passkeys/register/verify",
            {
                "challenge_id": options.body["challenge_id"],
                "credential": second.create(options.body["options"]),
                "name": "Tablet",
            },
        ).status
        == 201
    )
    catalogue = json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text())
    app_module.admin_upsert_catalog(catalogue, None)
    line_id = "ln_" + secrets.token_hex(6)
    assert "error" not in app_module.admin_set_line(
        {
            "customer_number": number,
            "line_id": line_id,
            "msisdn": "+33611111111",
            "plan_id": "essentiel-20",
            "anchor_day": 1,
        },
        None,
    )
    document = bill_document(number)
    app_module.import_bills({"bills": [document]}, None)
    method = add_card(api, owner).body["payment_method_id"]
    installation = "fid" + secrets.token_hex(8)
    assert (
        api.request(
            "PUT",
            f"/me/devices/{installation}",
            {"fcm_token": "t" * 20, "platform": "ios", "app_version": "1.0", "locale": "fr"},
            token=token,
        ).status
        == 200
    )
    alert = inbox.notify(
        customer_id=customer_id,
        kind="service.announcement",
        data={"announcement_id": "a1", "message_fr": "x", "message_en": "x"},
        dedup_key="sweep:" + uuid.uuid4().hex,
    ).alert_id
    segment = "only-" + secrets.token_hex(4)
    app_module.admin_set_segments({"customer_number": number, "segments": [segment]}, None)
    offer_id = app_module.admin_create_offer(offer_event(eligibility={"segments": [segment]}), None)[
        "offer_id"
    ]
    passkeys = api.get("/me/passkeys", token=token).body["passkeys"]
    return {
        "token": token,
        "passkey_id": passkeys[0]["id"],
        "session_id": api.get("/me/sessions", token=token).body["sessions"][0]["session_id"],
        "offer_id": offer_id,
        "installation_id": installation,
        "alert_id": alert,
        "line_id": line_id,
        "bill_id": document["bill_id"],
        "payment_method_id": method,
    }


def _state(api: Any, v: dict[str, Any]) -> dict[str, Any]:
    """What an intruder could have changed, as the owner sees it."""
    token = v["token"]
    return {
        "passkeys": api.get("/me/passkeys", token=token).body,
        "sessions": [s["session_id"] for s in api.get("/me/sessions", token=token).body["sessions"]],
        "devices": [d["installation_id"] for d in api.get("/me/devices", token=token).body["devices"]],
        "unread": api.get("/me/inbox/unread-count", token=token).body,
        "line": api.get(f"/lines/{v['line_id']}", token=token).body["plan"],
        "requests": api.get("/me/requests", token=token).body,
        "bill": api.get(f"/bills/{v['bill_id']}", token=token).body,
        "methods": api.get("/me/payment-methods", token=token).body,
        "offer": api.get(f"/offers/{v['offer_id']}", token=token).body["my_bid"],
    }


def _calls(v: dict[str, Any], intruder_method: str) -> dict[tuple[str, str], tuple[str, Any, dict[str, str]]]:
    """Every operation with a path id: (method, template) → (the victim's object's path, body, headers)."""
    pay = {"amount": 100, "payment_method_id": intruder_method}
    confirmed = {**pay, "challenge_id": "chl_" + "0" * 32, "credential": {"id": "x"}}
    return {
        ("PATCH", "/me/passkeys/{passkey_id}"): (f"/me/passkeys/{v['passkey_id']}", {"name": "pwned"}, {}),
        ("DELETE", "/me/passkeys/{passkey_id}"): (f"/me/passkeys/{v['passkey_id']}", None, {}),
        ("DELETE", "/me/sessions/{session_id}"): (f"/me/sessions/{v['session_id']}", None, {}),
        ("GET", "/offers/{offer_id}"): (f"/offers/{v['offer_id']}", None, {}),
        ("POST", "/offers/{offer_id}/bid/challenge"): (
            f"/offers/{v['offer_id']}/bid/challenge",
            {"amount": 2000, "payment_method_id": intruder_method},
            {},
        ),
        ("PUT", "/offers/{offer_id}/bid"): (
            f"/offers/{v['offer_id']}/bid",
            {**confirmed, "amount": 2000},
            {},
        ),
        ("DELETE", "/offers/{offer_id}/bid"): (f"/offers/{v['offer_id']}/bid", None, {}),
        ("DELETE", "/me/devices/{installation_id}"): (f"/me/devices/{v['installation_id']}", None, {}),
        ("POST", "/me/inbox/{alert_id}/read"): (f"/me/inbox/{v['alert_id']}/read", None, {}),
        ("GET", "/lines/{line_id}"): (f"/lines/{v['line_id']}", None, {}),
        ("GET", "/lines/{line_id}/usage"): (f"/lines/{v['line_id']}/usage", None, {}),
        ("GET", "/lines/{line_id}/usage/daily"): (
            f"/lines/{v['line_id']}/usage/daily?from=2026-11-01&to=2026-11-10",
            None,
            {},
        ),
        ("GET", "/lines/{line_id}/plan-change/preview"): (
            f"/lines/{v['line_id']}/plan-change/preview?plan_id=premium-100",
            None,
            {},
        ),
        ("POST", "/lines/{line_id}/plan-change"): (
            f"/lines/{v['line_id']}/plan-change",
            {"plan_id": "premium-100", "preview_token": "pcp_" + "0" * 32},
            {},
        ),
        ("GET", "/bills/{bill_id}"): (f"/bills/{v['bill_id']}", None, {}),
        ("POST", "/bills/{bill_id}/payments/challenge"): (
            f"/bills/{v['bill_id']}/payments/challenge",
            pay,
            {},
        ),
        ("POST", "/bills/{bill_id}/payments"): (
            f"/bills/{v['bill_id']}/payments",
            confirmed,
            {"Idempotency-Key": str(uuid.uuid4())},
        ),
        ("DELETE", "/me/payment-methods/{payment_method_id}"): (
            f"/me/payment-methods/{v['payment_method_id']}",
            None,
            {},
        ),
        ("POST", "/me/payment-methods/{payment_method_id}/default"): (
            f"/me/payment-methods/{v['payment_method_id']}/default",
            None,
            {},
        ),
    }


def test_every_route_with_an_id_is_swept():
    with_ids = {
        (m.upper(), path)
        for path, item in SPEC["paths"].items()
        if "{" in path
        for m in item
        if m in ("get", "post", "put", "patch", "delete")
    }
    swept = set(
        _calls(
            {
                k: "x"
                for k in (
                    "passkey_id",
                    "session_id",
                    "offer_id",
                    "installation_id",
                    "alert_id",
                    "line_id",
                    "bill_id",
                    "payment_method_id",
                )
            },
            "pm_x",
        )
    )
    assert with_ids == swept | set(EXEMPT), (with_ids - swept - set(EXEMPT), swept - with_ids)


def test_another_customers_token_gets_404_and_changes_nothing(api, app_module, enrol):
    victim = _victim(api, app_module, enrol)
    intruder = enrol()
    from tests.support.stepup import add_card

    intruder_method = add_card(api, intruder).body["payment_method_id"]
    before = _state(api, victim)
    for (method, template), (path, body, headers) in _calls(victim, intruder_method).items():
        answer = api.request(method, path, body, token=intruder.token, headers=headers)
        assert answer.status == 404, (method, template, answer.status, answer.body)
    assert _state(api, victim) == before
