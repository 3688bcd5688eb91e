"""Admin events and public query strings and bodies of help: allow-lists (unknown fields refused)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from chalicelib.common.strict import JsonInt, Strict

SLUG = r"[a-z0-9][a-z0-9-]{2,63}"
ARTICLE_ID = SLUG
SECTION_ID = SLUG
SITUATION = r"[a-z][a-z0-9_]{2,47}"
OPTION_ID = r"^[a-z0-9][a-z0-9_-]{1,40}$"  # a catalogue entry (chalicelib/account/catalog.py)
SEARCH_ID = r"hs_[0-9]{8}[0-9][0-9a-f]{20}"
DEVICE_ID = r"[A-Za-z0-9_-]{16,64}"
MAX_QUERY_CHARS = 200
PAGE_DEFAULT, PAGE_MAX = 10, 50
MAX_CURSOR_CHARS = 512

# The situations an article can answer: where the app shows "get help" (an alert's kind, declared
# per kind in chalicelib/notifications/catalog.py; an attention item of GET /me, its type; an error
# it can show, its code). The app asks GET /help/situations/{name} for any well-formed name (an
# empty list when nothing answers it); an article may name only these, so a typo is refused.
SITUATIONS: dict[str, str] = {
    "payment_failed": "a payment was declined (alert billing.payment_failed, attention item payment_failed)",
    "payment_succeeded": "a payment went through (alert billing.payment_succeeded)",
    "card_declined": "the bank declined the card (402 card_declined)",
    "insufficient_funds": "not enough funds on the card (402 insufficient_funds)",
    "expired_card": "the bank refused an expired card (402 expired_card)",
    "authentication_required": "the bank asks for 3-D Secure (402 authentication_required)",
    "card_expired": "the saved card has expired",
    "bill_issued": "a new bill (alert billing.bill_issued)",
    "bill_due": "a bill is due soon (alert billing.bill_due, attention item bill_due)",
    "usage_high": "80 % or more of an allowance used (attention item usage_high)",
    "usage_threshold_80": "alert usage.threshold_80",
    "usage_threshold_100": "an allowance is used up (alert usage.threshold_100)",
    "usage_pace": "usage runs ahead of the cycle (alert usage.pace)",
    "plan_change": "changing plan (preview, request, alert service.request_updated)",
    "plan_change_rejected": "a plan change was refused",
    "line_changed": "the provider changed a line: plan, options, status (alert line.changed, request provider_change)",
    "preview_mismatch": "a plan change confirmed with another line's or plan's preview (400 preview_mismatch)",
    "bid_won": "alert bidding.won",
    "bid_lost": "outbid (alert bidding.lost)",
    "bid_declined": "a winning bid's charge was declined (alert bidding.declined)",
    "bid_payment_retry": "a winning bid's card was declined: update it before the grace ends (alert bidding.payment_retry)",
    "bid_refunded": "a won upgrade could not be added to the line: refunded (alert bidding.refunded)",
    "bid_upgrade_ending": "a won upgrade ends soon or has ended (alerts bidding.upgrade_ending, bidding.upgrade_ended)",
    "bid_invitation": "an upgrade offer opened for the customer (alert bidding.invitation)",
    "bid_closing_soon": "bidding on an offer the customer bid on closes soon (alert bidding.closing_soon)",
    "bid_outbid": "the customer's bid dropped out of the winning range (alert bidding.outbid)",
    "bid_out_of_range": "a bid below the minimum or above the maximum (400 bid_out_of_range)",
    "offer_closed": "bidding has closed (409 offer_closed)",
    "new_session": "a new sign-in (alert security.new_session)",
    "account_changed": "a confirmed account change (alert security.account_changed)",
    "account_security": "a passkey added or removed, unusual activity (alerts security.*)",
    "passkey_lost": "lost the phone or its passkey",
    "line_suspended_by_customer": "the customer suspended a line for a lost or stolen phone, or restored it (alerts line.suspended, line.restored)",
    "single_passkey": "the account has a single passkey: add a second one (attention item add_second_passkey)",
    "case_replied": "an adviser answered a case (alert case.replied)",
    "service_announcement": "a service announcement (alert service.announcement)",
    # Abroad (account/roaming.py)
    "roaming": "abroad: the zone's tariff, the data spending limit, data stopped (alerts roaming.*)",
    # Privacy: leaving, and one's own data
    "data_export_ready": "the customer's data export is ready to download (alert privacy.export_ready)",
    # Closure: privacy/closure.py
    "account_closure": "the customer asked to close the account: its date, cancelling it, what is kept (alert account.closure_scheduled)",
    # Customers who cannot pay: billing/overdue.py, billing/arrangements.py
    "bill_overdue": "a bill is past its due date (alert billing.bill_overdue, attention item bill_overdue)",
    "suspension_warning": "the lines will be suspended on a date unless the bill is paid (alert billing.suspension_warning)",
    "payment_arrangement": "paying an overdue balance in instalments (alert billing.arrangement_confirmed)",
    "arrangement_broken": "an instalment was missed: the arrangement ended (alert billing.arrangement_broken)",
}

ActionType = Literal[
    "pay_bill", "view_bills", "add_data", "change_plan", "view_usage", "manage_cards", "open_case"
]
Language = Literal["fr", "en"]


class Texts(Strict):
    fr: str = Field(min_length=1, max_length=120)
    en: str = Field(min_length=1, max_length=120)


class ActionLabel(Strict):
    fr: str = Field(min_length=1, max_length=60)
    en: str = Field(min_length=1, max_length=60)


class ActionSpec(Strict):
    """An app action an article offers. Signed in, it is filled with the customer's objects
    (bills, lines); `label` replaces the default words (`Ajouter 5 Go` → « Ajouter 5 Go à la ligne
    06 12 34 56 78 »); `option_id` (add_data only) names the catalogue option to add."""

    type: ActionType
    option_id: str | None = Field(default=None, pattern=OPTION_ID)
    label: ActionLabel | None = None

    @model_validator(mode="after")
    def _option_for_add_data(self) -> ActionSpec:
        if self.option_id is not None and self.type != "add_data":
            raise ValueError("option_id is for add_data actions only")
        return self


class ArticleText(Strict):
    title: str = Field(min_length=3, max_length=120)
    summary: str = Field(min_length=1, max_length=300, description="Shown in search results")
    body: str = Field(
        min_length=1, max_length=20_000, description="Plain text; blank lines separate paragraphs"
    )
    tags: list[str] = Field(default_factory=list, max_length=20, description="Words people type")

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        cleaned = [t.strip() for t in tags]
        if any(not 1 <= len(t) <= 40 for t in cleaned):
            raise ValueError("each tag is 1 to 40 characters")
        return cleaned


class ArticleContent(Strict):
    fr: ArticleText
    en: ArticleText


class UpsertSectionEvent(Strict):
    section_id: str = Field(pattern=f"^{SECTION_ID}$")
    title: Texts
    position: JsonInt = Field(default=100, ge=0, le=10_000, description="Sections are listed by position")


class SaveDraftEvent(Strict):
    article_id: str = Field(pattern=f"^{ARTICLE_ID}$")
    section_id: str = Field(pattern=f"^{SECTION_ID}$")
    situations: list[str] = Field(default_factory=list, max_length=10)
    content: ArticleContent
    actions: list[ActionSpec] = Field(default_factory=list, max_length=4)

    @field_validator("situations")
    @classmethod
    def _known_situations(cls, situations: list[str]) -> list[str]:
        unknown = sorted({s for s in situations if s not in SITUATIONS})
        if unknown:
            raise ValueError(f"unknown situations {unknown[:5]}; known: {', '.join(SITUATIONS)}")
        return list(dict.fromkeys(situations))

    @field_validator("actions")
    @classmethod
    def _one_of_each(cls, actions: list[ActionSpec]) -> list[ActionSpec]:
        types = [a.type for a in actions]
        if len(set(types)) != len(types):
            raise ValueError("each action type at most once")
        return actions


class ArticleRefEvent(Strict):
    article_id: str = Field(pattern=f"^{ARTICLE_ID}$")


class PublishEvent(ArticleRefEvent):
    revision: JsonInt | None = Field(
        default=None,
        ge=1,
        description="The draft revision you reviewed (save_draft's answer): publishing refuses another",
    )
    rebuild_index: StrictBool = Field(
        default=True,
        description="false when publishing many articles: run admin_help_rebuild_index after the last",
    )


class RebuildEvent(Strict):
    pass


class ReportEvent(Strict):
    from_: date = Field(alias="from")
    to: date
    limit: JsonInt = Field(default=20, ge=1, le=100, description="Rows per list")
    min_votes: JsonInt = Field(
        default=5, ge=1, le=10_000, description="Least useful: at least this many votes"
    )

    @model_validator(mode="after")
    def _range(self) -> ReportEvent:
        if self.to < self.from_:
            raise ValueError("to is before from")
        if (self.to - self.from_).days > 92:
            raise ValueError("at most 93 days")
        return self


# --- public routes ---------------------------------------------------------------------------------


class LangQuery(Strict):
    lang: Language | None = None


class SearchQuery(LangQuery):
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX)
    cursor: str | None = Field(default=None, min_length=1, max_length=MAX_CURSOR_CHARS)


class ArticleQuery(LangQuery):
    from_search: str | None = Field(default=None, pattern=f"^{SEARCH_ID}$")


class SituationQuery(LangQuery):
    limit: int = Field(default=5, ge=1, le=20)


class VoteBody(Strict):
    helpful: StrictBool
    version: JsonInt | None = Field(
        default=None, ge=1, description="The version read: a vote for a replaced version is refused (409)"
    )
