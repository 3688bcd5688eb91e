"""The items a won upgrade leaves in the single table (over store/models.Item; keys in infra/README.md).

Both live in the winner's partition under `UPGRADE#`, which sorts after `PROFILE` and `REQUEST$`:
outside the ranges `GET /me` (`LINE#` to `PROFILE`) and the agents' context (`BILL#` to
`REQUEST$`) read. Both are written in the transaction that records the win (closing.py), whose
condition on the bid (no outcome yet) makes them once.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.store.models import GSI1, Item

RECEIPT_PREFIX = "UPGRADE#RECEIPT#"
GRANT_PREFIX = "UPGRADE#GRANT#"
ENDING = "UPGRADES#ENDING"  # GSI1 partition of the grants still in force, sorted by their end


class UpgradeReceipt(Item, discriminator="upgrade_receipt"):
    """PK=CUSTOMER#<id> SK=UPGRADE#RECEIPT#<created_at>#<bid id>: what a won bid was charged for,
    newest last in key order (`GET /me/receipts` reads it backwards)."""

    receipt_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    offer_id = UnicodeAttribute()
    bid_id = UnicodeAttribute()
    line_id = UnicodeAttribute()
    msisdn = UnicodeAttribute()
    title: MapAttribute[str, str] = MapAttribute()  # the offer's title, per language
    grant: MapAttribute[str, Any] = MapAttribute()  # kind, entry_id, name (per language), days
    amount = NumberAttribute()  # minor units
    currency = UnicodeAttribute()
    charge_id = UnicodeAttribute()
    starts_at = UnicodeAttribute()
    ends_at = UnicodeAttribute()
    created_at = UnicodeAttribute()


class UpgradeGrant(Item, discriminator="upgrade_grant"):
    """PK=CUSTOMER#<id> SK=UPGRADE#GRANT#<bid id>: a grant in force on a line, until `ends_at`. While
    `active`, GSI1 = UPGRADES#ENDING / <ends_at>#<bid id>: the expiry job's list (grants.expire).
    A plan grant keeps the plan it replaced (`previous_plan`) to put it back."""

    gsi1: GSI1[UpgradeGrant] = GSI1()
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    grant_id = UnicodeAttribute()  # the bid's id: one grant per won bid
    customer_id = UnicodeAttribute()
    offer_id = UnicodeAttribute()
    receipt_id = UnicodeAttribute()
    line_id = UnicodeAttribute()
    grant_kind = UnicodeAttribute()  # option | plan
    entry_id = UnicodeAttribute()
    name: MapAttribute[str, str] = MapAttribute()
    previous_plan: MapAttribute[str, Any] = MapAttribute(null=True)
    status = UnicodeAttribute()  # active | ended
    starts_at = UnicodeAttribute()
    ends_at = UnicodeAttribute()
    reminded_at = UnicodeAttribute(null=True)  # the "ends soon" alert was sent
    ended_at = UnicodeAttribute(null=True)


ENGAGEMENT_SK = "ENGAGEMENT"


class OfferEngagement(Item, discriminator="offer_engagement"):
    """PK=OFFER#<id> SK=ENGAGEMENT: how far the engagement job (bidding/engagement.py) got on an
    offer, so a run every 5 minutes does not walk a whole segment again for nothing. The alerts'
    exactly-once is notify()'s dedup key, not this item: a run that dies before recording its page
    sends that page again and nobody is told twice. A cursor is the last evaluated key of the
    Query being walked (JSON), kept until the walk ends."""

    invite_cursor = UnicodeAttribute(null=True)  # {"segment": name, "last": key}
    invited_at = UnicodeAttribute(null=True)  # every eligible customer was invited
    remind_cursor = UnicodeAttribute(null=True)  # {"last": key} of the offer's rank index
    reminded_at = UnicodeAttribute(null=True)  # every bidder was reminded
