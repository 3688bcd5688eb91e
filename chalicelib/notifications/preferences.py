"""What the customer wants pushed, and when: categories on/off, quiet hours in their time zone.

Security alerts cannot be switched off and ignore quiet hours. Preferences only ever hold back the
push: the inbox always keeps the alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.common.clock import iso, now
from chalicelib.errors import ValidationFailed
from chalicelib.notifications.catalog import CATEGORIES
from chalicelib.store.models import Customer, NotificationPreferences, customer_pk

SWITCHABLE = tuple(c for c in CATEGORIES if c != "security")


@dataclass(frozen=True)
class Preferences:
    categories: dict[str, bool]
    quiet_start: str | None
    quiet_end: str | None
    time_zone: str

    def allows(self, category: str) -> bool:
        return category == "security" or self.categories.get(category, True)

    def quiet_until(self, category: str, moment: datetime) -> datetime | None:
        """The end of the quiet period `moment` falls in (UTC), or None when a push may go now."""
        if category == "security" or not self.quiet_start or not self.quiet_end:
            return None
        zone = ZoneInfo(self.time_zone)
        local = moment.astimezone(zone)
        start, end = time.fromisoformat(self.quiet_start), time.fromisoformat(self.quiet_end)
        if start == end:
            return None
        now_t = local.time().replace(tzinfo=None)
        overnight = start > end  # e.g. 22:00 → 07:00
        inside = (now_t >= start or now_t < end) if overnight else (start <= now_t < end)
        if not inside:
            return None
        end_day = local.date() + timedelta(days=1) if overnight and now_t >= start else local.date()
        return datetime.combine(end_day, end, tzinfo=zone).astimezone(moment.tzinfo)

    def to_wire(self) -> dict[str, Any]:
        return {
            "categories": {**{c: self.categories.get(c, True) for c in SWITCHABLE}, "security": True},
            "quiet_hours": {"start": self.quiet_start, "end": self.quiet_end} if self.quiet_start else None,
            "time_zone": self.time_zone,
        }


def from_item(stored: NotificationPreferences | None, customer: Customer) -> Preferences:
    """No stored preferences: every category on, no quiet hours."""
    categories = stored.categories.as_dict() if stored is not None and stored.categories else {}
    return Preferences(
        categories={k: bool(v) for k, v in categories.items()},
        quiet_start=stored.quiet_start if stored is not None else None,
        quiet_end=stored.quiet_end if stored is not None else None,
        time_zone=customer.time_zone,
    )


def load(customer_id: str) -> Preferences:
    customer = Customer.get(customer_pk(customer_id), "PROFILE")
    try:
        stored: NotificationPreferences | None = NotificationPreferences.get(
            customer_pk(customer_id), "PREFS#NOTIFICATIONS"
        )
    except NotificationPreferences.DoesNotExist:
        stored = None
    return from_item(stored, customer)


def save(*, customer_id: str, categories: dict[str, bool], quiet_hours: dict[str, str] | None) -> Preferences:
    if categories.get("security") is False:
        raise ValidationFailed(
            "Security alerts cannot be switched off: they protect your account.",
            code="security_alerts_required",
        )
    NotificationPreferences(
        customer_pk(customer_id),
        "PREFS#NOTIFICATIONS",
        categories={c: bool(categories.get(c, True)) for c in SWITCHABLE},
        quiet_start=quiet_hours["start"] if quiet_hours else None,
        quiet_end=quiet_hours["end"] if quiet_hours else None,
        updated_at=iso(now()),
    ).save()
    return load(customer_id)
