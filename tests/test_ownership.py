"""The ownership sweep: for every route of the contract with an object id in its path, another
customer's token gets 404 (never 403: ids leak nothing) and changes nothing. Driven by the spec: a
new route with an id fails this test until it is added to SWEEP."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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
    # Help content is public (signed out too): nobody owns an article or a situation; a vote is
    # the caller's own (one per customer or device).
    ("GET", "/help/articles/{article_id}"): "public help content",
    ("POST", "/help/articles/{article_id}/votes"): "a vote is the caller's own",
    ("GET", "/help/situations/{situation}"): "public help content",
}


def _arrangement(api: Any, app_module: Any, owner: Any) -> str:
    """Cannot pay: an overdue bill of the owner's, spread over an arrangement (the app's flow)."""
    from datetime import date, timedelta

    from tests.billing.conftest import bill_document
    from tests.support.stepup import confirmation

    late = bill_document(owner.customer["customer_number"], due=date.today() - timedelta(days=3))
    app_module.import_bills({"bills": [late]}, None)
    shown = api.get("/me/arrangements/preview?instalments=1", token=owner.token).body
    step_up = dict(shown["step_up"])
    made = api.post(
        "/me/arrangements",
        {
            "instalments": 1,
            "balance": shown["balance"]["amount"],
            "confirmation": confirmation(api, owner, step_up.pop("action"), **step_up),
        },
        token=owner.token,
    )
    assert made.status == 201, made.body
    return str(made.body["arrangement_id"])


def _second_passkey(api: Any, enrolled: Any) -> Any:
    """Enrol another passkey for `enrolled` (a `passkey.add` step-up); returns its authenticator."""
    from devtools.soft_authenticator import SoftAuthenticator
    from tests.support.stepup import confirmation

    options = api.post(
        "/auth/passkeys/register/options",
        {"confirmation": confirmation(api, enrolled, "passkey.add")},
        token=enrolled.token,
    )
    assert options.status == 200, options.body
    second = SoftAuthenticator()
    verify = api.post(
        "/auth/passkeys/register/verify",
        {
            "challenge_id": options.body["challenge_id"],
            "credential": second.create(options.body["options"]),
            "name": "Tablet",
        },
    )
    assert verify.status == 201, verify.body
    return second


def _victim(api: Any, app_module: Any, enrol: Callable[..., Any]) -> dict[str, Any]:
    from chalicelib.notifications import inbox
    from tests.bidding.conftest import offer_event
    from tests.billing.conftest import bill_document
    from tests.support.stepup import add_card

    owner = enrol()
    token, number, customer_id = owner.token, owner.customer["customer_number"], owner.customer["customer_id"]
    _second_passkey(api, owner)  # so that a broken ownership check on DELETE would really delete one
    catalogue = json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text())
    app_module.admin_upsert_catalog(catalogue, None)
    line_id = "ln_" + secrets.token_hex(6)
    assert "error" not in app_module.admin_set_line(
        {
            "customer_number": number,
            "line_id": line_id,
            "msisdn": "+33611111111",
            "plan_id": "essentiel-20",
            "option_ids": ["data-plus-5"],  # so that a broken check on its removal would remove it
            "anchor_day": 1,
        },
        None,
    )
    document = bill_document(number)
    app_module.import_bills({"bills": [document]}, None)
    method = add_card(api, owner).body["payment_method_id"]
    arrangement_id = _arrangement(api, app_module, owner)  # Cannot pay
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
    case = api.post(
        "/me/cases",
        {"origin": {"kind": "general"}, "message": "Mon cas."},
        token=token,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert case.status == 201, case.body
    upload = api.post(
        f"/me/cases/{case.body['case_id']}/documents/upload", {"content_type": "image/png"}, token=token
    )
    assert upload.status == 201, upload.body
    return {
        "case_id": case.body["case_id"],
        "upload_id": upload.body["upload_id"],
        "token": token,
        "passkey_id": passkeys[0]["id"],
        "session_id": api.get("/me/sessions", token=token).body["sessions"][0]["session_id"],
        "offer_id": offer_id,
        "installation_id": installation,
        "alert_id": alert,
        "line_id": line_id,
        "bill_id": document["bill_id"],
        "payment_method_id": method,
        "arrangement_id": arrangement_id,  # Cannot pay
        # Privacy: an export still preparing is the owner's all the same
        "export_id": api.post("/me/data-export", token=token).body["export_id"],
    }


def _state(api: Any, v: dict[str, Any]) -> dict[str, Any]:
    """What an intruder could have changed, as the owner sees it."""
    token = v["token"]
    return {
        "passkeys": api.get("/me/passkeys", token=token).body,
        "sessions": [s["session_id"] for s in api.get("/me/sessions", token=token).body["sessions"]],
        "devices": [d["installation_id"] for d in api.get("/me/devices", token=token).body["devices"]],
        "unread": api.get("/me/inbox/unread-count", token=token).body,
        "line": api.get(f"/lines/{v['line_id']}", token=token).body,
        "usage": api.get(f"/lines/{v['line_id']}/usage", token=token).body["allowances"],
        "requests": api.get("/me/requests", token=token).body,
        "bill": api.get(f"/bills/{v['bill_id']}", token=token).body,
        "methods": api.get("/me/payment-methods", token=token).body,
        "offer": api.get(f"/offers/{v['offer_id']}", token=token).body["my_bid"],
        "case": api.get(f"/me/cases/{v['case_id']}", token=token).body,
        "arrangements": api.get("/me/arrangements", token=token).body,  # Cannot pay
    }


@dataclass
class Intruder:
    """Another customer, signed in, with a card of their own."""

    enrolled: Any
    method_id: str

    @property
    def token(self) -> str:
        return str(self.enrolled.token)


Call = tuple[str, Any, dict[str, str]]  # the victim's object's path, the body, the headers


def _calls(v: dict[str, Any], intruder: Intruder) -> dict[tuple[str, str], Callable[[], Call]]:
    """Every operation with a path id: (method, template) → what the intruder sends, built when
    sent. A body that takes a confirmation carries a real one of the intruder's (a live challenge
    issued to them, signed by their passkey) committing to exactly this change on the victim's
    object: the only thing wrong with the request is whose object it is, so the 404 can only come
    from the ownership check (never `challenge_not_found` nor `step_up_mismatch`)."""
    from chalicelib.bidding import bids
    from chalicelib.billing import payments
    from tests.support.stepup import signed_confirmation, step_up_confirmation

    method = intruder.method_id

    def bid() -> Call:
        # The victim's line too: nothing of the intruder's own could make the bid go through.
        binding = bids.binding(
            offer_id=v["offer_id"], amount=2000, currency="EUR", method_id=method, line_id=v["line_id"]
        )
        confirmed = signed_confirmation(intruder.enrolled, binding)
        body = {"amount": 2000, "payment_method_id": method, "line_id": v["line_id"], **confirmed}
        return f"/offers/{v['offer_id']}/bid", body, {}

    def payment() -> Call:
        binding = payments.binding(bill_id=v["bill_id"], amount=100, currency="EUR", method_id=method)
        confirmed = signed_confirmation(intruder.enrolled, binding)
        body = {"amount": 100, "payment_method_id": method, **confirmed}
        return f"/bills/{v['bill_id']}/payments", body, {"Idempotency-Key": str(uuid.uuid4())}

    def confirmed(path: str, action: str, **params: Any) -> Callable[[], Call]:
        return lambda: (
            path,
            {"confirmation": step_up_confirmation(intruder.enrolled, action, **params)},
            {},
        )

    def plain(path: str, body: Any = None) -> Callable[[], Call]:
        return lambda: (path, body, {})

    pk, pm, case, line = v["passkey_id"], v["payment_method_id"], v["case_id"], v["line_id"]
    return {
        ("PATCH", "/me/passkeys/{passkey_id}"): plain(f"/me/passkeys/{pk}", {"name": "pwned"}),
        ("DELETE", "/me/passkeys/{passkey_id}"): confirmed(
            f"/me/passkeys/{pk}", "passkey.remove", passkey_id=pk
        ),
        ("DELETE", "/me/sessions/{session_id}"): plain(f"/me/sessions/{v['session_id']}"),
        ("GET", "/offers/{offer_id}"): plain(f"/offers/{v['offer_id']}"),
        ("POST", "/offers/{offer_id}/bid/challenge"): plain(
            f"/offers/{v['offer_id']}/bid/challenge",
            {"amount": 2000, "payment_method_id": method, "line_id": v["line_id"]},
        ),
        ("PUT", "/offers/{offer_id}/bid"): bid,
        ("DELETE", "/offers/{offer_id}/bid"): plain(f"/offers/{v['offer_id']}/bid"),
        ("DELETE", "/me/devices/{installation_id}"): plain(f"/me/devices/{v['installation_id']}"),
        ("POST", "/me/inbox/{alert_id}/read"): plain(f"/me/inbox/{v['alert_id']}/read"),
        ("GET", "/lines/{line_id}"): plain(f"/lines/{v['line_id']}"),
        ("GET", "/lines/{line_id}/usage"): plain(f"/lines/{v['line_id']}/usage"),
        ("GET", "/lines/{line_id}/usage/daily"): plain(
            f"/lines/{v['line_id']}/usage/daily?from=2026-11-01&to=2026-11-10"
        ),
        ("GET", "/lines/{line_id}/plan-change/preview"): plain(
            f"/lines/{v['line_id']}/plan-change/preview?plan_id=premium-100"
        ),
        # A preview token is the proof of a preview of this line by this customer: an unknown one is
        # where the service looks at whose line it is (a real one for another line is a 400
        # preview_mismatch, whoever owns the line).
        ("POST", "/lines/{line_id}/plan-change"): plain(
            f"/lines/{v['line_id']}/plan-change",
            {"plan_id": "premium-100", "preview_token": "pcp_" + "0" * 32},
        ),
        ("GET", "/lines/{line_id}/catalog"): plain(f"/lines/{line}/catalog"),
        ("GET", "/lines/{line_id}/options/{option_id}/preview"): plain(
            f"/lines/{line}/options/data-recharge-2/preview"
        ),
        # As for plan changes, the preview token is where the service looks at whose line it is;
        # the confirmation is the intruder's own, for exactly this purchase on the victim's line.
        ("POST", "/lines/{line_id}/options"): lambda: (
            f"/lines/{line}/options",
            {
                "option_id": "data-recharge-2",
                "preview_token": "opp_" + "0" * 32,
                "confirmation": step_up_confirmation(
                    intruder.enrolled,
                    "option.buy",
                    line_id=line,
                    option_id="data-recharge-2",
                    amount=300,
                    currency="EUR",
                ),
            },
            {"Idempotency-Key": str(uuid.uuid4())},
        ),
        ("GET", "/lines/{line_id}/options/{option_id}/removal/preview"): plain(
            f"/lines/{line}/options/data-plus-5/removal/preview"
        ),
        ("POST", "/lines/{line_id}/options/{option_id}/removal"): lambda: (
            f"/lines/{line}/options/data-plus-5/removal",
            {
                "preview_token": "orp_" + "0" * 32,
                "confirmation": step_up_confirmation(
                    intruder.enrolled, "option.remove", line_id=line, option_id="data-plus-5"
                ),
            },
            {},
        ),
        # The intruder's own confirmation, for exactly this suspension (or restore) of the victim's line.
        ("POST", "/lines/{line_id}/suspension"): lambda: (
            f"/lines/{line}/suspension",
            {
                "reason": "stolen",
                "confirmation": step_up_confirmation(
                    intruder.enrolled, "line.suspend", line_id=line, reason="stolen"
                ),
            },
            {},
        ),
        ("POST", "/lines/{line_id}/suspension/removal"): lambda: (
            f"/lines/{line}/suspension/removal",
            {"confirmation": step_up_confirmation(intruder.enrolled, "line.restore", line_id=line)},
            {},
        ),
        # Abroad: the intruder's own confirmation, for exactly this limit on the victim's line.
        ("GET", "/lines/{line_id}/roaming"): plain(f"/lines/{line}/roaming"),
        ("PUT", "/lines/{line_id}/roaming/data-limit"): lambda: (
            f"/lines/{line}/roaming/data-limit",
            {
                "lifted": True,
                "confirmation": step_up_confirmation(
                    intruder.enrolled, "roaming.limit", line_id=line, lifted=True
                ),
            },
            {},
        ),
        ("GET", "/bills/{bill_id}"): plain(f"/bills/{v['bill_id']}"),
        ("POST", "/bills/{bill_id}/payments/challenge"): plain(
            f"/bills/{v['bill_id']}/payments/challenge", {"amount": 100, "payment_method_id": method}
        ),
        ("POST", "/bills/{bill_id}/payments"): payment,
        ("DELETE", "/me/payment-methods/{payment_method_id}"): confirmed(
            f"/me/payment-methods/{pm}", "payment_method.remove", payment_method_id=pm
        ),
        ("POST", "/me/payment-methods/{payment_method_id}/default"): confirmed(
            f"/me/payment-methods/{pm}/default", "payment_method.default", payment_method_id=pm
        ),
        ("GET", "/me/cases/{case_id}"): plain(f"/me/cases/{case}"),
        ("POST", "/me/cases/{case_id}/messages"): plain(f"/me/cases/{case}/messages", {"message": "x"}),
        ("POST", "/me/cases/{case_id}/close"): plain(f"/me/cases/{case}/close", {"solved": True}),
        ("POST", "/me/cases/{case_id}/documents/upload"): plain(
            f"/me/cases/{case}/documents/upload", {"content_type": "image/png"}
        ),
        ("POST", "/me/cases/{case_id}/documents"): plain(
            f"/me/cases/{case}/documents", {"upload_id": v["upload_id"]}
        ),
        ("GET", "/me/data-export/{export_id}"): plain(f"/me/data-export/{v['export_id']}"),
        ("GET", "/me/arrangements/{arrangement_id}"): plain(f"/me/arrangements/{v['arrangement_id']}"),
    }


# What each route answers for another customer's object: the same 404 as for an unknown id.
EXPECTED_CODE = {
    ("PATCH", "/me/passkeys/{passkey_id}"): "passkey_not_found",
    ("DELETE", "/me/passkeys/{passkey_id}"): "passkey_not_found",
    ("DELETE", "/me/sessions/{session_id}"): "session_not_found",
    ("GET", "/offers/{offer_id}"): "offer_not_found",
    ("POST", "/offers/{offer_id}/bid/challenge"): "offer_not_found",
    ("PUT", "/offers/{offer_id}/bid"): "offer_not_found",
    ("DELETE", "/offers/{offer_id}/bid"): "offer_not_found",
    ("DELETE", "/me/devices/{installation_id}"): "device_not_found",
    ("POST", "/me/inbox/{alert_id}/read"): "alert_not_found",
    ("GET", "/lines/{line_id}"): "line_not_found",
    ("GET", "/lines/{line_id}/usage"): "line_not_found",
    ("GET", "/lines/{line_id}/usage/daily"): "line_not_found",
    ("GET", "/lines/{line_id}/plan-change/preview"): "line_not_found",
    ("POST", "/lines/{line_id}/plan-change"): "line_not_found",
    ("GET", "/lines/{line_id}/catalog"): "line_not_found",
    ("GET", "/lines/{line_id}/options/{option_id}/preview"): "line_not_found",
    ("POST", "/lines/{line_id}/options"): "line_not_found",
    ("GET", "/lines/{line_id}/options/{option_id}/removal/preview"): "line_not_found",
    ("POST", "/lines/{line_id}/options/{option_id}/removal"): "line_not_found",
    ("POST", "/lines/{line_id}/suspension"): "line_not_found",
    ("POST", "/lines/{line_id}/suspension/removal"): "line_not_found",
    ("GET", "/lines/{line_id}/roaming"): "line_not_found",  # Abroad
    ("PUT", "/lines/{line_id}/roaming/data-limit"): "line_not_found",
    ("GET", "/bills/{bill_id}"): "bill_not_found",
    ("POST", "/bills/{bill_id}/payments/challenge"): "bill_not_found",
    ("POST", "/bills/{bill_id}/payments"): "bill_not_found",
    ("DELETE", "/me/payment-methods/{payment_method_id}"): "payment_method_not_found",
    ("POST", "/me/payment-methods/{payment_method_id}/default"): "payment_method_not_found",
    ("GET", "/me/cases/{case_id}"): "case_not_found",
    ("POST", "/me/cases/{case_id}/messages"): "case_not_found",
    ("POST", "/me/cases/{case_id}/close"): "case_not_found",
    ("POST", "/me/cases/{case_id}/documents/upload"): "case_not_found",
    ("POST", "/me/cases/{case_id}/documents"): "case_not_found",
    ("GET", "/me/data-export/{export_id}"): "data_export_not_found",  # Privacy
    ("GET", "/me/arrangements/{arrangement_id}"): "arrangement_not_found",  # Cannot pay
}


def test_every_route_with_an_id_is_swept():
    with_ids = {
        (m.upper(), path)
        for path, item in SPEC["paths"].items()
        if "{" in path
        for m in item
        if m in ("get", "post", "put", "patch", "delete")
    }
    dummy = {
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
            "case_id",
            "upload_id",
            "export_id",  # Privacy
            "arrangement_id",  # Cannot pay
        )
    }
    swept = set(_calls(dummy, Intruder(enrolled=None, method_id="pm_x")))
    assert with_ids == swept | set(EXEMPT), (with_ids - swept - set(EXEMPT), swept - with_ids)
    assert set(EXPECTED_CODE) == swept


def test_another_customers_token_gets_404_and_changes_nothing(api, app_module, enrol):
    """Mutations (each → this test fails): drop the owner check in `passkeys._owned` (the step-up
    below answers 200), look the bill up without the caller's id in `payments._payable`, or skip
    `owns_line` in `plan_change.request` or in `purchases.service._shown` (400 preview_required)."""
    from tests.support.stepup import add_card

    victim = _victim(api, app_module, enrol)
    enrolled = enrol()
    intruder = Intruder(enrolled, add_card(api, enrolled).body["payment_method_id"])
    before = _state(api, victim)
    answers = {}
    for route, build in _calls(victim, intruder).items():
        path, body, headers = build()
        answer = api.request(route[0], path, body, token=intruder.token, headers=headers)
        answers[route] = (answer.status, answer.error_code)
    assert answers == {route: (404, code) for route, code in EXPECTED_CODE.items()}
    # The step-up itself never describes (nor binds) another customer's passkey, card or line.
    line_id = victim["line_id"]
    for action, params, code in (
        (
            "option.buy",
            {"line_id": line_id, "option_id": "data-recharge-2", "amount": 300, "currency": "EUR"},
            "line_not_found",
        ),
        ("option.remove", {"line_id": line_id, "option_id": "data-plus-5"}, "line_not_found"),
        ("line.suspend", {"line_id": line_id, "reason": "lost"}, "line_not_found"),
        ("line.restore", {"line_id": line_id}, "line_not_found"),
        ("passkey.remove", {"passkey_id": victim["passkey_id"]}, "passkey_not_found"),
        (
            "payment_method.remove",
            {"payment_method_id": victim["payment_method_id"]},
            "payment_method_not_found",
        ),
        (
            "payment_method.default",
            {"payment_method_id": victim["payment_method_id"]},
            "payment_method_not_found",
        ),
    ):
        started = api.post("/me/step-up", {"action": action, **params}, token=intruder.token)
        assert (started.status, started.error_code) == (404, code), (action, started.body)
    assert _state(api, victim) == before


def test_the_intruders_confirmations_are_real(api, app_module, enrol):
    """The confirmations the sweep sends would work on the intruder's own objects: a 404 in the
    sweep is not a broken confirmation. Mutation: sign them with another passkey → 401 here."""
    from chalicelib.bidding import bids
    from chalicelib.billing import payments
    from tests.bidding.conftest import give_line, offer_event
    from tests.billing.conftest import bill_document
    from tests.support.stepup import add_card, signed_confirmation, step_up_confirmation

    enrolled = enrol()
    first = add_card(api, enrolled).body["payment_method_id"]
    second = add_card(api, enrolled, "tok_mastercard").body["payment_method_id"]
    made_default = api.post(
        f"/me/payment-methods/{second}/default",
        {"confirmation": step_up_confirmation(enrolled, "payment_method.default", payment_method_id=second)},
        token=enrolled.token,
    )
    assert made_default.status == 200, made_default.body
    removed = api.delete(
        f"/me/payment-methods/{first}",
        {"confirmation": step_up_confirmation(enrolled, "payment_method.remove", payment_method_id=first)},
        token=enrolled.token,
    )
    assert removed.status == 204, removed.body
    document = bill_document(enrolled.customer["customer_number"])
    app_module.import_bills({"bills": [document]}, None)
    binding = payments.binding(bill_id=document["bill_id"], amount=100, currency="EUR", method_id=second)
    paid = api.post(
        f"/bills/{document['bill_id']}/payments",
        {"amount": 100, "payment_method_id": second, **signed_confirmation(enrolled, binding)},
        token=enrolled.token,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert paid.status == 201 and paid.body["status"] == "succeeded", paid.body
    offer_id = app_module.admin_create_offer(offer_event(), None)["offer_id"]
    bid_line = give_line(app_module, enrolled)
    binding = bids.binding(offer_id=offer_id, amount=2000, currency="EUR", method_id=second, line_id=bid_line)
    placed = api.put(
        f"/offers/{offer_id}/bid",
        {
            "amount": 2000,
            "payment_method_id": second,
            "line_id": bid_line,
            **signed_confirmation(enrolled, binding),
        },
        token=enrolled.token,
    )
    assert placed.status == 201, placed.body
    line_id = "ln_" + secrets.token_hex(6)
    app_module.admin_upsert_catalog(
        json.loads((ROOT / "infra" / "admin-events" / "admin_upsert_catalog.json").read_text()), None
    )
    assert "error" not in app_module.admin_set_line(
        {
            "customer_number": enrolled.customer["customer_number"],
            "line_id": line_id,
            "msisdn": "+33611111112",
            "plan_id": "essentiel-20",
            "option_ids": ["data-plus-5"],
            "anchor_day": 1,
        },
        None,
    )
    shown = api.get(f"/lines/{line_id}/options/data-recharge-2/preview", token=enrolled.token).body
    bought = api.post(
        f"/lines/{line_id}/options",
        {
            "option_id": "data-recharge-2",
            "preview_token": shown["preview_token"],
            "confirmation": step_up_confirmation(
                enrolled,
                "option.buy",
                line_id=line_id,
                option_id="data-recharge-2",
                amount=300,
                currency="EUR",
            ),
        },
        token=enrolled.token,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert bought.status == 201, bought.body
    shown = api.get(f"/lines/{line_id}/options/data-plus-5/removal/preview", token=enrolled.token).body
    removed = api.post(
        f"/lines/{line_id}/options/data-plus-5/removal",
        {
            "preview_token": shown["preview_token"],
            "confirmation": step_up_confirmation(
                enrolled, "option.remove", line_id=line_id, option_id="data-plus-5"
            ),
        },
        token=enrolled.token,
    )
    assert removed.status == 201, removed.body
    _second_passkey(api, enrolled)
    passkey_id = api.get("/me/passkeys", token=enrolled.token).body["passkeys"][0]["id"]
    gone = api.delete(
        f"/me/passkeys/{passkey_id}",
        {"confirmation": step_up_confirmation(enrolled, "passkey.remove", passkey_id=passkey_id)},
        token=enrolled.token,
    )
    assert gone.status == 204, gone.body
