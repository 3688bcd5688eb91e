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
    body = alert["body"]
    message = _message(target, alert, data, body, badge)
    # Texts are ours but data values may be long (device names): shorten the body, never the ids.
    while len(json.dumps(message, ensure_ascii=False).encode()) > MAX_BYTES and len(body) > 20:
        body = body[: max(20, len(body) - 200)].rstrip() + "…"
        message = _message(target, alert, data, body, badge)
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
