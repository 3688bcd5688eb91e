"""The purchases' own items in the single table (over store/models.Item; keys in infra/README.md).

Their sort keys stay outside the ranges other reads cover: `GET /me` reads `LINE#` to `PROFILE`,
and the agents' context reads `BILL#` to `REQUEST$` filtered on known types."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.store.models import GSI1, Item


class OptionPreview(Item, discriminator="option_preview"):
    """PK=CUSTOMER#<id> SK=ADDON#PREVIEW#<token>: what a purchase (`buy`) or a removal (`remove`)
    must be confirmed with: this line, this option, this price; deleted by the change it allows
    (once), refused after `expires_at` (15 min)."""

    action = UnicodeAttribute()  # buy | remove
    line_id = UnicodeAttribute()
    option_id = UnicodeAttribute()
    price_amount = NumberAttribute()  # minor units
    currency = UnicodeAttribute()
    summary: MapAttribute[str, Any] = MapAttribute()  # what the preview showed
    # The purchase whose passkey confirmation was checked against this preview: a run of that
    # purchase resumed after a failure (its challenge already spent) goes on without asking again.
    confirmed_for = UnicodeAttribute(null=True)


class PendingCharge(Item, discriminator="pending_charge"):
    """PK=CUSTOMER#<id> SK=CHARGE#<purchase id>: a line item for the customer's next bill (an option
    bought in the app), `pending` until a bill takes it. The purchase id derives from the
    Idempotency-Key, so a purchase writes its charge once, however often it is retried.
    While pending, GSI1 = CHARGES#PENDING / <created_at>#<purchase id>: the billing system's feed
    (`admin_pending_charges`); the bill that lists it (an item with `charge_id`) marks it billed and
    takes it out of the feed, in the bill's own transaction."""

    gsi1: GSI1[PendingCharge] = GSI1()
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    customer_number = UnicodeAttribute(null=True)  # how the billing system knows the customer
    bill_id = UnicodeAttribute(null=True)  # once billed
    # charge: an amount for the next bill (billed by a bill item with its id); subscription_end: a
    # recurring option removed in the app, to stop billing from `ends_at` (acknowledged by the
    # billing system through admin_pending_charges, never billed). Absent: charge.
    kind = UnicodeAttribute(null=True)
    term = UnicodeAttribute(null=True)  # the option's: a recurring one is billed monthly after
    monthly_from = UnicodeAttribute(null=True)  # recurring: the first day billed as a subscription
    ends_at = UnicodeAttribute(null=True)  # subscription_end: the first day no longer billed

    purchase_id = UnicodeAttribute()
    request_id = UnicodeAttribute()  # the ServiceRequest that records the purchase
    customer_id = UnicodeAttribute()
    line_id = UnicodeAttribute()
    option_id = UnicodeAttribute()
    label: MapAttribute[str, str] = MapAttribute()  # language -> bill line text
    amount = NumberAttribute()  # minor units
    currency = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | billed
    purchase: MapAttribute[str, Any] = MapAttribute()  # the purchase as answered (replays, resumes)
    created_at = UnicodeAttribute()
