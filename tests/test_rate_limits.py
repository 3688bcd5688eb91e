"""Rate limits on sign-in, activation-code and money routes: 429 with Retry-After, counted in
DynamoDB so every Lambda container shares the count."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.config import get_settings
from tests.support.stepup import add_card


@pytest.fixture
def tight(monkeypatch):
    def set_limit(name: str, count: int, seconds: int = 60) -> None:
        monkeypatch.setitem(get_settings().rate_limits, name, (count, seconds))

    return set_limit


def test_sign_in_is_limited_per_client(api, tight):
    """Login options count in their challenge's own transaction (`ratelimit.pending`), refresh
    through `windows.count`: one window, one budget. Mutation: change the window key in
    `ratelimit.pending` → the refresh after the options' 429s still passes → fails."""
    tight("sign_in_client", 3, 3600)  # a window long enough not to roll over during the test
    answers = [api.post("/auth/passkeys/login/options") for _ in range(5)]
    assert [a.status for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].error_code == "rate_limited" and 1 <= int(answers[3].headers["Retry-After"]) <= 3600
    assert api.post("/auth/token/refresh", {"refresh_token": "x" * 43}).status == 429


def test_activation_codes_are_limited_per_client(api, tight, new_customer):
    tight("activation_client", 2, 3600)
    customer = new_customer()
    statuses = [
        api.post(
            "/auth/passkeys/register/options",
            {"enrolment_handle": customer["enrolment_handle"], "activation_code": "WRONG-CODE-1"},
        ).status
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


def _card_holder(api, enrol):
    enrolled = enrol()
    method = add_card(api, enrolled)
    return enrolled, method.body["payment_method_id"]


def test_payments_are_limited_per_customer_and_concurrency_does_not_slip_past(api, tight, enrol, app_module):
    from tests.billing.conftest import bill_document

    tight("payment_customer", 4, 3600)
    bills = []
    for _ in range(2):
        enrolled, method = _card_holder(api, enrol)
        document = bill_document(enrolled.customer["customer_number"])
        app_module.import_bills({"bills": [document]}, None)
        bills.append((enrolled, document["bill_id"], method))
    (enrolled, bill_id, method), (other, other_bill, other_method) = bills
    body = {"amount": 100, "payment_method_id": method}
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda _: api.post(f"/bills/{bill_id}/payments/challenge", body, token=enrolled.token).status,
                range(8),
            )
        )
    assert sorted(statuses) == [200] * 4 + [429] * 4  # the count is a conditional write, not a read
    # Another customer has their own budget.
    assert (
        api.post(
            f"/bills/{other_bill}/payments/challenge",
            {"amount": 100, "payment_method_id": other_method},
            token=other.token,
        ).status
        == 200
    )


def test_bids_are_limited_per_customer(api, tight, enrol, app_module):
    from tests.bidding.conftest import give_line, offer_event

    tight("bid_customer", 2, 3600)
    offer_id = app_module.admin_create_offer(offer_event(), None)["offer_id"]
    enrolled, method = _card_holder(api, enrol)
    body = {"amount": 2000, "payment_method_id": method, "line_id": give_line(app_module, enrolled)}
    statuses = [
        api.post(f"/offers/{offer_id}/bid/challenge", body, token=enrolled.token).status for _ in range(2)
    ]
    assert statuses == [200, 200]
    assert api.delete(f"/offers/{offer_id}/bid", token=enrolled.token).status == 429


def test_ipv6_clients_are_counted_per_64_prefix(tight):
    """A client rotating through addresses of its own /64 is one client. Mutation: key by the full
    IPv6 address → every rotated address gets a fresh window."""
    from chalicelib.api import ratelimit
    from chalicelib.errors import TooManyAttempts

    assert (
        ratelimit.client_key("2001:db8:1:2:aaaa::1")
        == ratelimit.client_key("2001:db8:1:2:ffff:ffff:ffff:fffe")
        == "2001:db8:1:2::/64"
    )
    assert ratelimit.client_key("2001:db8:1:3::1") != ratelimit.client_key("2001:db8:1:2::1")
    assert (
        ratelimit.client_key("::ffff:192.0.2.7") == "192.0.2.7"
        and ratelimit.client_key("192.0.2.7") == "192.0.2.7"
    )
    tight("sign_in_client", 2, 3600)
    import secrets

    prefix = f"2001:db8:{secrets.randbelow(65535):x}:{secrets.randbelow(65535):x}"
    outcomes = []
    for n in range(3):
        try:
            ratelimit.check("sign_in_client", ratelimit.client_key(f"{prefix}::{n + 1:x}"))
            outcomes.append("ok")
        except TooManyAttempts:
            outcomes.append("429")
    assert outcomes == ["ok", "ok", "429"]
