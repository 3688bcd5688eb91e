"""Marketing consent (chalicelib/privacy/consent.py): off until the customer says yes, changeable at
any time; offer invitations and commercial announcements need it, service alerts never do."""

from __future__ import annotations

import itertools
import os
from typing import Any

from chalicelib.bidding import engagement, offers
from chalicelib.store.models import InboxItem, customer_pk
from tests.bidding.conftest import LINE_PLAN, give_line, offer_event

_segments = itertools.count(1)


def _segment() -> str:
    """A segment of this test alone: its walk meets no other test's customers."""
    return f"priv-{os.getpid()}-{next(_segments)}"


def _alerts(customer_id: str, kind: str) -> list[InboxItem]:
    return [
        i
        for i in InboxItem.query(customer_pk(customer_id), InboxItem.SK.startswith("INBOX#"))
        if i.kind == kind
    ]


def _consent(api: Any, enrolled: Any, marketing: bool) -> Any:
    answer = api.put("/me/consents", {"marketing": marketing}, token=enrolled.token)
    assert answer.status == 200, answer.body
    return answer


def _in_segment(app_module: Any, enrolled: Any, segment: str) -> None:
    result = app_module.admin_set_segments(
        {"customer_number": enrolled.customer["customer_number"], "segments": [segment]}, None
    )
    assert "error" not in result, result


def test_consent_is_off_until_given_and_its_time_is_that_of_the_change(api, enrol):
    """Mutation: `consents_of` returning True for an absent answer → the default is on → fails;
    writing the time on every PUT → a repeated yes moves it → fails."""
    enrolled = enrol()
    assert api.get("/me/consents", token=enrolled.token).body == {
        "marketing": False,
        "marketing_changed_at": None,
    }
    given = _consent(api, enrolled, True).body
    assert given["marketing"] is True and given["marketing_changed_at"]
    assert _consent(api, enrolled, True).body == given  # the same answer again: the same time
    assert api.get("/me/consents", token=enrolled.token).body == given
    withdrawn = _consent(api, enrolled, False).body
    assert (
        withdrawn["marketing"] is False and withdrawn["marketing_changed_at"] >= given["marketing_changed_at"]
    )
    refused = api.put("/me/consents", {"marketing": "yes"}, token=enrolled.token)
    assert refused.status == 400 and refused.error_code == "validation_error"
    assert api.put("/me/consents", {}, token=enrolled.token).status == 400


def test_offer_invitations_go_to_consenting_customers_only(api, app_module, enrol):
    """Two eligible customers in the offer's segment; the one without consent is not invited, the
    one with it is; withdrawing it stops the next offer's invitation.
    Mutation: drop `invitee.consents` from the invitation's test → both invited → fails."""
    segment = _segment()
    yes, no = enrol(), enrol()
    for who in (yes, no):
        _in_segment(app_module, who, segment)
        give_line(app_module, who)
    _consent(api, yes, True)
    created = app_module.admin_create_offer(
        offer_event(eligibility={"segments": [segment], "plan_ids": [LINE_PLAN]}), None
    )
    assert "error" not in created, created
    result = engagement.engage(offers.get_offer(created["offer_id"], consistent=True))
    assert result["invited"] == 1
    assert len(_alerts(yes.customer["customer_id"], "bidding.invitation")) == 1
    assert _alerts(no.customer["customer_id"], "bidding.invitation") == []
    _consent(api, yes, False)
    later = app_module.admin_create_offer(offer_event(eligibility={"segments": [segment]}), None)
    assert engagement.engage(offers.get_offer(later["offer_id"], consistent=True))["invited"] == 0


def test_commercial_announcements_need_consent_and_service_ones_do_not(api, app_module, enrol):
    """A commercial announcement reaches only the consenting member; a service announcement (the
    default) reaches both, consent or not.
    Mutation: ignore `commercial` → the member without consent is told → fails; check consent for
    every announcement → the service one skips them → fails."""
    segment = _segment()
    yes, no = enrol(), enrol()
    for who in (yes, no):
        _in_segment(app_module, who, segment)
    _consent(api, yes, True)
    message = {"fr": "Promotion : -20 % sur les options.", "en": "Sale: 20% off options."}
    promo = app_module.admin_send_announcement(
        {"announcement_id": f"promo-{segment}", "segment": segment, "message": message, "commercial": True},
        None,
    )
    assert (promo["told"], promo["no_consent"]) == (1, 1), promo
    news = app_module.admin_send_announcement(
        {"announcement_id": f"news-{segment}", "segment": segment, "message": message}, None
    )
    assert (news["told"], news["no_consent"]) == (2, 0), news
    yes_ids = {
        i.data["announcement_id"]
        for i in _alerts(yes.customer["customer_id"], "service.announcement")
        if i.data
    }
    no_ids = {
        i.data["announcement_id"]
        for i in _alerts(no.customer["customer_id"], "service.announcement")
        if i.data
    }
    assert yes_ids == {f"promo-{segment}", f"news-{segment}"}
    assert no_ids == {f"news-{segment}"}
