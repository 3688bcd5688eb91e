"""A local fake of the parts of Stripe's HTTP API the backend uses, for the tests and `make run`:
the real `stripe` library talks to it over HTTP (STRIPE_API_BASE); only the base URL changes.

- Requests are form-encoded as the library sends them (`metadata[reference]=...`,
  `allowed_payment_method_types[0]=card`; `payment_method_types` is refused as Stripe does since 2026-09-30.endive); answers are Stripe-shaped JSON objects and errors
  (`{"error": {"type", "code", "decline_code", "message", "payment_intent"}}`, 402 for card errors).
- `Idempotency-Key` as Stripe defines it: the same key with the same parameters replays the first
  answer (with `Idempotent-Replayed: true`); with other parameters (or another endpoint) it is a
  400 `idempotency_error`; while the first request with the key is still running, 409.
- Endpoints: `POST /v1/customers`, `GET /v1/payment_methods/{id}`,
  `POST /v1/payment_methods/{id}/attach`, `POST /v1/payment_intents` (created and confirmed),
  `GET /v1/payment_intents/{id}`, `GET /v1/payment_intents/search?query=metadata['k']:'v' AND ...`,
  `POST /v1/refunds`.
- Test cards by PaymentMethod id, as in Stripe's test mode: `pm_card_visa`, `pm_card_mastercard`
  (succeed), `pm_card_chargeDeclined` (card_declined / generic_decline),
  `pm_card_chargeDeclinedInsufficientFunds` (insufficient_funds), `pm_card_chargeDeclinedExpiredCard`
  (expired_card), `pm_card_authenticationRequired` (off-session: authentication_required).
  Attaching one to a customer makes a new `pm_...` with its behaviour, as Stripe does.
- `hold_next()` makes the next matching request hang (before it is processed, or after, with the
  answer held back) until `release()`: a timeout, or "the provider holds the charge".
- `attempts` records EVERY `POST /v1/payment_intents` (amount, currency, metadata, idempotency key,
  method, customer), replays and refusals included (`attempts_for(reference)`: those of one
  reference); `refund_attempts` every `POST /v1/refunds`.
- Webhooks: `event(payment_intent_id)` builds a signed `payment_intent.*` event (payload and
  `Stripe-Signature: t=...,v1=<HMAC-SHA256>` headers); `send_event(url, ...)` POSTs one; with
  `webhook_url` set, every payment intent that succeeds or fails is sent there.

    python -m devtools.fake_stripe --port 8003 --webhook-url http://localhost:8000/webhooks/stripe
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_KEY = "sk_test_fake"
WEBHOOK_SECRET = "whsec_fake"

# id -> (brand, last4, behaviour): None succeeds, else (code, decline_code).
TEST_CARDS: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "pm_card_visa": ("visa", "4242", None),
    "pm_card_mastercard": ("mastercard", "4444", None),
    "pm_card_chargeDeclined": ("visa", "0002", ("card_declined", "generic_decline")),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", ("card_declined", "insufficient_funds")),
    "pm_card_chargeDeclinedExpiredCard": ("visa", "0069", ("expired_card", "expired_card")),
    "pm_card_authenticationRequired": (
        "visa",
        "3184",
        ("authentication_required", "authentication_required"),
    ),
}


def _new(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into nested dicts and lists: `a[b][0]=x` → {"a": {"b": ["x"]}}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = [key.split("[", 1)[0]] + re.findall(r"\[([^\]]*)\]", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1] or str(len(node))] = value
    return _listify(root)


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        value = {k: _listify(v) for k, v in value.items()}
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
    return value


@dataclass
class _Held:
    path: str
    when: str
    release: threading.Event = field(default_factory=threading.Event)


class StripeFailure(Exception):
    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.status, self.error = status, error


class FakeStripe:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = API_KEY,
        webhook_secret: str = WEBHOOK_SECRET,
        webhook_url: str | None = None,
        echo: bool = False,
    ) -> None:
        self.api_key, self.webhook_secret, self.webhook_url, self._echo = (
            api_key,
            webhook_secret,
            webhook_url,
            echo,
        )
        self.attempts: list[dict[str, Any]] = []
        self.refund_attempts: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events_sent: list[tuple[str, int]] = []  # (event type, status answered) of automatic deliveries
        self._behaviour: dict[str, tuple[str, str] | None] = {}
        self._keys: dict[str, dict[str, Any]] = {}
        self._held: list[_Held] = []  # armed, waiting for a request
        self._holding: list[_Held] = []  # a request is hanging on these
        self._lock = threading.RLock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                self._serve("GET", url.path, parse_qsl(url.query, keep_blank_values=True))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode() if length else ""
                self._serve("POST", urlsplit(self.path).path, parse_qsl(body, keep_blank_values=True))

            def do_DELETE(self) -> None:  # noqa: N802
                self._serve("DELETE", urlsplit(self.path).path, [])

            def _serve(self, method: str, path: str, pairs: list[tuple[str, str]]) -> None:
                status, body, headers = fake.handle(
                    method, path, parse_form(pairs), dict(self.headers.items())
                )
                raw = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.send_header("Request-Id", _new("req"))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): Stripe's work is done all the same

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self._server = Server((host, port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- control -----------------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.release()
        with self._lock:
            self.attempts.clear()
            self.refund_attempts.clear()
            self.requests.clear()
            self.events_sent.clear()

    def hold_next(self, *, path: str = "/v1/payment_intents", when: str = "before") -> None:
        """The next POST to `path` hangs until `release()`: `before` it is processed (the charge
        happens late), or `after` (charged at once, the answer held back)."""
        with self._lock:
            self._held.append(_Held(path=path, when=when))

    def release(self) -> None:
        """Let every hanging request go on, and disarm the holds no request took yet."""
        with self._lock:
            held, self._held, self._holding = self._held + self._holding, [], []
        for hold in held:
            hold.release.set()

    def attempts_for(self, reference: str) -> list[dict[str, Any]]:
        """Every `POST /v1/payment_intents` made for this reference (`metadata[reference]`), in
        order, replays and refusals included: what was asked, not what the keys deduplicated."""
        with self._lock:
            return [a for a in self.attempts if a["metadata"].get("reference") == reference]

    def charges(self, *, reference: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                pi
                for pi in self.payment_intents.values()
                if (reference is None or pi["metadata"].get("reference") == reference)
                and (status is None or pi["status"] == status)
            ]

    # --- webhooks ---------------------------------------------------------------------------------

    def event(
        self,
        payment_intent_id: str,
        *,
        kind: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed event about this payment intent as it is now: the body and the headers."""
        with self._lock:
            intent = json.loads(json.dumps(self.payment_intents[payment_intent_id]))
        kind = kind or (
            "payment_intent.succeeded" if intent["status"] == "succeeded" else "payment_intent.payment_failed"
        )
        moment = int(time.time()) if timestamp is None else timestamp
        payload = json.dumps(
            {
                "id": _new("evt"),
                "object": "event",
                "api_version": "2025-01-27.acacia",
                "created": moment,
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": kind,
                "data": {"object": intent},
            }
        ).encode()
        return payload, {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": self.sign(payload, timestamp=moment, secret=secret),
        }

    def sign(self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
        moment = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(
            (secret or self.webhook_secret).encode(), f"{moment}.".encode() + payload, hashlib.sha256
        ).hexdigest()
        return f"t={moment},v1={mac}"

    def send_event(self, url: str, payment_intent_id: str, *, kind: str | None = None) -> int:
        payload, headers = self.event(payment_intent_id, kind=kind)
        request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def _deliver(self, intent: dict[str, Any]) -> None:
        if not self.webhook_url:
            return
        url, intent_id = self.webhook_url, intent["id"]

        def post() -> None:
            try:
                status = self.send_event(url, intent_id)
            except OSError:
                status = 0
            with self._lock:
                self.events_sent.append((intent["status"], status))
            if self._echo:
                print(f"Stripe webhook for {intent_id} ({intent['status']}) → {status}", flush=True)

        threading.Thread(target=post, daemon=True).start()

    # --- the API ----------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.requests.append((method, path))
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return (
                401,
                {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}},
                {},
            )
        if method == "POST" and path == "/v1/payment_intents":
            with self._lock:
                self.attempts.append(
                    {
                        "amount": params.get("amount"),
                        "currency": params.get("currency"),
                        "metadata": params.get("metadata", {}),
                        "idempotency_key": headers.get("idempotency-key"),
                        "payment_method": params.get("payment_method"),
                        "customer": params.get("customer"),
                        "confirm": params.get("confirm"),
                        "off_session": params.get("off_session"),
                    }
                )
        if method == "POST" and path == "/v1/refunds":
            with self._lock:
                self.refund_attempts.append(
                    {
                        "payment_intent": params.get("payment_intent"),
                        "amount": params.get("amount"),
                        "idempotency_key": headers.get("idempotency-key"),
                    }
                )
        key = headers.get("idempotency-key") if method == "POST" else None
        if key is None:
            return self._run(method, path, params)
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        with self._lock:
            seen = self._keys.get(key)
            if seen is None:
                self._keys[key] = {"state": "running", "fingerprint": fingerprint}
            elif seen["state"] == "running":
                return (
                    409,
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": "There is currently another in-progress request using this "
                            "Idempotency Key (that probably means you submitted twice, and the other request is still going through).",
                        }
                    },
                    {},
                )
            elif seen["fingerprint"] != fingerprint:
                return (
                    400,
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        }
                    },
                    {},
                )
            else:
                return seen["status"], seen["body"], {"Idempotent-Replayed": "true", "Idempotency-Key": key}
        status, body, extra = self._run(method, path, params)
        with self._lock:
            if status >= 500:
                del self._keys[key]  # not an outcome: the key may be retried
            else:
                self._keys[key] = {
                    "state": "done",
                    "fingerprint": fingerprint,
                    "status": status,
                    "body": body,
                }
        return status, body, {**extra, "Idempotency-Key": key}

    def _hold(self, path: str, when: str) -> None:
        with self._lock:
            hold = next((h for h in self._held if h.path == path and h.when == when), None)
            if hold is not None:
                self._held.remove(hold)
                self._holding.append(hold)
        if hold is not None:
            hold.release.wait(timeout=120)

    def _run(
        self, method: str, path: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "POST":
            self._hold(path, "before")
        try:
            status, body = self._route(method, path, params)
        except StripeFailure as failure:
            status, body = failure.status, {"error": failure.error}
        if method == "POST":
            self._hold(path, "after")
        return status, body, {}

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/customers":
            return 200, self._create_customer(params)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "customers"]:
            return 200, self._customer(parts[2])
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "payment_methods"]:
            return 200, self._payment_method(parts[2])
        if (
            method == "POST"
            and len(parts) == 4
            and parts[:2] == ["v1", "payment_methods"]
            and parts[3] == "attach"
        ):
            return 200, self._attach(parts[2], params)
        if method == "POST" and path == "/v1/payment_intents":
            return self._create_intent(params)
        if method == "GET" and path == "/v1/payment_intents/search":
            return 200, self._search(params)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "payment_intents"]:
            with self._lock:
                if parts[2] not in self.payment_intents:
                    raise _missing("payment_intent", parts[2])
                return 200, self.payment_intents[parts[2]]
        if method == "POST" and path == "/v1/refunds":
            return 200, self._refund(params)
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method}: {path}).",
            }
        }

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": _new("cus"),
            "object": "customer",
            "created": int(time.time()),
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "email": params.get("email"),
        }
        with self._lock:
            self.customers[customer["id"]] = customer
        return customer

    def _customer(self, customer_id: str) -> dict[str, Any]:
        with self._lock:
            if customer_id not in self.customers:
                raise _missing("customer", customer_id)
            return self.customers[customer_id]

    def _payment_method(self, method_id: str) -> dict[str, Any]:
        with self._lock:
            if method_id in self.payment_methods:
                return self.payment_methods[method_id]
        if method_id in TEST_CARDS:
            return self._method_object(method_id, TEST_CARDS[method_id], customer=None)
        raise _missing("payment_method", method_id)

    @staticmethod
    def _method_object(method_id: str, card: tuple[str, str, Any], *, customer: str | None) -> dict[str, Any]:
        brand, last4, _ = card
        return {
            "id": method_id,
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "livemode": False,
            "created": int(time.time()),
            "card": {
                "brand": brand,
                "last4": last4,
                "exp_month": 12,
                "exp_year": date.today().year + 3,
                "country": "FR",
                "funding": "credit",
            },
            "billing_details": {},
            "metadata": {},
        }

    def _attach(self, method_id: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if customer not in self.customers:
            raise _missing("customer", str(customer))
        with self._lock:
            if method_id in TEST_CARDS:  # Stripe clones a test card into a new method of the customer
                clone = self._method_object(_new("pm"), TEST_CARDS[method_id], customer=customer)
                self.payment_methods[clone["id"]] = clone
                self._behaviour[clone["id"]] = TEST_CARDS[method_id][2]
                return clone
            method = self.payment_methods.get(method_id)
            if method is None:
                raise _missing("payment_method", method_id)
            if method["customer"] not in (None, customer):
                raise StripeFailure(
                    400,
                    {
                        "type": "invalid_request_error",
                        "code": "payment_method_unexpected_state",
                        "message": "The payment method is already attached to another customer.",
                    },
                )
            method["customer"] = customer
            return method

    def _create_intent(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        method_id = params.get("payment_method")
        with self._lock:
            method = self.payment_methods.get(str(method_id))
            behaviour = self._behaviour.get(str(method_id))
        if method is None and method_id in TEST_CARDS:
            method, behaviour = (
                self._method_object(str(method_id), TEST_CARDS[str(method_id)], customer=None),
                TEST_CARDS[str(method_id)][2],
            )
        if method is None:
            raise _missing("payment_method", str(method_id))
        if any(key.startswith("payment_method_types") for key in params):
            # As Stripe answers since API version 2026-09-30.endive (the version stripe 16 pins).
            raise StripeFailure(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "payment_method_types_no_longer_supported",
                    "param": "payment_method_types",
                    "message": "payment_method_types is no longer supported: use allowed_payment_method_types.",
                },
            )
        if method["customer"] and params.get("customer") != method["customer"]:
            raise StripeFailure(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "payment_method_unexpected_state",
                    "param": "payment_method",
                    "message": "The provided PaymentMethod belongs to another customer.",
                },
            )
        try:
            amount = int(params["amount"])
        except (KeyError, ValueError):
            raise StripeFailure(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "parameter_missing",
                    "param": "amount",
                    "message": "Missing required param: amount.",
                },
            ) from None
        intent: dict[str, Any] = {
            "id": _new("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": str(params.get("currency", "")).lower(),
            "customer": params.get("customer"),
            "payment_method": method_id,
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
            "livemode": False,
            "status": "requires_confirmation",
            "last_payment_error": None,
            "latest_charge": None,
            "client_secret": None,
            "payment_method_types": params.get("allowed_payment_method_types", ["card"]),
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        confirm = params.get("confirm") == "true"
        off_session = params.get("off_session") == "true"
        failure: dict[str, Any] | None = None
        if confirm:
            if behaviour is None:
                intent.update(status="succeeded", amount_received=amount, latest_charge=_new("ch"))
            elif behaviour[0] == "authentication_required" and not off_session:
                intent.update(status="requires_action", next_action={"type": "use_stripe_sdk"})
            else:
                code, decline = behaviour
                failure = {
                    "type": "card_error",
                    "code": code,
                    "decline_code": decline,
                    "charge": _new("ch"),
                    "message": "Your card was declined."
                    if code != "authentication_required"
                    else "Your card was declined. This transaction requires authentication.",
                }
                intent.update(
                    status="requires_payment_method",
                    last_payment_error=dict(failure),
                    latest_charge=failure["charge"],
                )
        with self._lock:
            self.payment_intents[intent["id"]] = intent
        if intent["status"] in ("succeeded", "requires_payment_method"):
            self._deliver(intent)
        if failure is not None:
            return 402, {"error": {**failure, "payment_intent": intent}}
        return 200, intent

    def _search(self, params: dict[str, Any]) -> dict[str, Any]:
        query = str(params.get("query", ""))
        clauses = [c.strip() for c in re.split(r"\s+AND\s+", query) if c.strip()]
        wanted = []
        for clause in clauses:
            match = re.fullmatch(r"metadata\['([^']+)'\]:'([^']*)'", clause)
            if not match:
                raise StripeFailure(
                    400,
                    {
                        "type": "invalid_request_error",
                        "code": "parameter_invalid_string",
                        "param": "query",
                        "message": f"Unsupported search clause: {clause}",
                    },
                )
            wanted.append(match.groups())
        with self._lock:
            found = [
                pi
                for pi in self.payment_intents.values()
                if all(pi["metadata"].get(k) == v for k, v in wanted)
            ]
        found.sort(key=lambda pi: pi["created"], reverse=True)
        limit = int(params.get("limit", 10))
        return {
            "object": "search_result",
            "url": "/v1/payment_intents/search",
            "has_more": len(found) > limit,
            "next_page": None,
            "data": found[:limit],
        }

    def _refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = params.get("payment_intent")
        with self._lock:
            intent = self.payment_intents.get(str(intent_id))
            if intent is None:
                raise _missing("payment_intent", str(intent_id))
            if intent["status"] != "succeeded":
                raise StripeFailure(
                    400,
                    {
                        "type": "invalid_request_error",
                        "code": "charge_not_refundable",
                        "message": "This PaymentIntent has no succeeded charge to refund.",
                    },
                )
            already = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent_id)
            amount = int(params.get("amount", intent["amount_received"] - already))
            if amount < 1 or already + amount > intent["amount_received"]:
                raise StripeFailure(
                    400,
                    {
                        "type": "invalid_request_error",
                        "code": "charge_already_refunded" if already else "amount_too_large",
                        "message": "The refund amount is more than what is left on the charge.",
                    },
                )
            refund = {
                "id": _new("re"),
                "object": "refund",
                "amount": amount,
                "currency": intent["currency"],
                "payment_intent": intent_id,
                "charge": intent["latest_charge"],
                "status": "succeeded",
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
            self.refunds[refund["id"]] = refund
        return refund


def _missing(kind: str, ident: str) -> StripeFailure:
    return StripeFailure(
        404,
        {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": "id",
            "message": f"No such {kind}: '{ident}'",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--webhook-url", default=None)
    args = parser.parse_args()
    fake = FakeStripe(port=args.port, webhook_url=args.webhook_url, echo=True).start()
    print(
        f"Fake Stripe API on {fake.url} (STRIPE_API_BASE={fake.url} STRIPE_SECRET_KEY=env:... holding {API_KEY}, "
        f"STRIPE_WEBHOOK_SECRET=env:... holding {WEBHOOK_SECRET})",
        flush=True,
    )
    threading.Event().wait()


if __name__ == "__main__":
    main()
