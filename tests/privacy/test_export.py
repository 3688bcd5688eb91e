"""The data export (chalicelib/privacy/export.py): asked for in the app, produced from the table's
stream as one JSON file in S3, downloaded through a link that expires, told by one push."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.privacy import export
from chalicelib.privacy.models import DataExport, export_sk
from chalicelib.store.models import Device, InboxItem, Passkey, PaymentMethod, Session, customer_pk
from tests.privacy.seed import (
    ADVISER,
    ATTEMPT_ID,
    CASE_TEXT,
    DOCUMENT_NAME,
    FCM_TOKEN,
    PROVIDER_CUSTOMER,
    PROVIDER_REF,
    export_objects,
    seed_everything,
)


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - a presigned http(s) URL
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _ready(api: Any, stream: Any, enrolled: Any) -> dict[str, Any]:
    """Ask, let the stream produce it, and answer its status."""
    asked = api.post("/me/data-export", token=enrolled.token)
    assert asked.status == 202, asked.body
    assert asked.body["status"] == "preparing" and asked.body["download"] is None
    stream.drain()
    status = api.get(f"/me/data-export/{asked.body['export_id']}", token=enrolled.token)
    assert status.status == 200, status.body
    return dict(status.body)


def _alerts(customer_id: str, kind: str) -> list[InboxItem]:
    return [
        i
        for i in InboxItem.query(customer_pk(customer_id), InboxItem.SK.startswith("INBOX#"))
        if i.kind == kind
    ]


def test_the_file_holds_every_kind_of_datum(api, app_module, stream, enrol):
    """Profile, consents, lines, usage, requests, bills, payments, the card (brand and last 4), bids,
    alerts, cases with their messages and documents, passkeys, sessions, devices, security events:
    each seeded kind is in the downloaded file.
    Mutation: skip the `_open_bids` section (bids live in the offer's partition) → `bids` empty →
    fails; add "case_event" to INTERNAL → no case messages → fails."""
    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    stream.drain()  # the sign-in's security event becomes an alert
    ids = seed_everything(api, app_module, enrolled)
    status = _ready(api, stream, enrolled)
    assert status["status"] == "ready" and status["ready_at"] and status["file_expires_at"]
    code, raw = _fetch(status["download"]["url"])
    assert code == 200, raw[:300]
    document = json.loads(raw)
    assert document["customer_id"] == customer_id and document["export_id"] == status["export_id"]
    assert document["profile"]["name"] == "Ada Lovelace" and document["profile"]["email"] == "ada@example.com"
    assert document["consents"] == {"marketing": False, "marketing_changed_at": None}
    assert [line["line_id"] for line in document["lines"]] == [ids["line_id"]]
    assert document["usage_cycles"][0]["data_kb"] == 2048 and document["usage_days"][0]["day"] == "2026-11-02"
    assert document["requests"][0]["request_id"] == "req_00000000000000000001"
    assert [b["bill_id"] for b in document["bills"]] == [ids["bill_id"]]
    assert document["payments"][0]["amount"] == 1559
    [card] = document["payment_methods"]
    assert (card["brand"], card["last4"], card["exp_year"]) == ("visa", "4242", 2030)
    assert [b["offer_id"] for b in document["bids"]] == [ids["offer_id"]] and document["bids"][0][
        "amount"
    ] == 2500
    held = {i.alert_id for i in InboxItem.query(customer_pk(customer_id), InboxItem.SK.startswith("INBOX#"))}
    assert held and held >= {a["alert_id"] for a in document["alerts"]} >= held - {
        i.alert_id for i in _alerts(customer_id, "privacy.export_ready")
    }
    assert [c["case_id"] for c in document["cases"]] == [ids["case_id"]]
    assert CASE_TEXT in [m.get("text") for m in document["case_messages"]]
    assert document["case_documents"][0]["file_name"] == DOCUMENT_NAME
    [passkey] = document["passkeys"]
    assert passkey["name"] == "Test phone" and passkey["created_at"]
    held_sessions = Session.query(customer_pk(customer_id), Session.SK.startswith("SESSION#"))
    assert [s["session_id"] for s in document["sessions"]] == [s.session_id for s in held_sessions]
    assert document["devices"][0]["platform"] == "android"
    assert document["security_events"]


def test_nothing_secret_is_in_the_file(api, app_module, stream, enrol):
    """No refresh token or its hashes, no sealed grace box, no push token, no provider reference of
    the card or the customer, no payment idempotency key, no passkey public key or user handle, no
    adviser's name: each value, read from the table, is absent from the file's text.
    Mutation: drop the "session" and "device" entries of OMITTED and make SECRET_NAME match nothing
    → the refresh hash and the push token are exported → fails (either guard alone still holds:
    the names' filter catches what an omitted list forgets)."""
    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    seed_everything(api, app_module, enrolled)
    refreshed = api.post("/auth/token/refresh", {"refresh_token": enrolled.session["refresh_token"]})
    assert refreshed.status == 200, refreshed.body  # a spent hash and a grace box now exist
    status = _ready(api, stream, enrolled)
    _, raw = _fetch(status["download"]["url"])
    text = raw.decode()
    [session] = Session.query(customer_pk(customer_id), Session.SK.startswith("SESSION#"))
    [passkey] = Passkey.gsi1.query(customer_pk(customer_id), Passkey.GSI1SK.startswith("PASSKEY#"))
    [device] = Device.query(customer_pk(customer_id), Device.SK.startswith("DEVICE#"))
    secrets = {
        "refresh token (first)": enrolled.session["refresh_token"],
        "refresh token (current)": refreshed.body["refresh_token"],
        "access token": enrolled.token,
        "refresh hash": session.refresh_hash,
        "spent hash": (session.spent_hashes or [""])[0],
        "grace box": session.grace_box or "",
        "previous hash": session.previous_hash or "",
        "push token": device.fcm_token,
        "card reference": PROVIDER_REF,
        "provider customer": PROVIDER_CUSTOMER,
        "payment idempotency key": ATTEMPT_ID,
        "passkey public key": passkey.public_key,
        "user handle": passkey.user_handle,
        "adviser": ADVISER,
    }
    assert device.fcm_token == FCM_TOKEN and session.spent_hashes and session.grace_box
    leaked = [name for name, value in secrets.items() if value and value in text]
    assert leaked == []
    for forbidden in ("refresh_hash", "spent_hashes", "grace_box", "fcm_token", "provider_ref", "public_key"):
        assert f'"{forbidden}"' not in text
    # A card is never more than brand, last 4 and expiry, in the table as in the file.
    [card] = PaymentMethod.query(customer_pk(customer_id), PaymentMethod.SK.startswith("PM#"))
    assert card.last4 in text and "4242424242424242" not in text


def test_the_link_expires(api, stream, enrol):
    """The link works, and is signed (SigV4) for DOWNLOAD_EXPIRES_S (15 minutes) from the moment it
    was asked for, which the answer's `expires_at` states. The local S3 (moto) does not enforce a
    presigned URL's expiry, so the signed parameters are checked: S3 refuses the link past them.
    Mutation: `ExpiresIn=7 * 24 * 3600` → X-Amz-Expires is not 900 → fails."""
    enrolled = enrol()
    status = _ready(api, stream, enrolled)
    url = status["download"]["url"]
    assert _fetch(url)[0] == 200
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Signature"][0]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 120
    expires_at = datetime.fromisoformat(status["download"]["expires_at"].replace("Z", "+00:00"))
    assert abs((expires_at - signed_at).total_seconds() - 900) <= 2


def test_one_file_and_one_push_whatever_is_replayed(api, stream, enrol, fcm):
    """Two requests at once make one export (the same id, 202 both); its record handled again (a
    redelivered stream batch) and produced twice more leave one file, one alert, one push.
    Mutation: drop the pointer's condition → two exports → fails; a key with the time in it →
    two files → fails; notify's dedup key per call → two alerts → fails."""
    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    api.put(
        "/me/devices/inst-once-0001",
        {"fcm_token": "tok-export-once-" + "y" * 20, "platform": "ios", "app_version": "1.0", "locale": "fr"},
        token=enrolled.token,
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: api.post("/me/data-export", token=enrolled.token), range(4)))
    assert {a.status for a in answers} == {202}
    assert len({a.body["export_id"] for a in answers}) == 1
    export_id = answers[0].body["export_id"]
    exports = list(DataExport.query(customer_pk(customer_id), DataExport.SK.startswith("USERDATA#EXPORT#")))
    assert [e.export_id for e in exports] == [export_id]
    stream.drain()
    assert export.produce(customer_id=customer_id, export_id=export_id) is False  # a redelivery
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: export.produce(customer_id=customer_id, export_id=export_id), range(2)))
    stream.drain()
    assert export_objects(customer_id) == [f"exports/{customer_id}/{export_id}.json"]
    [alert] = _alerts(customer_id, "privacy.export_ready")
    assert alert.data is not None and alert.data["export_id"] == export_id
    pushes = [m for m in fcm.accepted if (m.get("data") or {}).get("kind") == "privacy.export_ready"]
    assert len(pushes) == 1


def test_a_lost_push_is_sent_by_the_next_delivery(api, stream, enrol, monkeypatch):
    """A delivery that marked the export ready and died before telling: the record handled again
    tells the customer, once.
    Mutation: return before `_tell` when the export is already ready → no alert → fails."""
    enrolled = enrol()
    customer_id = enrolled.customer["customer_id"]
    told = export._tell
    monkeypatch.setattr(export, "_tell", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("died")))
    asked = api.post("/me/data-export", token=enrolled.token).body
    stream.drain()  # the stream reports the record failed; the export is ready, nobody told
    item = DataExport.get(customer_pk(customer_id), export_sk(asked["export_id"]), consistent_read=True)
    assert item.status == "ready" and not _alerts(customer_id, "privacy.export_ready")
    monkeypatch.setattr(export, "_tell", told)
    assert export.produce(customer_id=customer_id, export_id=asked["export_id"]) is False
    assert export.produce(customer_id=customer_id, export_id=asked["export_id"]) is False
    assert len(_alerts(customer_id, "privacy.export_ready")) == 1


def test_one_export_a_day(api, stream, enrol, monkeypatch):
    """After a ready export, another within 24 hours is refused with the time left; after 24 hours
    a new one is made.
    Mutation: `<=` → `>=` in the pointer's condition → a new export at once → fails."""
    enrolled = enrol()
    first = _ready(api, stream, enrolled)
    again = api.post("/me/data-export", token=enrolled.token)
    assert again.status == 429 and again.error_code == "data_export_too_soon"
    assert 86000 <= int(again.headers["Retry-After"]) <= 86401
    later = export.now() + export.EXPORT_SPACING
    monkeypatch.setattr(export, "now", lambda: later)
    fresh = api.post("/me/data-export", token=enrolled.token)
    assert fresh.status == 202 and fresh.body["export_id"] != first["export_id"]


def test_another_customers_export_is_not_found(api, stream, enrol):
    """Mutation: read the export by its id alone (any customer's partition) → 200 → fails."""
    owner, other = enrol(), enrol()
    status = _ready(api, stream, owner)
    answer = api.get(f"/me/data-export/{status['export_id']}", token=other.token)
    assert answer.status == 404 and answer.error_code == "data_export_not_found"
    assert api.get("/me/data-export/exp_nope", token=owner.token).error_code == "invalid_path_id"


@pytest.mark.parametrize("path", ["/me/data-export", "/me/consents"])
def test_an_ended_session_is_refused(api, enrol, path):
    """A token whose session ended (a lost phone signed out from another device) gets nothing."""
    enrolled = enrol()
    assert api.post("/auth/logout", token=enrolled.token).status in (200, 204)
    answer = (
        api.post(path, token=enrolled.token)
        if path.endswith("export")
        else api.get(path, token=enrolled.token)
    )
    assert answer.status == 401 and answer.error_code == "session_revoked"
