"""`make demo`: a customer's journey over HTTP against `make run`, step by step.

The passkey is the software authenticator of the tests (devtools/soft_authenticator.py), standing
in for Face ID / fingerprint. The customer is created as an admin would, with the admin function.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC
from typing import Any

import requests

from devtools.soft_authenticator import SoftAuthenticator


def show(step: str, response: requests.Response, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    body = response.json() if response.content else {}
    return print_step(
        step, f"{response.request.method} {response.request.path_url} -> {response.status_code}", body, keys
    )


def show_admin(step: str, function: str, result: dict[str, Any]) -> dict[str, Any]:
    return print_step(
        step, f"admin function {function} -> {'error' if 'error' in result else 'ok'}", result, ()
    )


def print_step(step: str, what: str, body: Any, keys: tuple[str, ...]) -> Any:
    shown = {k: body[k] for k in keys if k in body} if keys and isinstance(body, dict) else body
    text = json.dumps(shown, indent=2, ensure_ascii=False)
    print(f"\n== {step}\n   {what}")
    print("   " + (text if len(text) < 1600 else text[:1600] + " ...").replace("\n", "\n   "))
    return body


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", default="http://localhost:8000")
    args = parser.parse_args()
    api = args.api.rstrip("/")
    http = requests.Session()
    http.headers["User-Agent"] = "SelfCareDemo/1.0 (make demo)"
    try:
        http.get(f"{api}/.well-known/jwks.json", timeout=3)
    except requests.ConnectionError:
        print(f"Nothing answers on {api}: start `make run` first.", file=sys.stderr)
        return 1

    import app  # the admin function, run as `make invoke` would

    number = f"D-{int(time.time())}"
    created = app.admin_create_customer(
        {"customer_number": number, "name": "Demo Customer", "email": "demo@example.com"}, None
    )
    print(
        f"== Admin creates customer {number}: a letter with the enrolment handle {created['enrolment_handle']} (a QR code) "
        f"and the activation code {created['activation_code']}"
    )

    phone = SoftAuthenticator(origin=api.replace("127.0.0.1", "localhost"))
    options = show(
        "1. The app asks for passkey creation options with the letter's handle and code",
        http.post(
            f"{api}/auth/passkeys/register/options",
            json={
                "enrolment_handle": created["enrolment_handle"],
                "activation_code": created["activation_code"],
            },
        ),
        ("challenge_id",),
    )
    credential = phone.create(options["options"])
    session = show(
        "2. Face ID creates the passkey; the app sends it: the customer is signed in",
        http.post(
            f"{api}/auth/passkeys/register/verify",
            json={"challenge_id": options["challenge_id"], "credential": credential, "name": "Demo phone"},
        ),
        ("token_type", "expires_in", "customer_id"),
    )
    show(
        "3. The customer's passkeys",
        http.get(f"{api}/me/passkeys", headers={"Authorization": f"Bearer {session['access_token']}"}),
    )

    login = show(
        "4. Later: sign-in options, no username needed",
        http.post(f"{api}/auth/passkeys/login/options"),
        ("challenge_id",),
    )
    signed_in = show(
        "5. Face ID signs the challenge: a new session",
        http.post(
            f"{api}/auth/passkeys/login/verify",
            json={"challenge_id": login["challenge_id"], "credential": phone.get(login["options"])},
        ),
        ("token_type", "expires_in", "customer_id"),
    )
    refreshed = show(
        "6. The access token expires after 15 min: refresh (the refresh token rotates)",
        http.post(f"{api}/auth/token/refresh", json={"refresh_token": signed_in["refresh_token"]}),
        ("token_type", "expires_in"),
    )
    bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    show("7. Signed-in devices", http.get(f"{api}/me/sessions", headers=bearer))
    show(
        "8. Someone replays the spent refresh token: refused, and the session is ended",
        http.post(f"{api}/auth/token/refresh", json={"refresh_token": signed_in["refresh_token"]}),
    )
    show(
        "9. So the newest refresh token no longer works either",
        http.post(f"{api}/auth/token/refresh", json={"refresh_token": refreshed["refresh_token"]}),
    )
    first = {"Authorization": f"Bearer {session['access_token']}"}
    show(
        "10. The phone registers for push (its Firebase installation id and FCM token)",
        http.put(
            f"{api}/me/devices/fidDemoPhone{int(time.time())}",
            headers=first,
            json={
                "fcm_token": "demo-fcm-token-0123456789",
                "platform": "ios",
                "app_version": "1.0.0",
                "locale": "fr-FR",
            },
        ),
    )
    show(
        "11. Quiet hours 22:00-07:00 (security alerts still go out at once)",
        http.put(
            f"{api}/me/notification-preferences",
            headers=first,
            json={"quiet_hours": {"start": "22:00", "end": "07:00"}},
        ),
    )
    time.sleep(3)  # the stream worker turns the security events into alerts and pushes them
    inbox = show(
        "12. The inbox: every security event told, in French (the customer's language)",
        http.get(f"{api}/me/inbox", headers=first),
    )
    show("13. The app's badge", http.get(f"{api}/me/inbox/unread-count", headers=first))
    if inbox.get("items"):
        show(
            "14. The customer opens the newest alert",
            http.post(f"{api}/me/inbox/{inbox['items'][0]['id']}/read", headers=first),
            ("title", "read"),
        )
    show("15. Everything read", http.post(f"{api}/me/inbox/read-all", headers=first))
    line = {
        "customer_number": number,
        "line_id": f"ln_d{int(time.time())}",
        "msisdn": "+33699999999",
        "plan_id": "essentiel-20",
        "option_ids": ["data-plus-5"],
        "anchor_day": 1,
    }
    show_admin(
        "16. An admin gives the customer a line (from the console)",
        "admin_set_line",
        app.admin_set_line(line, None),
    )
    me = show("17. The home screen: profile, lines, usage, attention", http.get(f"{api}/me", headers=first))
    line_id = me["lines"][0]["line_id"] if me.get("lines") else None
    if line_id:
        catalogue = show(
            "17b. What the line can take: plans, options and top-ups, priced, with why one cannot be taken",
            http.get(f"{api}/lines/{line_id}/catalog", headers=first),
            ("items",),
        )
        plan_id = next(i["id"] for i in catalogue["items"] if i["category"] == "plan" and i["available"])
        preview = show(
            f"18. What would change with {plan_id}, found in the catalogue? (the option that would be lost is listed)",
            http.get(f"{api}/lines/{line_id}/plan-change/preview?plan_id={plan_id}", headers=first),
            ("options_lost", "monthly_price", "effective_date"),
        )
        show(
            "19. The customer confirms this exact preview: a request, with its reason",
            http.post(
                f"{api}/lines/{line_id}/plan-change",
                headers=first,
                json={"plan_id": plan_id, "preview_token": preview["preview_token"]},
            ),
            ("status", "reason", "effective_date"),
        )
    bill_id = f"B-DEMO-{int(time.time())}"
    show_admin(
        "20. The billing system sends this month's bill",
        "import_bills",
        app.import_bills(
            {
                "bills": [
                    {
                        "bill_id": bill_id,
                        "customer_number": number,
                        "period": {"start": "2026-10-01", "end": "2026-10-31"},
                        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "due_date": "2026-12-15",
                        "currency": "EUR",
                        "items": [
                            {"label": "Forfait Essentiel 20 Go", "amount": 1083, "tax": 216},
                            {"label": "Option Data +5 Go", "amount": 417, "tax": 83},
                        ],
                        "total": 1799,
                    }
                ]
            },
            None,
        ),
    )
    step_up = show(
        "21. Adding a card is confirmed with Face ID first (a stolen token alone cannot add one)",
        http.post(
            f"{api}/me/step-up",
            headers=first,
            json={"action": "payment_method.add", "provider_token": "tok_visa"},
        ),
        ("challenge_id", "transaction"),
    )
    card = show(
        "    The app adds the card (a token from the provider's SDK, never the card number) with that confirmation",
        http.post(
            f"{api}/me/payment-methods",
            headers=first,
            json={
                "provider_token": "tok_visa",
                "label": "Ma carte",
                "confirmation": {
                    "challenge_id": step_up["challenge_id"],
                    "credential": phone.get(step_up["options"]),
                },
            },
        ),
        ("payment_method_id", "brand", "last4"),
    )
    confirm = show(
        "22. Pay 17.99 EUR: the app gets a challenge bound to this bill, amount and card",
        http.post(
            f"{api}/bills/{bill_id}/payments/challenge",
            headers=first,
            json={"amount": 1799, "payment_method_id": card["payment_method_id"]},
        ),
        ("challenge_id", "transaction"),
    )
    body = {
        "amount": 1799,
        "payment_method_id": card["payment_method_id"],
        "challenge_id": confirm["challenge_id"],
        "credential": phone.get(confirm["options"]),
    }
    key = {"Idempotency-Key": f"demo-{int(time.time())}", **first}
    show(
        "23. Face ID confirms: one tap, paid",
        http.post(f"{api}/bills/{bill_id}/payments", headers=key, json=body),
        ("payment_id", "status", "amount"),
    )
    show(
        "24. The network hiccups and the app retries with the same key: the same payment, no second charge",
        http.post(f"{api}/bills/{bill_id}/payments", headers=key, json=body),
        ("payment_id", "status"),
    )
    show("25. The bill", http.get(f"{api}/bills/{bill_id}", headers=first), ("status", "balance", "payments"))
    if line_id:
        import uuid

        from devtools.usage_simulator import sqs_event

        record = {
            "event_id": str(uuid.uuid4()),
            "line_id": line_id,
            "kind": "data",
            "quantity": 21 * 1024 * 1024,
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)),
        }
        print("\n== 26. The network reports 21 GB of data on the line (SQS -> ingest_usage)")
        app.ingest_usage(sqs_event([record]), None)
        show(
            "27. Told before having to ask: the usage alert in the inbox",
            http.get(f"{api}/me/inbox?limit=3", headers=first),
        )
    _bid(api, http, app, first, phone, card["payment_method_id"], line_id)
    print(
        "\n   Demo customer C-1001's line ln_demo1001 gets usage every 5 s from the simulator:"
        f" sign in as C-1001 and GET {api}/lines/ln_demo1001/usage"
    )
    from devtools import demo_help

    step, problems = demo_help.run(
        api=api,
        http=http,
        app=app,
        bearer=first,
        phone=phone,
        customer_number=number,
        customer_id=session["customer_id"],
        first_step=34,
    )
    from devtools import demo_arrangement

    step, more = demo_arrangement.run(
        api=api, http=http, app=app, bearer=first, phone=phone, customer_number=number, first_step=step
    )
    problems = [*problems, *more]
    if line_id:
        from devtools import demo_roaming

        step, roaming_problems = demo_roaming.run(
            api=api, http=http, app=app, bearer=first, phone=phone, line_id=line_id, first_step=step
        )
        problems += roaming_problems
    show(
        f"{step}. The first device signs out (its push registration goes with it)",
        http.post(f"{api}/auth/logout", headers=first),
    )
    if problems:
        print("\nThe journey did not show everything it should:\n  - " + "\n  - ".join(problems))
        return 1
    print("\nDone.")
    return 0


def _bid(
    api: str,
    http: requests.Session,
    app: Any,
    bearer: dict[str, str],
    phone: SoftAuthenticator,
    method_id: str,
    line_id: str | None,
) -> None:
    """An upgrade offer closing in 20 s: the customer bids for their line, a rival outbids, the
    customer raises; the clear_offers worker (every 10 s under `make run`) charges the winner and
    puts the upgrade on the line in the same write; the outcome, the line with its end, the receipt."""
    if line_id is None:
        print("\n   (no line: the bidding part of the journey needs one)")
        return
    from datetime import datetime, timedelta

    start = datetime.now(UTC)
    offer_id = f"off_demo{int(time.time())}"
    show_admin(
        "28. An admin opens an upgrade auction: 1 unit, closes in 20 s",
        "admin_create_offer",
        app.admin_create_offer(
            {
                "offer_id": offer_id,
                "title": {"fr": "Premium 100 Go pendant 3 mois", "en": "Premium 100 GB for 3 months"},
                "description": {"fr": "Le forfait Premium 3 mois.", "en": "The Premium plan for 3 months."},
                "inventory": 1,
                "currency": "EUR",
                "min_bid": 500,
                "max_bid": 2900,
                "increment": 100,
                "opens_at": (start - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "closes_at": (start + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "grant": {"kind": "plan", "entry_id": "premium-100", "days": 90},
            },
            None,
        ),
    )

    def place(
        who: dict[str, str], authenticator: SoftAuthenticator, method: str, amount: int, step: str, line: str
    ) -> None:
        challenge = http.post(
            f"{api}/offers/{offer_id}/bid/challenge",
            headers=who,
            json={"amount": amount, "payment_method_id": method, "line_id": line},
        ).json()
        print(f"\n   {challenge.get('transaction', {}).get('statement', {}).get('en', challenge)}")
        body = {
            "amount": amount,
            "payment_method_id": method,
            "line_id": line,
            "challenge_id": challenge["challenge_id"],
            "credential": authenticator.get(challenge["options"]),
        }
        show(step, http.put(f"{api}/offers/{offer_id}/bid", headers=who, json=body), ("amount", "placed_at"))

    place(
        bearer,
        phone,
        method_id,
        1200,
        "29. The customer bids 12.00 EUR for their line, confirmed with Face ID",
        line_id,
    )
    rival_number = f"R-{int(time.time())}"
    rival = app.admin_create_customer({"customer_number": rival_number, "name": "Rival"}, None)
    rival_line = f"ln_r{int(time.time())}"
    app.admin_set_line(
        {
            "customer_number": rival_number,
            "line_id": rival_line,
            "msisdn": "+33600000099",
            "plan_id": "essentiel-20",
            "anchor_day": 1,
        },
        None,
    )
    rival_phone = SoftAuthenticator(origin=phone.origin)
    options = http.post(
        f"{api}/auth/passkeys/register/options",
        json={"enrolment_handle": rival["enrolment_handle"], "activation_code": rival["activation_code"]},
    ).json()
    tokens = http.post(
        f"{api}/auth/passkeys/register/verify",
        json={"challenge_id": options["challenge_id"], "credential": rival_phone.create(options["options"])},
    ).json()
    rival_bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    rival_step_up = http.post(
        f"{api}/me/step-up",
        headers=rival_bearer,
        json={"action": "payment_method.add", "provider_token": "tok_visa"},
    ).json()
    rival_card = http.post(
        f"{api}/me/payment-methods",
        headers=rival_bearer,
        json={
            "provider_token": "tok_visa",
            "confirmation": {
                "challenge_id": rival_step_up["challenge_id"],
                "credential": rival_phone.get(rival_step_up["options"]),
            },
        },
    ).json()["payment_method_id"]
    place(rival_bearer, rival_phone, rival_card, 1500, "30. Another customer bids 15.00 EUR", rival_line)
    show(
        "31. The customer's bid is now weaker (its band, never the rival's amount)",
        http.get(f"{api}/offers/{offer_id}", headers=bearer),
        ("my_bid", "strength_bands", "bid_changes_left"),
    )
    place(bearer, phone, method_id, 1800, "32. The customer raises to 18.00 EUR", line_id)
    print("\n   Waiting for the close and the clearing worker ...", flush=True)
    for _ in range(60):
        time.sleep(1)
        outcome = http.get(f"{api}/offers/{offer_id}", headers=bearer).json().get("outcome")
        if outcome:
            break
    show(
        "33. The outcome: won, charged what was bid; the inbox says so",
        http.get(f"{api}/offers/{offer_id}", headers=bearer),
        ("status", "outcome"),
    )
    show("    The customer's newest alerts", http.get(f"{api}/me/inbox?limit=2", headers=bearer), ("items",))
    show(
        "    The upgrade on the line, with its end",
        http.get(f"{api}/lines/{line_id}", headers=bearer),
        ("plan",),
    )
    show("    The receipt", http.get(f"{api}/me/receipts", headers=bearer), ("receipts",))


if __name__ == "__main__":
    sys.exit(main())
