"""Engagement alerts of upgrade offers (chalicelib/bidding/engagement.py): an invitation when an
offer opens for the customer, a reminder before it closes to every bidder, a warning to the bidder
a placement pushes out of the winning range."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.bidding import engagement, offers
from chalicelib.privacy import consent
from chalicelib.store.models import InboxItem, customer_pk
from tests.bidding.conftest import LINE_PLAN, Bidder, give_line, iso, place

_segments = itertools.count(1)


def _segment() -> str:
    """A segment of this test alone: the walk of its members meets no other test's customers."""
    return f"eng-{os.getpid()}-{next(_segments)}"


def _alerts(customer_id: str, kind: str) -> list[InboxItem]:
    return [
        item
        for item in InboxItem.query(customer_pk(customer_id), InboxItem.SK.startswith("INBOX#"))
        if item.kind == kind
    ]


def _in_segment(app_module: Any, customer_number: str, segment: str) -> None:
    result = app_module.admin_set_segments({"customer_number": customer_number, "segments": [segment]}, None)
    assert "error" not in result, result


def _consenting(customer: dict[str, Any]) -> dict[str, Any]:
    """Invitations are marketing: only a customer who consents gets one (chalicelib/privacy/consent.py)."""
    consent.set_consents(customer_id=customer["customer_id"], marketing=True)
    return customer


def _engage(offer_id: str) -> dict[str, Any]:
    return engagement.engage(offers.get_offer(offer_id, consistent=True))


def test_an_open_offer_invites_each_eligible_customer_once(app_module, offer, new_customer):
    """Eligible: in the offer's segment with an active line on its plan. In the segment without a
    line on the plan, or on the plan outside the segment: no invitation. A second run, and a run
    that lost the job's progress (a run that died), invite nobody again.
    Mutation: not checking Viewer.eligible per member (the plan) → the member without a line is
    invited → fails; a dedup key per run → the lost-progress run invites again → fails."""
    segment = _segment()
    eligible = _consenting(new_customer(segments=[segment]))
    give_line(app_module, SimpleNamespace(customer=eligible))
    no_line = _consenting(new_customer(segments=[segment]))
    outsider = _consenting(new_customer())
    give_line(app_module, SimpleNamespace(customer=outsider))
    offer_id = offer(eligibility={"segments": [segment], "plan_ids": [LINE_PLAN]})

    assert _engage(offer_id) == {"invited": 1, "invitations_done": True}

    [invitation] = _alerts(eligible["customer_id"], "bidding.invitation")
    assert invitation.data["offer_id"] == offer_id
    assert invitation.deep_link == f"selfcare://offers/{offer_id}"
    # French first: the range as a French reader writes money, the grant, the close time.
    assert (
        "« Premium 3 mois » est ouverte aux enchères de 10,00\u00a0€ à 50,00\u00a0€, jusqu'au "
        in invitation.body
    )
    assert "Vous obtenez l'option" in invitation.body
    assert invitation.data["closes_at"] == offers.get_offer(offer_id).closes_at
    assert _alerts(no_line["customer_id"], "bidding.invitation") == []
    assert _alerts(outsider["customer_id"], "bidding.invitation") == []

    assert _engage(offer_id) == {}  # the job recorded that every invitation went out
    engagement._marker(offer_id).delete()  # a run that died before recording it
    assert _engage(offer_id) == {"invited": 0, "invitations_done": True}
    assert len(_alerts(eligible["customer_id"], "bidding.invitation")) == 1


def test_no_invitation_before_the_offer_opens(app_module, offer, new_customer):
    """Mutation: dropping engage()'s check of opens_at → the upcoming offer invites → fails."""
    segment = _segment()
    member = _consenting(new_customer(segments=[segment]))
    start = datetime.now(UTC) + timedelta(hours=1)
    offer_id = offer(
        eligibility={"segments": [segment]}, opens_at=iso(start), closes_at=iso(start + timedelta(days=1))
    )
    assert _engage(offer_id) == {}
    assert _alerts(member["customer_id"], "bidding.invitation") == []


def test_an_invitation_walk_out_of_time_resumes_where_it_stopped(
    app_module, offer, new_customer, monkeypatch
):
    """A run out of time records the page to resume after; the next run invites the rest, once.
    Mutation: not recording the cursor (the next run restarts from the first page, with PAGE = 1 and
    a deadline passed) → the later members are never invited → fails."""
    monkeypatch.setattr(engagement, "PAGE", 1)
    segment = _segment()
    members = [_consenting(new_customer(segments=[segment])) for _ in range(3)]
    offer_id = offer(eligibility={"segments": [segment]})
    offer_item = offers.get_offer(offer_id, consistent=True)
    answers = [engagement.engage(offer_item, deadline=0.0) for _ in range(3)]
    assert [a["invitations_done"] for a in answers] == [False, False, False]
    assert engagement.engage(offer_item, deadline=0.0)["invitations_done"] is True
    assert sum(a["invited"] for a in answers) == 3
    assert all(len(_alerts(m["customer_id"], "bidding.invitation")) == 1 for m in members)


def test_bidders_are_reminded_once_before_close(
    api, app_module, offer, bidder, new_customer, server_clock: Callable[..., Any]
):
    """BID_CLOSING_REMINDER_HOURS (24) before close: each bidder once, with their bid's amount and
    its strength; an eligible customer who did not bid is not reminded; 25 hours before, nobody.
    Mutation: dropping the closes_at condition (or doubling the reminder hours) → the 25-hour run
    reminds → fails; a dedup key per run → the run that lost the progress reminds again → fails."""
    segment = _segment()
    low, high = bidder(), bidder()
    watcher = new_customer(segments=[segment])
    for who in (low, high):
        _in_segment(app_module, who.enrolled.customer["customer_number"], segment)
    offer_id = offer(eligibility={"segments": [segment]}, inventory=1)
    assert place(api, low, offer_id, 2000).status == 201
    assert place(api, high, offer_id, 4000).status == 201
    closes = datetime.fromisoformat(offers.get_offer(offer_id).closes_at.replace("Z", "+00:00"))
    clock = server_clock("engagement")

    clock.at = closes - timedelta(hours=25)
    assert "reminded" not in _engage(offer_id)
    assert _alerts(low.customer_id, "bidding.closing_soon") == []

    clock.at = closes - timedelta(hours=23)
    assert _engage(offer_id)["reminded"] == 2
    assert _engage(offer_id) == {}
    engagement._marker(offer_id).delete()  # progress lost: notify's dedup still holds
    assert _engage(offer_id)["reminded"] == 0

    [reminder] = _alerts(low.customer_id, "bidding.closing_soon")
    assert reminder.data["amount"] == "20,00\u00a0€" and reminder.data["amount_minor"] == "2000"
    assert reminder.data["strength"] == "weak"  # the 4000 bid takes the one unit
    assert "Votre offre de 20,00\u00a0€ pour « Premium 3 mois »" in reminder.body
    assert "Elle est actuellement faible." in reminder.body
    [theirs] = _alerts(high.customer_id, "bidding.closing_soon")
    assert theirs.data["strength"] == "strong"
    assert _alerts(watcher["customer_id"], "bidding.closing_soon") == []


def _bidders_on(app_module: Any, bidder: Callable[..., Bidder], offer: Callable[..., str], count: int) -> Any:
    segment = _segment()
    people = [bidder() for _ in range(count)]
    for who in people:
        _in_segment(app_module, who.enrolled.customer["customer_number"], segment)
    return people, offer(eligibility={"segments": [segment]}, inventory=2)


def test_the_bid_pushed_out_of_the_winning_range_is_warned_once(api, app_module, offer, bidder):
    """Two units. A 2000 and B 3000 both win. C 1500 enters outside: nobody is pushed out. B raising
    to 3500 (inside already) pushes nobody out. C 4000 pushes A out: A is warned, once; B, still
    winning, and C are not. A re-entering (4500) pushes B out; B raising (5000) pushes C out; C
    re-entering (4900) pushes A out again: A's second placement is warned again.
    Mutation: warning the bid at rank `inventory` instead of `inventory + 1` → B is warned when C
    bids 4000 → fails; dropping the check that the placer is inside → C's 1500 warns A → fails;
    dropping the check that the placer was outside before → B's raise warns C → fails; a dedup key
    without the placement count → A's second warning is swallowed → fails."""
    (a, b, c), offer_id = _bidders_on(app_module, bidder, offer, 3)

    def warned() -> list[int]:
        return [len(_alerts(w.customer_id, "bidding.outbid")) for w in (a, b, c)]

    assert place(api, a, offer_id, 2000).status == 201
    assert place(api, b, offer_id, 3000).status == 201
    assert place(api, c, offer_id, 1500).status == 201
    assert place(api, b, offer_id, 3500).status == 200
    assert warned() == [0, 0, 0]

    assert place(api, c, offer_id, 4000).status == 200
    [warning] = _alerts(a.customer_id, "bidding.outbid")
    assert warning.data["amount"] == "20,00\u00a0€" and warning.data["offer_id"] == offer_id
    assert "ne fait plus partie des offres gagnantes" in warning.body
    assert warned() == [1, 0, 0]

    assert place(api, a, offer_id, 4500).status == 200  # A back in: B (3500) out
    assert warned() == [1, 1, 0]
    assert place(api, b, offer_id, 5000).status == 200  # B back in: C (4000) out
    assert warned() == [1, 1, 1]
    assert place(api, c, offer_id, 4900).status == 200  # C back in: A (4500) out again
    assert warned() == [2, 1, 1]


def test_a_failing_warning_never_fails_the_bid(
    api, app_module, offer, bidder, monkeypatch: pytest.MonkeyPatch
):
    """Mutation: calling pushed_out without after_placement's guard → the PUT answers 500 → fails."""
    (a,), offer_id = _bidders_on(app_module, bidder, offer, 1)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the rank index is down")

    monkeypatch.setattr(engagement, "pushed_out", broken)
    assert place(api, a, offer_id, 2000).status == 201
    assert api.get(f"/offers/{offer_id}", token=a.token).body["my_bid"]["amount"]["amount"] == 2000
