"""Service announcements to a segment, from the console: one inbox alert (and push) per member,
through notify(), so running the same announcement again tells nobody twice and finishes what a
timed-out run left.

A commercial announcement (`commercial: true`: a promotion rather than news of the service) goes
only to members who consent to marketing (chalicelib/privacy/consent.py; default: no), at the cost
of one projected GetItem of each member's profile; a service announcement goes to every member."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from chalicelib.common.strict import Strict
from chalicelib.customers.formats import SegmentName
from chalicelib.errors import NotFound
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.privacy import consent
from chalicelib.store.models import SegmentMember

BUDGET_S = 600.0  # of the admin function's 900 s timeout


class Message(Strict):
    fr: str = Field(min_length=1, max_length=500)
    en: str = Field(min_length=1, max_length=500)


class AnnouncementEvent(Strict):
    announcement_id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{2,60}$",
        description="Names the announcement: the same id is sent once per customer",
    )
    segment: SegmentName = Field(description="`all` for every customer")
    message: Message
    commercial: bool = Field(
        default=False,
        description="A commercial purpose (a promotion): sent only to customers who consent to marketing",
    )


def send(event: AnnouncementEvent, *, budget_s: float = BUDGET_S) -> dict[str, Any]:
    started = time.monotonic()
    told = already = gone = skipped = 0
    for member in SegmentMember.query(f"SEGMENT#{event.segment}"):
        if time.monotonic() - started > budget_s:
            log_event("announcement_paused", announcement=event.announcement_id, told=told)
            return {
                "announcement_id": event.announcement_id,
                "done": False,
                "told": told,
                "already_told": already,
                "message": "Out of time: run the same event again to tell the rest (nobody is told twice).",
            }
        if event.commercial and not consent.marketing_allowed(member.customer_id):
            skipped += 1  # no consent (the default): a commercial message is not sent
            continue
        try:
            created = inbox.notify(
                customer_id=member.customer_id,
                kind="service.announcement",
                data={
                    "announcement_id": event.announcement_id,
                    "message_fr": event.message.fr,
                    "message_en": event.message.en,
                },
                dedup_key=f"announcement:{event.announcement_id}",
            ).created
        except NotFound:
            gone += 1
            continue
        told, already = told + created, already + (not created)
    log_event(
        "announcement_sent",
        announcement=event.announcement_id,
        segment=event.segment,
        told=told,
        already=already,
        no_consent=skipped,
    )
    return {
        "announcement_id": event.announcement_id,
        "segment": event.segment,
        "done": True,
        "told": told,
        "already_told": already,
        "gone": gone,
        "no_consent": skipped,
    }
