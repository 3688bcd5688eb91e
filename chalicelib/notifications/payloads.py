"""The FCM v1 message of an alert for one device (mobile_contract/push/<kind>.schema.json).

Built as plain JSON here, so the console sender can print it without importing firebase_admin
and the tests can validate it; `senders.FcmSender` turns it into firebase_admin's Message.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BYTES = 4096  # FCM's limit on a message's payload
TTL_SECONDS = 24 * 3600  # an alert older than a day is read in the inbox, not pushed


def message_for(*, target: str, alert: dict[str, Any], badge: int) -> dict[str, Any]:
    """`alert`: the inbox item as the API shows it (`inbox.to_wire`): id, kind, category, title,
    body, deep_link, situation, data (str → str)."""
    return messages_for(targets=[target], alert=alert, badge=badge)[0]


def messages_for(*, targets: list[str], alert: dict[str, Any], badge: int) -> list[dict[str, Any]]:
    """The message of one alert for each of these devices, in their order. Built and measured
    once, with the longest target (the messages differ by their target only, so each fits, and
    every device gets the same text); each message is a new dict, sharing the others' parts,
    which nobody modifies: a fan-out builds one message per alert, not one per push."""
    if not targets:
        return []
    base = _measured(max(targets, key=lambda t: len(t.encode())), alert, badge)
    return [{**base, "token": target} for target in targets]


def _measured(target: str, alert: dict[str, Any], badge: int) -> dict[str, Any]:
    data = {
        **{k: str(v) for k, v in (alert.get("data") or {}).items()},
        "alert_id": alert["id"],
        "kind": alert["kind"],
        "category": alert["category"],
        "deep_link": alert["deep_link"],
    }
    if alert.get("situation"):
        # The app opens the help for it (GET /help/situations/{situation}) from the notification
        # itself, without reading the inbox item first.
        data["situation"] = str(alert["situation"])
    text = alert["body"]
    message = _message(target, alert, data, text, badge)
    # Texts are ours but data values may be long (device names): shorten the body, never the ids,
    # down to 20 characters (counted on the text, not on the ellipsis added: it always ends).
    kept = len(text)
    while len(json.dumps(message, ensure_ascii=False).encode()) > MAX_BYTES and kept > 20:
        kept = max(20, kept - 200)
        message = _message(target, alert, data, text[:kept].rstrip() + "…", badge)
    return message


def _message(
    target: str, alert: dict[str, Any], data: dict[str, str], body: str, badge: int
) -> dict[str, Any]:
    return {
        "token": target,
        "data": data,
        "notification": {"title": alert["title"], "body": body},
        "android": {
            "collapse_key": alert["kind"],
            "priority": "high",
            "ttl": f"{TTL_SECONDS}s",
            "notification": {"channel_id": alert["category"], "tag": alert["id"]},
        },
        "apns": {
            "headers": {
                "apns-priority": "10",
                "apns-collapse-id": alert["id"][:64],
                "apns-push-type": "alert",
            },
            "payload": {"aps": {"badge": badge, "sound": "default", "thread-id": alert["category"]}},
        },
    }
