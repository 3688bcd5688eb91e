"""A customer's data export: every personal datum the service holds about them, as one JSON file.

1. `request_export` (POST /me/data-export) writes the export (`preparing`) and the customer's
   pointer to it in one transaction whose condition spaces exports (one per EXPORT_SPACING): a
   second request while one is preparing answers that one; a request after a ready export and
   before the spacing is over is refused with the time left (429, Retry-After).
2. The export item's INSERT reaches the table's stream (chalicelib/notifications/stream.py), which
   calls `produce`: it reads the customer's partition, their passkeys (GSI1) and their bids on open
   offers, writes the file to `exports/<customer id>/<export id>.json` in EXPORTS_BUCKET, marks the
   export ready (conditional: `preparing`) and tells the customer (`privacy.export_ready`, dedup
   key per export). A record delivered again finds the export ready and does nothing; two at once
   write the same key (one file) and one alert (notify's dedup).
3. `export_status` (GET /me/data-export/{id}): the status and, once ready, a presigned GET link
   valid DOWNLOAD_EXPIRES_S; the bucket's lifecycle deletes the file after FILE_KEPT_DAYS.

What is left out of the file, and why: secrets and what only proves them (a session's refresh
token hashes and its sealed grace box, the sandbox's and provider's references of a card or a
customer, a payment's idempotency key, the call code's HMAC, alert dedup keys), a passkey's public
key (verification material that tells nothing about the person; its name, dates, backup state and
transports are exported), the WebAuthn user handle (a random identifier for authenticators), and the
adviser's name on case steps (the adviser's personal data, not the customer's). Card data is only
ever a brand, last 4 digits and expiry (chalicelib/billing/methods.py). Internal bookkeeping items
(dedup markers, counters, idempotency records, previews, queue entries) carry nothing of the person.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import UpdateError

from chalicelib.common.clock import epoch, iso, now
from chalicelib.common.secrets import new_id
from chalicelib.config import get_settings
from chalicelib.errors import NotFound, TemporarilyUnavailable, TooManyAttempts
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.privacy.models import POINTER_SK, DataExport, ExportPointer, export_sk
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.kinds import register_item_kinds
from chalicelib.store.models import Item, Offer, OfferBid, Passkey, customer_pk
from chalicelib.store.objects import s3_client

EXPORT_SPACING = timedelta(hours=24)  # one export per customer per day: each reads their whole partition
EXPORT_KEPT = timedelta(days=30)  # the export's item (its status), by TTL
FILE_KEPT_DAYS = 7  # the file, by the bucket's lifecycle rule (infra/resources.json ExportsBucket)
DOWNLOAD_EXPIRES_S = 900  # a download link
FORMAT_VERSION = 1

# Item type → the file's section. Types not listed here and not in INTERNAL still go to the file,
# under their own type name, through the same filter of secret-looking names: a kind added later
# is exported rather than silently forgotten.
SECTIONS: dict[str, str] = {
    "customer": "profile",
    "line": "lines",
    "cycle_usage": "usage_cycles",
    "daily_usage": "usage_days",
    "service_request": "requests",
    "bill": "bills",
    "payment": "payments",
    "payment_method": "payment_methods",
    "billing_settings": "billing_settings",
    "notice": "notices",
    "pending_charge": "pending_charges",
    "inbox_item": "alerts",
    "notification_preferences": "notification_preferences",
    "session": "sessions",
    "device": "devices",
    "security_event": "security_events",
    "case": "cases",
    "case_event": "case_messages",
    "case_upload": "case_documents",
    "upgrade_receipt": "upgrade_receipts",
    "upgrade_grant": "upgrades",
    "data_export": "data_exports",
}
# Bookkeeping: nothing of the person, or only a secret's proof.
INTERNAL = frozenset(
    {
        "alert_dedup",
        "inbox_counter",
        "idempotency_record",
        "case_queue_entry",
        "case_counter",
        "case_request_key",
        "call_code_pointer",
        "plan_change_preview",
        "option_preview",
        "export_pointer",
        "device_list",  # the devices again (they are exported as `devices`), with their FCM tokens
    }
)
# Per type, fields left out (see the module's docstring).
OMITTED: dict[str, frozenset[str]] = {
    "customer": frozenset({"user_handle", "passkey_count", "synced_passkey_count"}),
    "session": frozenset({"refresh_hash", "spent_hashes", "previous_hash", "grace_box", "rotated_at"}),
    "device": frozenset({"fcm_token"}),
    "payment_method": frozenset({"provider_ref", "provider_customer_ref"}),
    "billing_settings": frozenset({"provider_customer_ref"}),
    # The payment provider's own references (charges, refunds) are the provider's bookkeeping,
    # asked of the provider with the customer's payment id; advisers are not named (their names
    # stay in the agents' case timeline).
    "payment": frozenset({"attempt_id", "charge_id", "refund_id", "refunded_charge_id"}),
    "offer_bid": frozenset({"charge_id", "refund_id"}),
    "upgrade_receipt": frozenset({"charge_id", "refund_id"}),
    "arrangement": frozenset({"cancelled_by"}),
    "case_event": frozenset({"operator"}),
    "inbox_item": frozenset({"dedup_key", "delivered", "GSI1PK", "GSI1SK"}),
    "bill": frozenset({"content_hash"}),
}
# Keys and routing, never the person's data.
_ALWAYS_OMITTED = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "type", "expires_at"})
# Any field whose name says it holds a secret or its proof, whatever its type.
SECRET_NAME = re.compile(r"hash|secret|token|box|pepper|challenge|public_key|_key$", re.IGNORECASE)


def _unavailable() -> TemporarilyUnavailable:
    return TemporarilyUnavailable("Exports are unavailable for a moment: try again shortly.")


# --- storage -----------------------------------------------------------------------------------------


def s3() -> Any:
    settings = get_settings()
    # boto3 is imported on the first export call only: the API's cold start does not pay for it.
    return s3_client(settings.s3_endpoint, settings.aws_region, read_timeout=10)


def object_key(customer_id: str, export_id: str) -> str:
    return f"exports/{customer_id}/{export_id}.json"


# --- asking for an export ------------------------------------------------------------------------------


def _wire(export: DataExport) -> dict[str, Any]:
    return {
        "export_id": export.export_id,
        "status": export.status,
        "requested_at": export.requested_at,
        "ready_at": export.ready_at,
        "file_expires_at": export.file_expires_at,
        "download": None,
    }


def request_export(*, customer_id: str) -> tuple[dict[str, Any], bool]:
    """The export asked for, and whether this call asked for it (False: the one still preparing)."""
    moment = now()
    export_id = new_id("exp", 10)
    pointer = ExportPointer(
        customer_pk(customer_id), POINTER_SK, export_id=export_id, requested_at=iso(moment)
    )
    export = DataExport(
        customer_pk(customer_id),
        export_sk(export_id),
        export_id=export_id,
        customer_id=customer_id,
        status="preparing",
        requested_at=iso(moment),
        expires_at=epoch(moment + EXPORT_KEPT),
    )
    try:
        with transaction() as tx:
            tx.save(
                pointer,
                condition=ExportPointer.PK.does_not_exist()
                | (ExportPointer.requested_at <= iso(moment - EXPORT_SPACING)),
                label="pointer",
            )
            tx.save(export, condition=DataExport.PK.does_not_exist(), label="export")
    except ConditionsFailed:
        return _current(customer_id, moment), False
    log_event("data_export_requested", customer_id=customer_id, export_id=export_id)
    return _wire(export), True


def _current(customer_id: str, moment: datetime) -> dict[str, Any]:
    """The latest export when it is still preparing; else how long until the next may be asked."""
    latest = ExportPointer.get(customer_pk(customer_id), POINTER_SK, consistent_read=True)
    try:
        export = DataExport.get(customer_pk(customer_id), export_sk(latest.export_id), consistent_read=True)
    except DataExport.DoesNotExist:
        export = None
    if export is not None and export.status == "preparing":
        return _wire(export)
    asked = datetime.fromisoformat(latest.requested_at.replace("Z", "+00:00"))
    wait = max(1, int((asked + EXPORT_SPACING - moment).total_seconds()) + 1)
    raise TooManyAttempts(
        "You asked for an export less than 24 hours ago: download that one, or ask again later.",
        retry_after_s=wait,
        code="data_export_too_soon",
    )


def export_status(*, customer_id: str, export_id: str) -> dict[str, Any]:
    """The export's status; once ready, a link valid DOWNLOAD_EXPIRES_S (signed here: no S3 call)."""
    try:
        export = DataExport.get(customer_pk(customer_id), export_sk(export_id))
    except DataExport.DoesNotExist:
        raise NotFound("No such data export.", code="data_export_not_found") from None
    answer = _wire(export)
    if export.status == "ready" and export.object_key:
        moment = now()
        url: str = s3().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": get_settings().exports_bucket,
                "Key": export.object_key,
                "ResponseContentType": "application/json",
                "ResponseContentDisposition": f'attachment; filename="{export.export_id}.json"',
            },
            ExpiresIn=DOWNLOAD_EXPIRES_S,
        )
        answer["download"] = {"url": url, "expires_at": iso(moment + timedelta(seconds=DOWNLOAD_EXPIRES_S))}
    return answer


# --- producing it (the table's stream) ---------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, MapAttribute):
        return {str(k): _plain(v) for k, v in value.as_dict().items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _fields(kind: str, item: Item) -> dict[str, Any]:
    left_out = _ALWAYS_OMITTED | OMITTED.get(kind, frozenset())
    return {
        name: _plain(value)
        for name, value in sorted(item.attribute_values.items())
        if name not in left_out and not SECRET_NAME.search(name) and value is not None
    }


def _passkeys(customer_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": p.credential_id,
            "name": p.name,
            "created_at": p.created_at,
            "last_used_at": p.last_used_at,
            "aaguid": p.aaguid,
            "backed_up": bool(p.backed_up),
            "device_bound": not p.backup_eligible,
            "transports": list(p.transports or []),
        }
        for p in Passkey.gsi1.query(customer_pk(customer_id), Passkey.GSI1SK.startswith("PASSKEY#"))
    ]


def _open_bids(customer_id: str) -> list[dict[str, Any]]:
    """The customer's bids on offers still in play (a bid lives in the offer's partition; a decided
    one is in the customer's own as an upgrade receipt). One GetItem per active offer."""
    from chalicelib.bidding.offers import ACTIVE, bid_key

    found = []
    for offer in Offer.gsi1.query(ACTIVE):
        try:
            bid = OfferBid.get(*bid_key(offer, customer_id))
        except OfferBid.DoesNotExist:
            continue
        found.append(_fields("offer_bid", bid) | {"offer_status": offer.status})
    return found


def collect(customer_id: str) -> dict[str, Any]:
    """Every personal datum held about the customer, by section."""
    register_item_kinds()
    sections: dict[str, list[dict[str, Any]]] = {}
    for item in Item.query(customer_pk(customer_id)):
        kind = str(Item.type.get_discriminator(type(item)))
        if kind in INTERNAL:
            continue
        sections.setdefault(SECTIONS.get(kind, kind), []).append(_fields(kind, item))
    [profile] = sections.pop("profile", [{}])
    return {
        "format_version": FORMAT_VERSION,
        "customer_id": customer_id,
        "profile": profile,
        # Stated even when never answered (absent on the profile means no consent).
        "consents": {
            "marketing": bool(profile.get("marketing_consent")),
            "marketing_changed_at": profile.get("marketing_consent_at"),
        },
        **dict(sorted(sections.items())),
        "passkeys": _passkeys(customer_id),
        "bids": _open_bids(customer_id),
        "left_out": (
            "Secrets and their proofs (refresh token hashes, provider references of cards, idempotency"
            " keys), passkeys' public keys, advisers' names."
        ),
    }


def produce(*, customer_id: str, export_id: str) -> bool:
    """Write the export's file and mark it ready; whether this call did (False: done already)."""
    try:
        export = DataExport.get(customer_pk(customer_id), export_sk(export_id), consistent_read=True)
    except DataExport.DoesNotExist:
        return False  # gone by TTL before a late redelivery: nothing to do
    if export.status != "preparing":
        # Ready already: a delivery that died between marking it and telling the customer is
        # finished here (notify's dedup key makes it one alert whichever delivery sends it).
        _tell(customer_id, export)
        return False
    moment = now()
    document = collect(customer_id) | {"export_id": export_id, "generated_at": iso(moment)}
    key = object_key(customer_id, export_id)
    # The same key whoever writes it: a record handled twice at once leaves one file.
    s3().put_object(
        Bucket=get_settings().exports_bucket,
        Key=key,
        Body=json.dumps(document, ensure_ascii=False, indent=1, default=str).encode(),
        ContentType="application/json",
    )
    try:
        export.update(
            actions=[
                DataExport.status.set("ready"),
                DataExport.ready_at.set(iso(moment)),
                DataExport.object_key.set(key),
                DataExport.file_expires_at.set(iso(moment + timedelta(days=FILE_KEPT_DAYS))),
            ],
            condition=DataExport.status == "preparing",
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False  # another delivery of the record got there first: it tells the customer
    _tell(customer_id, export)
    log_event("data_export_ready", customer_id=customer_id, export_id=export_id)
    return True


def _tell(customer_id: str, export: DataExport) -> None:
    inbox.notify(
        customer_id=customer_id,
        kind="privacy.export_ready",
        data={"export_id": export.export_id, "file_expires_at": export.file_expires_at or ""},
        dedup_key=f"export:{export.export_id}",
    )
