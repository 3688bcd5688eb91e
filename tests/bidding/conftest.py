from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.time_travel import close_now  # noqa: F401 - the bidding tests' clock
from tests.support.stepup import add_card

_offers = itertools.count(1)
_lines = itertools.count(1)
_seeded: list[bool] = []

# What the tests' offers grant unless told: an option `essentiel-20` lines can take.
GRANT = {"kind": "option", "entry_id": "data-pass-10", "days": 30}
LINE_PLAN = "essentiel-20"


def seed_catalogue() -> None:
    """The catalogue of infra/admin-events (once per process): offers' grants name its entries."""
    if _seeded:
        return
    import json
    from pathlib import Path

    from chalicelib.account import catalog

    event = json.loads(
        (
            Path(__file__).resolve().parents[2] / "infra" / "admin-events" / "admin_upsert_catalog.json"
        ).read_text()
    )
    catalog.upsert(catalog.UpsertCatalogEvent.model_validate(event))
    _seeded.append(True)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def offer_event(**overrides: Any) -> dict[str, Any]:
    seed_catalogue()
    start = datetime.now(UTC) - timedelta(minutes=5)
    return {
        "offer_id": f"off_t{os.getpid()}-{next(_offers)}",
        "title": {"fr": "Premium 3 mois", "en": "Premium for 3 months"},
        "description": {"fr": "Le forfait Premium pendant 3 mois.", "en": "The Premium plan for 3 months."},
        "inventory": 2,
        "currency": "EUR",
        "min_bid": 1000,
        "max_bid": 5000,
        "increment": 100,
        "opens_at": iso(start),
        "closes_at": iso(start + timedelta(days=2)),
        "grant": GRANT,
        **overrides,
    }


@pytest.fixture
def offer(app_module: Any) -> Callable[..., str]:
    """An open offer, created the way an admin does; returns its id."""

    def make(**overrides: Any) -> str:
        created = app_module.admin_create_offer(offer_event(**overrides), None)
        assert "error" not in created, created
        return created["offer_id"]

    return make


@dataclass
class Bidder:
    enrolled: Any
    method_id: str
    line_id: str = ""

    @property
    def token(self) -> str:
        return self.enrolled.token

    @property
    def customer_id(self) -> str:
        return self.enrolled.customer["customer_id"]


@pytest.fixture
def bidder(enrol: Any, api: Any, app_module: Any) -> Callable[..., Bidder]:
    """A signed-in customer with a card (`tok_visa` unless told) and an active line on
    `essentiel-20` (the line their bids choose)."""

    def make(card: str = "tok_visa", **line: Any) -> Bidder:
        enrolled = enrol()
        method = add_card(api, enrolled, card)
        assert method.status == 201, method.body
        return Bidder(enrolled, method.body["payment_method_id"], give_line(app_module, enrolled, **line))

    return make


def give_line(app_module: Any, enrolled: Any, **line: Any) -> str:
    """An active line for this customer, set the way an admin does; returns its id."""
    seed_catalogue()
    line_id = f"ln_b{os.getpid()}x{next(_lines)}"
    event = {
        "customer_number": enrolled.customer["customer_number"],
        "line_id": line_id,
        "msisdn": "+33600000002",
        "plan_id": LINE_PLAN,
        "option_ids": [],
        "anchor_day": 1,
        **line,
    }
    result = app_module.admin_set_line(event, None)
    assert "error" not in result, result
    return line_id


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A declined winner cascades at once unless a test sets a grace (`closing.grace_hours`)."""
    from chalicelib.bidding import closing

    monkeypatch.setattr(closing, "grace_hours", lambda: 0)


def confirmed_bid(
    api: Any, who: Bidder, offer_id: str, amount: int, line_id: str | None = None
) -> dict[str, Any]:
    """The app's step-up for a bid: challenge, Face ID (the soft authenticator), the PUT body."""
    line = line_id or who.line_id
    challenge = api.post(
        f"/offers/{offer_id}/bid/challenge",
        {"amount": amount, "payment_method_id": who.method_id, "line_id": line},
        token=who.token,
    )
    assert challenge.status == 200, challenge.body
    credential = who.enrolled.authenticator.get(challenge.body["options"])
    return {
        "amount": amount,
        "payment_method_id": who.method_id,
        "line_id": line,
        "challenge_id": challenge.body["challenge_id"],
        "credential": credential,
    }


def place(api: Any, who: Bidder, offer_id: str, amount: int) -> Any:
    return api.put(f"/offers/{offer_id}/bid", confirmed_bid(api, who, offer_id, amount), token=who.token)


def close_at(offer_id: str, moment: datetime) -> str:
    """Move an offer's closing time (and its gates') to `moment`, as an admin's event would have set
    it: lets a test do its slow steps first, then put the server's clock (`server_clock`) on
    either side of closes_at."""
    from chalicelib.bidding.offers import shard_pks
    from chalicelib.common.clock import iso_ms
    from chalicelib.store.models import Offer, OfferGate

    closes = iso_ms(moment)
    offer = Offer.get(f"OFFER#{offer_id}", "OFFER", consistent_read=True)
    offer.update(actions=[Offer.closes_at.set(closes), Offer.GSI1SK.set(f"{closes}#{offer_id}")])
    for pk in shard_pks(offer_id, int(offer.shards)):
        OfferGate(pk, "GATE").update(actions=[OfferGate.closes_at.set(closes)])
    return closes


class ServerClock:
    """The bidding services' clock, set by the test: `at` when set, else the real clock."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at if self.at is not None else datetime.now(UTC)


@pytest.fixture
def server_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ServerClock]:
    """`server_clock("bids", "offers")` → a clock that those modules of chalicelib.bidding read as
    `now()` (all three by default; modules given separately get separate clocks, as two machines
    would): the test decides which side of closes_at the server is on, whatever the machine's
    speed. `raising`: a module that stops reading `now` fails here, not silently on the real clock."""
    import importlib

    def install(*modules: str) -> ServerClock:
        clock = ServerClock()
        for name in modules or ("bids", "offers", "closing"):
            monkeypatch.setattr(importlib.import_module(f"chalicelib.bidding.{name}"), "now", clock)
        return clock

    return install


def during_passkey_check(monkeypatch: pytest.MonkeyPatch, then: Callable[[], None]) -> list[str]:
    """Run `then` right after the server verifies a bid's passkey (between its checks of the offer
    and its write), once; returns the list the customer ids it ran for are added to."""
    from chalicelib.auth import passkeys

    real, ran = passkeys.confirm, list[str]()

    def confirm(**kwargs: Any) -> Any:
        used = real(**kwargs)
        if not ran:
            ran.append(kwargs["customer_id"])
            then()
        return used

    monkeypatch.setattr(passkeys, "confirm", confirm)
    return ran


def charges_asked(offer_id: str, customer_id: str) -> list[tuple[int, str]]:
    """Every charge call the clearing made for this customer's bid, as (amount, idempotency key):
    what the provider was asked, replays included, not what its keys deduplicated."""
    from chalicelib.bidding.bids import bid_id_for
    from chalicelib.billing.gateway import get_gateway
    from chalicelib.billing.sandbox_gateway import SandboxGateway

    gateway = get_gateway()
    assert isinstance(gateway, SandboxGateway), gateway
    return [(a.amount, a.idempotency_key) for a in gateway.attempts_for(bid_id_for(offer_id, customer_id))]


def plant_bid(offer_id: str, customer_id: str, amount: int) -> None:
    """A bid written straight to the table as `bids.place` writes it, without the passkey step or
    the limit on changes: to probe the strength indicator at every amount, far more moves than a
    customer may make."""
    from chalicelib.bidding import bids, offers
    from chalicelib.common.clock import iso_ms, now
    from chalicelib.store.models import OfferBid

    offer = offers.get_offer(offer_id, consistent=True)
    moment, bid_id = iso_ms(now()), bids.bid_id_for(offer_id, customer_id)
    OfferBid(
        *offers.bid_key(offer, customer_id),
        GSI1PK=offers.rank_pk(offer, customer_id),
        GSI1SK=bids.rank_key(amount, moment, bid_id),
        bid_id=bid_id,
        offer_id=offer_id,
        customer_id=customer_id,
        amount=amount,
        currency=offer.currency,
        method_id="pm_0000000000000000",
        line_id="ln_planted0",
        placed_at=moment,
        challenge_id="chl_" + "0" * 32,
    ).save()


def raw_table() -> Any:
    """boto3 on the test table: to plant items that our models would refuse to write (corrupt)."""
    import boto3

    return boto3.resource(
        "dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name=os.environ["AWS_REGION"]
    ).Table(os.environ["APP_TABLE_NAME"])
