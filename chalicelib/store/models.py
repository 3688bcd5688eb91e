"""The single table's item types.

Keys carry a readable type prefix (`CUSTOMER#...`, `SESSION#...`) so that every read endpoint is
one GetItem or one Query on a key prefix: the `type` discriminator only tells pynamodb which class to
build, it filters after the read and is never used to select items. The access patterns are listed
in infra/README.md; keep that table true when adding an item type.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar, overload

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.config import get_settings

_settings = get_settings()


class _Meta:
    table_name = _settings.table_name
    host = _settings.dynamodb_endpoint
    region = _settings.aws_region
    # pynamodb turns this into botocore's "standard" retry mode with 1 + 3 attempts (throttling
    # and 5xx are retried with jittered backoff); the timeouts stay far below Lambda's.
    max_retry_attempts = 3
    connect_timeout_seconds = 2
    read_timeout_seconds = 5


_M = TypeVar("_M", bound=Model)


class GSI1(GlobalSecondaryIndex[_M]):
    """Secondary access paths: `CUSTOMER#<id>` / `PASSKEY#...` lists a customer's passkeys;
    `DEFERRED#<day>#<shard>` / `<deliver_after>#...` finds alerts whose push waits (quiet hours, retry).

    Each item type declares its own `gsi1: GSI1[<type>]`: a query through it reads only that type
    (pynamodb adds the discriminator to the query), so its results are typed as that type."""

    class Meta(_Meta):
        index_name = "GSI1"
        projection = AllProjection()

    GSI1PK = UnicodeAttribute(hash_key=True)
    GSI1SK = UnicodeAttribute(range_key=True)


# Typing notes. A raw MapAttribute is annotated with its key and value types (pynamodb cannot infer
# them). pynamodb types `ListAttribute(of=X)` as a list of X *attribute objects* rather than of X's
# values (pynamodb/PynamoDB#1246), so list attributes are annotated with their element type and the
# `of=` argument's type is ignored there, and only there. NumberAttribute values are typed float
# (json.loads gives an int for the integers stored here): callers that need an int say `int(...)`.


class Item(Model):
    class Meta(_Meta):
        pass

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    type = DiscriminatorAttribute(attr_name="type")
    # Epoch seconds; DynamoDB's TTL deletes the item some time after (reads still check it).
    expires_at = NumberAttribute(null=True)


def customer_pk(customer_id: str) -> str:
    return f"CUSTOMER#{customer_id}"


def number_pk(customer_number: str) -> str:
    return f"CUSTNUM#{customer_number}"


class Customer(Item, discriminator="customer"):
    """PK=CUSTOMER#<id> SK=PROFILE."""

    customer_id = UnicodeAttribute()
    customer_number = UnicodeAttribute()
    name = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    user_handle = UnicodeAttribute()  # WebAuthn user.id (base64url of 32 random bytes)
    passkey_count = NumberAttribute(default=0)
    # Of them, those that sync (backup eligible): the phone's loss does not take them with it.
    synced_passkey_count = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    language = UnicodeAttribute(default="fr")  # of alerts and messages: "fr" | "en"
    time_zone = UnicodeAttribute(default="Europe/Paris")  # IANA; quiet hours are in it
    # line1, line2, postal_code, city, country
    postal_address: MapAttribute[str, Any] = MapAttribute(null=True)
    segments = UnicodeSetAttribute(null=True)  # marketing segments set by admins (offers' eligibility)
    # Marketing consent (chalicelib/privacy/consent.py): absent means none. Kept on the profile, which
    # every alert already reads, so checking it costs no read of its own.
    marketing_consent = BooleanAttribute(null=True)
    marketing_consent_at = UnicodeAttribute(null=True)  # of the last change


class RateWindow(Item, discriminator="rate_window"):
    """PK=RATE#<limit>#<hash of the client or customer> SK=W#<window length>#<window start, epoch s>: requests
    counted in one fixed window (conditional ADD: never past the limit), gone by TTL after it."""

    # Stored as `count`; named `hits` here because `count` is Model's own class method (Query count).
    hits = NumberAttribute(default=0, attr_name="count")


class SegmentMember(Item, discriminator="segment_member"):
    """PK=SEGMENT#<name> SK=CUSTOMER#<id>: who is in a segment (every customer is in `all`), for
    announcements; kept in step with Customer.segments by the admin actions."""

    customer_id = UnicodeAttribute()


class CustomerNumber(Item, discriminator="customer_number"):
    """PK=CUSTNUM#<number> SK=CUSTNUM: makes customer numbers unique and maps them to ids."""

    customer_id = UnicodeAttribute()


class ActivationCode(Item, discriminator="activation_code"):
    """PK=CUSTNUM#<number> SK=ACTIVATION: the one live code (scrypt hash only), deleted on use."""

    customer_id = UnicodeAttribute()
    code_id = UnicodeAttribute()
    code_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()


class EnrolmentHandle(Item, discriminator="enrolment_handle"):
    """PK=ENROL#<sha256 of the handle> SK=HANDLE: the letter's unguessable enrolment handle → the
    customer and the activation code it goes with (a newer code makes it useless)."""

    customer_id = UnicodeAttribute()
    customer_number = UnicodeAttribute()
    code_id = UnicodeAttribute()


class ActivationAttempts(Item, discriminator="activation_attempts"):
    """PK=ENROL#<sha256 of the handle> SK=ATTEMPTS: wrong codes sent with one handle, and the time
    before which the next try is refused (growing back-off). Only the letter's holder can reach it."""

    failures = NumberAttribute(default=0)
    not_before = NumberAttribute(null=True)


class Challenge(Item, discriminator="challenge"):
    """PK=CHALLENGE#<id> SK=CHALLENGE: a WebAuthn challenge, consumed by a conditional delete."""

    challenge = UnicodeAttribute()  # base64url
    purpose = UnicodeAttribute()  # "register" | "login"
    customer_id = UnicodeAttribute(null=True)
    activation_code_id = UnicodeAttribute(null=True)  # set when enrolling with an activation code
    algorithms: ListAttribute[float] = ListAttribute(of=NumberAttribute, null=True)  # type: ignore[arg-type]
    binding = UnicodeAttribute(null=True)  # step-up: the transaction the challenge commits to


class Passkey(Item, discriminator="passkey"):
    """PK=CREDENTIAL#<credential id> SK=CREDENTIAL, GSI1: CUSTOMER#<id> / PASSKEY#<created_at>.

    Keyed by credential id so that login is one GetItem and a credential id can never be
    registered twice (conditional put), whoever tries.
    """

    gsi1: GSI1[Passkey] = GSI1()
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    credential_id = UnicodeAttribute()  # base64url
    customer_id = UnicodeAttribute()
    user_handle = UnicodeAttribute()
    public_key = UnicodeAttribute()  # base64url of the COSE key
    sign_count = NumberAttribute(default=0)
    transports: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    aaguid = UnicodeAttribute()
    backup_eligible = BooleanAttribute()
    backed_up = BooleanAttribute()
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    last_used_at = UnicodeAttribute(null=True)


class Session(Item, discriminator="session"):
    """PK=CUSTOMER#<id> SK=SESSION#<sid>: one signed-in device; the refresh token's hash rotates."""

    session_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    refresh_hash = UnicodeAttribute()
    # newest last, for reuse detection
    spent_hashes: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    # The last rotation, for an app that retries a refresh whose answer it lost (grace window):
    # the hash it spent, when, and the new secret sealed with a key only that spent token derives.
    previous_hash = UnicodeAttribute(null=True)
    rotated_at = NumberAttribute(null=True)
    grace_box = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    last_refreshed_at = UnicodeAttribute()
    device = UnicodeAttribute(null=True)
    passkey_id = UnicodeAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)
    revoked_reason = UnicodeAttribute(null=True)


class SecurityEvent(Item, discriminator="security_event"):
    """PK=CUSTOMER#<id> SK=SECEVENT#<iso time>#<id>: the customer's security history."""

    kind = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    detail: MapAttribute[str, Any] = MapAttribute(null=True)


class Installation(Item, discriminator="installation"):
    """PK=INSTALLATION#<id> SK=INSTALLATION: which customer an app installation belongs to now,
    so that a phone that changes hands stops receiving the previous customer's alerts.
    `token_hash`: SHA-256 of the FCM registration token last presented for it; only a caller who
    presents that same token (the phone itself) can move the installation to another account."""

    customer_id = UnicodeAttribute()
    token_hash = UnicodeAttribute(null=True)


class Device(Item, discriminator="device"):
    """PK=CUSTOMER#<id> SK=DEVICE#<installation id>: a push recipient (one app installation)."""

    installation_id = UnicodeAttribute()
    fcm_token = UnicodeAttribute()
    platform = UnicodeAttribute()  # ios | android
    app_version = UnicodeAttribute()
    locale = UnicodeAttribute()
    session_id = UnicodeAttribute(null=True)  # signing this session out unregisters the device
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class DeviceList(Item, discriminator="device_list"):
    """PK=CUSTOMER#<id> SK=DEVICES: the customer's Device items in one, so that the push fan-out
    reads them in the BatchGetItem it makes anyway (with the profile) instead of one Query each.
    `devices`: installation id -> {"fcm_token", "updated_at", "expires_at"}. Written in the same
    transactions as the Device items (notifications/devices.py); absent for a customer whose devices
    predate it (their next registration creates it), and then the fan-out queries the Device items."""

    devices: MapAttribute[str, Any] = MapAttribute(null=True)


class NotificationPreferences(Item, discriminator="notification_preferences"):
    """PK=CUSTOMER#<id> SK=PREFS#NOTIFICATIONS. Absent means every category on, no quiet hours."""

    # category -> bool (security is never stored: always on)
    categories: MapAttribute[str, bool] = MapAttribute(null=True)
    quiet_start = UnicodeAttribute(null=True)  # "HH:MM" in the customer's time zone
    quiet_end = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)


class InboxItem(Item, discriminator="inbox_item"):
    """PK=CUSTOMER#<id> SK=INBOX#<alert id> (alert ids sort by creation: newest first is one Query).

    The inbox is the source of truth; push delivery is recorded on the item. While a push waits
    (quiet hours, retry), GSI1 holds it under DEFERRED#<day>#<shard> (notifications/delivery.py).
    """

    gsi1: GSI1[InboxItem] = GSI1()
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    alert_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    category = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    language = UnicodeAttribute()
    deep_link = UnicodeAttribute()
    data: MapAttribute[str, str] = MapAttribute(null=True)  # the ids the app needs (strings)
    dedup_key = UnicodeAttribute()
    created_at = UnicodeAttribute()
    read_at = UnicodeAttribute(null=True)
    delivery_status = UnicodeAttribute(
        default="pending"
    )  # pending|deferred|retrying|sent|suppressed|no_devices|failed
    # installation id -> outcome ("sent", "unregistered", "failed: ...")
    delivered: MapAttribute[str, str] = MapAttribute(null=True)
    delivery_attempts = NumberAttribute(default=0)
    deliver_after = UnicodeAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)


class InboxCounter(Item, discriminator="inbox_counter"):
    """PK=CUSTOMER#<id> SK=COUNTER#INBOX: the unread count (the app's badge) in one GetItem."""

    unread = NumberAttribute(default=0)


class AlertDedup(Item, discriminator="alert_dedup"):
    """PK=CUSTOMER#<id> SK=DEDUP#<key>: a producer's dedup key, so the same event never makes two items."""

    alert_id = UnicodeAttribute()


# --- account: catalogue, lines, usage, requests -----------------------------------------------------


class CatalogEntry(Item, discriminator="catalog_entry"):
    """PK=CATALOG SK=PLAN#<id> | OPTION#<id>: what can be subscribed, editable by admins."""

    entry_id = UnicodeAttribute()
    entry_kind = UnicodeAttribute()  # plan | option
    name: MapAttribute[str, str] = MapAttribute()  # language -> name
    # data_mb / voice_min / sms -> number, or null for unlimited (absent: none)
    allowances: MapAttribute[str, Any] = MapAttribute()
    price_amount = NumberAttribute()  # minor units, monthly
    currency = UnicodeAttribute()
    # plans: the options that can stay on them
    compatible_options: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    # plan | option | top_up | bolt_on; absent on entries stored before it: the entry_kind
    category = UnicodeAttribute(null=True)
    # recurring | one_off | until_cycle_end (both last to the end of the cycle); absent: recurring
    term = UnicodeAttribute(null=True)
    description: MapAttribute[str, str] = MapAttribute(null=True)  # language -> text
    # Abroad (plans only; account/roaming.py): EU fair use and each other zone's allowance and prices.
    # Absent: account/roaming.py DEFAULT_TERMS.
    roaming: MapAttribute[str, Any] = MapAttribute(null=True)
    updated_at = UnicodeAttribute()


class Line(Item, discriminator="line"):
    """PK=CUSTOMER#<id> SK=LINE#<line id>#META. `#META` sorts after the line's `#C#...` cycles, so a
    descending Query on `LINE#<id>#` returns the line then its latest cycles in one read."""

    line_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    msisdn = UnicodeAttribute()
    # snapshot of the catalogue entry at subscription (the contract's terms)
    plan: MapAttribute[str, Any] = MapAttribute()
    # Snapshots too; a bought one also has `starts_at` and `ends_at` (UTC ISO 8601; no `ends_at`:
    # until removed), and counts in the allowances only between them (account/cycles.py).
    options: ListAttribute[dict[str, Any]] = ListAttribute(of=MapAttribute, null=True)  # type: ignore[arg-type]
    anchor_day = NumberAttribute()  # 1..28: the billing cycle starts on this day of the month
    status = UnicodeAttribute()  # active | suspended
    # Set when the customer suspended the line in the app (account/suspension.py): {reason: lost |
    # stolen, at, by: customer, request_id}. A suspended line without it was suspended by the
    # provider, which only the provider restores.
    suspension: MapAttribute[str, Any] = MapAttribute(null=True)
    # Abroad: the customer's data spending limit in minor units (account/roaming.py); absent: the default.
    roaming_limit = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class LineOwner(Item, discriminator="line_owner"):
    """PK=LINE#<line id> SK=OWNER: what usage ingestion needs from a line id (owner, cycle anchor)."""

    customer_id = UnicodeAttribute()
    anchor_day = NumberAttribute()


def cycle_sk(line_id: str, start: date | str) -> str:
    """The sort key of a line's cycle item (`CycleUsage`): `start` is the cycle's first day (a date,
    or its YYYY-MM-DD)."""
    return f"LINE#{line_id}#C#{start if isinstance(start, str) else start.isoformat()}"


class CycleUsage(Item, discriminator="cycle_usage"):
    """PK=CUSTOMER#<id> SK=LINE#<line id>#C#<cycle start> (`cycle_sk`): totals of one billing cycle,
    in base units (data KB, voice seconds, SMS)."""

    line_id = UnicodeAttribute()
    cycle_start = UnicodeAttribute()
    data_kb = NumberAttribute(default=0)
    voice_s = NumberAttribute(default=0)
    sms = NumberAttribute(default=0)
    as_of = UnicodeAttribute(null=True)  # occurred_at of the newest record counted
    # Abroad (account/roaming.py). Usage per roaming zone, in base units: EU usage also counts in the
    # home totals above (fair use), the other zones' only here.
    eu_data_kb = NumberAttribute(default=0)
    eu_voice_s = NumberAttribute(default=0)
    eu_sms = NumberAttribute(default=0)
    zone_1_data_kb = NumberAttribute(default=0)
    zone_1_voice_s = NumberAttribute(default=0)
    zone_1_sms = NumberAttribute(default=0)
    zone_2_data_kb = NumberAttribute(default=0)
    zone_2_voice_s = NumberAttribute(default=0)
    zone_2_sms = NumberAttribute(default=0)
    # The data spending limit this cycle: lifted by the customer; the net spend when data was stopped
    # (set: data is stopped); charges of data carried while stopped, waived when it resumed.
    roaming_lifted = BooleanAttribute(null=True)
    roaming_stop_spent = NumberAttribute(null=True)
    roaming_stopped_at = UnicodeAttribute(null=True)
    roaming_waived = NumberAttribute(null=True)


class DailyUsage(Item, discriminator="daily_usage"):
    """PK=CUSTOMER#<id> SK=USAGEDAY#<line id>#<date>: one day's totals, and the (hashed) ids of the
    records counted in them, which make a replayed record count once."""

    line_id = UnicodeAttribute()
    day = UnicodeAttribute()
    data_kb = NumberAttribute(default=0)
    voice_s = NumberAttribute(default=0)
    sms = NumberAttribute(default=0)
    counted = UnicodeSetAttribute(null=True)


class PlanChangePreview(Item, discriminator="plan_change_preview"):
    """PK=CUSTOMER#<id> SK=PREVIEW#<token>: the exact preview a plan change must be confirmed with (15 min)."""

    line_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    summary: MapAttribute[str, Any] = MapAttribute()


class ServiceRequest(Item, discriminator="service_request"):
    """PK=CUSTOMER#<id> SK=REQUEST#<request id> (time-sortable). Every status change carries a
    reason the customer can read, kept in `history`. While pending, GSI1 = PENDING#<effective date>."""

    gsi1: GSI1[ServiceRequest] = GSI1()
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    request_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    request_kind = UnicodeAttribute()  # plan_change | provider_change | option_purchase | option_removal
    line_id = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | done | rejected
    reason = UnicodeAttribute()
    detail: MapAttribute[str, Any] = MapAttribute(null=True)
    history: ListAttribute[dict[str, Any]] = ListAttribute(of=MapAttribute)  # type: ignore[arg-type]
    effective_date = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


# --- billing: bills, payments, payment methods, idempotency --------------------------------------


class Bill(Item, discriminator="bill"):
    """PK=CUSTOMER#<id> SK=BILL#<bill id>#0; its payments are `BILL#<bill id>#PAY#<payment id>`, so
    one Query (`begins_with BILL#<bill id>#`) reads a bill with its payments.
    GSI1: BILLS#<customer> / <issued_at>#<bill id> lists bills newest first."""

    gsi1: GSI1[Bill] = GSI1()
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    bill_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    line_ids: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    period_start = UnicodeAttribute()
    period_end = UnicodeAttribute()
    issued_at = UnicodeAttribute()
    due_date = UnicodeAttribute()
    currency = UnicodeAttribute()
    # label, amount, tax (minor units)
    items: ListAttribute[dict[str, Any]] = ListAttribute(of=MapAttribute)  # type: ignore[arg-type]
    total_amount = NumberAttribute()  # items' amounts + taxes
    total_tax = NumberAttribute()
    balance = NumberAttribute()  # left to pay
    available = NumberAttribute()  # balance minus payments in flight: what a new payment may take
    status = UnicodeAttribute()  # open | paid
    content_hash = UnicodeAttribute()  # of the imported document: the same bill again changes nothing
    paid_at = UnicodeAttribute(null=True)
    # Payment arrangements (billing/arrangements.py): the active one that holds this overdue bill.
    arrangement_id = UnicodeAttribute(null=True)


class Notice(Item, discriminator="notice"):
    """PK=CUSTOMER#<id> SK=NOTICE#<kind>#<ref>: something the customer should act on (a bill due, a
    failed payment), read by GET /me's single Query (NOTICE# sorts between LINE# and PROFILE).
    Bill-due notices carry GSI1: DUE#<due date> / <customer>#<bill id> (reminders, autopay)."""

    gsi1: GSI1[Notice] = GSI1()
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    notice_kind = UnicodeAttribute()  # bill_due | payment_failed
    customer_id = UnicodeAttribute()
    bill_id = UnicodeAttribute()
    due_date = UnicodeAttribute(null=True)
    amount = NumberAttribute(null=True)
    currency = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)


class Payment(Item, discriminator="payment"):
    """PK=CUSTOMER#<id> SK=BILL#<bill id>#PAY#<payment id>. pending → succeeded | failed, by
    conditional writes. While pending, GSI1 = PAYMENTS#PENDING / <created_at>#... for the sweeper;
    once failed without a provider's answer (a charge may still show up late), GSI1 =
    PAYMENTS#WATCH / <created_at>#... for a day, so a late charge is found and refunded."""

    gsi1: GSI1[Payment] = GSI1()
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    payment_id = UnicodeAttribute()
    bill_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    method_id = UnicodeAttribute()
    status = UnicodeAttribute()
    failure_code = UnicodeAttribute(null=True)
    failure_message = UnicodeAttribute(null=True)
    initiated_by = UnicodeAttribute()  # customer | autopay
    charge_id = UnicodeAttribute(null=True)
    # The provider's idempotency key of this payment's one attempt: random, drawn at creation,
    # never derived from client input (absent on payments made before it existed: the payment id).
    attempt_id = UnicodeAttribute(null=True)
    refund_id = UnicodeAttribute(null=True)  # a charge that showed up after the payment failed, refunded
    refunded_charge_id = UnicodeAttribute(null=True)
    refunded_amount = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class PaymentMethod(Item, discriminator="payment_method"):
    """PK=CUSTOMER#<id> SK=PM#<method id>: a provider's reusable method; never card data."""

    method_id = UnicodeAttribute()
    provider_ref = UnicodeAttribute()
    provider_customer_ref = UnicodeAttribute(
        null=True
    )  # the provider's customer the method is attached to (Stripe: cus_...)
    brand = UnicodeAttribute()
    last4 = UnicodeAttribute()
    exp_month = NumberAttribute()
    exp_year = NumberAttribute()
    label = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()


class BillingSettings(Item, discriminator="billing_settings"):
    """PK=CUSTOMER#<id> SK=SETTINGS#BILLING: default payment method and autopay."""

    default_method_id = UnicodeAttribute(null=True)
    autopay = BooleanAttribute(default=False)
    provider_customer_ref = UnicodeAttribute(
        null=True
    )  # the customer's record at the payment provider (Stripe: cus_...)


class IdempotencyRecord(Item, discriminator="idempotency_record"):
    """PK=CUSTOMER#<id> SK=IDEMP#<key>: an Idempotency-Key's request fingerprint and, once done,
    its outcome (kept 24 h). Keys are scoped to the customer."""

    fingerprint = UnicodeAttribute()
    state = UnicodeAttribute()  # in_progress | done
    locked_until = NumberAttribute()
    outcome = UnicodeAttribute(null=True)  # JSON
    claimed_by = UnicodeAttribute(null=True)  # the run that holds the lease (a random id)


class SandboxCharge(Item, discriminator="sandbox_charge"):
    """The sandbox provider's own memory (what a real provider keeps on its side), so that its
    idempotency holds across Lambda containers. Two items per charge, written together:
    PK=SANDBOX#CHARGE#<idempotency key> SK=CHARGE (the key's one charge, with what it was asked:
    the same key with other parameters is refused) and PK=SANDBOX#CHARGE#<reference>
    SK=REF#<idempotency key> (the charges made for one of our references, as a provider's search by
    metadata finds them). Refunds: PK=SANDBOX#REFUND#<idempotency key> SK=REFUND."""

    charge_id = UnicodeAttribute()
    status = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    decline_code = UnicodeAttribute(null=True)
    reference = UnicodeAttribute(null=True)
    idempotency_key = UnicodeAttribute(null=True)
    provider_ref = UnicodeAttribute(null=True)


# --- upgrade bidding: offers, their gates, bids, results ------------------------------------------


class Offer(Item, discriminator="offer"):
    """PK=OFFER#<id> SK=OFFER. While work remains (bidding, clearing, telling bidders), GSI1 =
    OFFERS#ACTIVE / <closes_at>#<id>: the list of open offers and the clearing job's to-do list.
    status: open → clearing → cleared, or open → cancelled; every move a conditional write. The
    clearing job holds a lease (`lease_owner`, `lease_until`) so overlapping runs never work on one
    offer at once; a run that dies leaves a lease that expires and the next run resumes."""

    gsi1: GSI1[Offer] = GSI1()
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    offer_id = UnicodeAttribute()
    title: MapAttribute[str, str] = MapAttribute()  # {"fr": ..., "en": ...}
    description: MapAttribute[str, str] = MapAttribute()
    inventory = NumberAttribute()
    currency = UnicodeAttribute()
    min_bid = NumberAttribute()
    max_bid = NumberAttribute()  # the list price: bidding never costs more than buying
    increment = NumberAttribute()
    opens_at = UnicodeAttribute()  # UTC ISO 8601 with milliseconds: compared as strings in conditions
    closes_at = UnicodeAttribute()
    eligibility: MapAttribute[str, Any] = MapAttribute()  # plan_ids, segments (empty lists: everyone)
    shards = NumberAttribute()  # bids live in OFFER#<id>#S#<0..shards-1>, each with its gate
    rank_shards = NumberAttribute(null=True)  # GSI1 BIDS#<id> (1, or absent) or BIDS#<id>#<n>
    status = UnicodeAttribute()
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch seconds
    # summary: counts, revenue, digest of the pages, cleared_at
    result: MapAttribute[str, Any] = MapAttribute(null=True)
    result_pages = NumberAttribute(null=True)  # RESULT#<n> items written
    notified_pages = NumberAttribute(default=0)  # result pages whose bidders have been told
    cancel_reason = UnicodeAttribute(null=True)
    # What the winner gets (chalicelib/bidding/grants.py): kind (option | plan), entry_id, days, and
    # the catalogue entry's snapshot taken when the offer was created (the terms bid on). Absent on
    # offers created before grants: their winners are charged and told, nothing is granted.
    grant: MapAttribute[str, Any] = MapAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class OfferGate(Item, discriminator="offer_gate"):
    """PK=OFFER#<id>#S#<n> SK=GATE: the door of one bid shard. Placing, changing or withdrawing a
    bid is a transaction that checks its shard's gate is open and `closes_at` is after the server's
    clock; the clearing job closes every gate before reading the bids, so no bid gets in after."""

    offer_id = UnicodeAttribute()
    status = UnicodeAttribute()  # open | closed | cancelled
    opens_at = UnicodeAttribute()
    closes_at = UnicodeAttribute()


class OfferBid(Item, discriminator="offer_bid"):
    """PK=OFFER#<id>#S#<n> SK=BID#<customer id>: a customer's one bid (the shard is a hash of the
    customer, spreading a popular offer's writes over partitions). GSI1 = BIDS#<offer id> /
    <rank key> sorts bids in clearing order, so a bid's strength is a bounded count of the bids
    ahead of it. The clearing job records each charge's outcome here before the next charge."""

    gsi1: GSI1[OfferBid] = GSI1()
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    bid_id = UnicodeAttribute()
    offer_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    method_id = UnicodeAttribute()
    placed_at = UnicodeAttribute()  # of the last change, milliseconds: the tie-break
    challenge_id = UnicodeAttribute()  # the confirmation that placed it: a retried PUT finds it
    outcome = UnicodeAttribute(null=True)  # won | declined, once charged
    # Set just before the first charge call: a run that finds it asks the provider what happened
    # (by our reference) before charging, so a lost answer is never charged again, however late.
    charge_started_at = UnicodeAttribute(null=True)
    charge_id = UnicodeAttribute(null=True)
    decline_code = UnicodeAttribute(null=True)
    decided_at = UnicodeAttribute(null=True)
    line_id = UnicodeAttribute(null=True)  # the line the grant goes to (chosen when bidding)
    # A declined winning charge waits for a new card until `grace_until` (epoch seconds): the
    # declined attempt's method, the number of attempts (each its own idempotency key).
    grace_until = NumberAttribute(null=True)
    grace_method_id = UnicodeAttribute(null=True)
    charge_attempts = NumberAttribute(null=True)
    # Each card is charged once per bid (the bid's own, then each retry's), and a retry takes only
    # a card the customer gave after the decline: one not among the cards of that moment
    # (`grace_method_ids`), or made the default since (`grace_default_id` was the default then).
    tried_method_ids = UnicodeSetAttribute(null=True)
    grace_method_ids = UnicodeSetAttribute(null=True)
    grace_default_id = UnicodeAttribute(null=True)
    refund_id = UnicodeAttribute(null=True)  # outcome `refunded`: the grant could not be made
    refund_reason = UnicodeAttribute(null=True)  # why (chalicelib/bidding/grants.py PROBLEMS)


class OfferResultPage(Item, discriminator="offer_result_page"):
    """PK=OFFER#<id> SK=RESULT#<page, 5 digits>: the immutable result, in clearing order, as JSON
    (one entry per bid: rank, bid id, bidder, amount, tie-break time, outcome, reason). Written
    once with a not-exists condition."""

    entries = UnicodeAttribute()


_V = TypeVar("_V")


@overload
def plain(value: MapAttribute[str, _V] | dict[str, _V]) -> dict[str, _V]: ...
@overload
def plain(value: None) -> None: ...
def plain(value: MapAttribute[str, _V] | dict[str, _V] | None) -> dict[str, _V] | None:
    """A raw map attribute as a dict: pynamodb gives a MapAttribute at the top level and plain dicts
    inside lists; callers should not care which."""
    if isinstance(value, MapAttribute):
        as_dict: dict[str, _V] = value.as_dict()  # pynamodb leaves as_dict() unannotated: a plain dict
        return as_dict
    return value
