"""Buying an option, top-up or bolt-on: a preview bound to the price, a passkey confirmation of
that price, once per Idempotency-Key, and the allowance raised in the same write."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.account import cycles
from chalicelib.purchases.models import OptionPreview
from chalicelib.store.models import Line, customer_pk
from tests.account.conftest import record, sqs_event
from tests.purchases.conftest import buy, included, preview
from tests.support.stepup import confirmation

NBSP = "\u00a0"


def _cycle_end(line_id: str, enrolled) -> str:
    line = Line.get(customer_pk(enrolled.customer["customer_id"]), f"LINE#{line_id}#META")
    start = cycles.next_cycle_start(cycles.cycle_start(datetime.now(UTC).date(), int(line.anchor_day)))
    return f"{start.isoformat()}T00:00:00Z"


def _requests(api, enrolled, kind):
    listed = api.get("/me/requests", token=enrolled.token).body["requests"]
    return [r for r in listed if r["kind"] == kind]


def test_the_preview_shows_the_change_the_price_the_billing_and_the_dates(api, with_line):
    """A top-up: data 25,600 → 27,648 MB this cycle, 3,00 € on the next bill, from now to the end
    of the cycle; a recurring option has no end. Nothing changes on the line."""
    enrolled, line_id = with_line()
    before = datetime.now(UTC).replace(microsecond=0)
    shown = preview(api, enrolled, line_id, "data-recharge-2")
    assert shown.status == 200, shown.body
    body = shown.body
    assert body["option"] == {
        "id": "data-recharge-2",
        "category": "top_up",
        "name": "Recharge 2 Go",
        "description": "2 Go de plus jusqu'à la fin du cycle en cours.",
        "allowances": {"data_mb": 2048, "voice_min": 0, "sms": 0},
        "term": "until_cycle_end",
    }
    data = next(a for a in body["allowances"] if a["kind"] == "data")
    assert (data["before"], data["after"], data["change"]) == (25600, 27648, "up")
    assert body["replaces"] == []
    assert (body["price"], body["price_text"]) == ({"amount": 300, "currency": "EUR"}, f"3,00{NBSP}€")
    assert body["billing"]["method"] == "next_bill" and "prochaine facture" in body["billing"]["text"]
    assert before <= datetime.fromisoformat(body["takes_effect_at"]) <= datetime.now(UTC)
    assert body["ends_at"] == _cycle_end(line_id, enrolled)
    assert body["preview_token"].startswith("opp_")
    assert included(api, enrolled, line_id) == 25600  # a preview changes nothing
    recurring = preview(api, enrolled, line_id, "roaming-eu").body
    assert recurring["ends_at"] is None and "par mois" in recurring["billing"]["text"]


def test_what_cannot_be_bought_is_refused_at_the_preview(api, with_line):
    enrolled, line_id = with_line()
    for option_id, status, code in (
        ("no-such-option", 404, "option_not_found"),
        ("premium-100", 404, "option_not_found"),  # a plan changes through the plan-change routes
        ("data-plus-5", 409, "already_active"),
        ("roaming-world", 409, "incompatible_with_plan"),
    ):
        answer = preview(api, enrolled, line_id, option_id)
        assert (answer.status, answer.error_code) == (status, code), option_id


def test_buying_with_a_passkey_raises_the_allowance_at_once(api, with_line, charges):
    """One request: the line has the top-up, the usage view counts it, the next bill has its line
    item, the requests list a done purchase with its reason in words, and the inbox a receipt.
    Mutation: leave the option out of the line update → the usage stays at 25,600."""
    enrolled, line_id = with_line()
    bought = buy(api, enrolled, line_id, "data-recharge-2")
    assert bought.status == 201, bought.body
    purchase = bought.body["purchase"]
    assert purchase["option"]["id"] == "data-recharge-2" and purchase["ends_at"] == _cycle_end(
        line_id, enrolled
    )
    assert purchase["charge"] == {"status": "pending", "amount": {"amount": 300, "currency": "EUR"}}
    assert [o["id"] for o in bought.body["line"]["options"]] == ["data-plus-5", "data-recharge-2"]
    assert included(api, enrolled, line_id) == 25600 + 2048
    line = api.get(f"/lines/{line_id}", token=enrolled.token).body
    assert line["allowances"]["data"]["included"] == 25600 + 2048
    assert [(c["option_id"], c["amount"]) for c in charges(enrolled)] == [
        ("data-recharge-2", {"amount": 300, "currency": "EUR"})
    ]
    (request,) = _requests(api, enrolled, "option_purchase")
    assert request["request_id"] == purchase["request_id"] and request["status"] == "done"
    assert request["history"][0]["reason"]["fr"].startswith(
        "« Recharge 2 Go » est active sur votre ligne jusqu'au "
    )
    inbox = api.get("/me/inbox", token=enrolled.token).body["items"]
    assert any(i["kind"] == "service.request_updated" and "Recharge 2 Go" in i["body"] for i in inbox)
    # A top-up can be bought again once used up: each adds its allowance. Mutation: `already_active`
    # for every term → 409.
    again = buy(api, enrolled, line_id, "data-recharge-2")
    assert again.status == 201, again.body
    assert included(api, enrolled, line_id) == 25600 + 2 * 2048
    assert (preview(api, enrolled, line_id, "data-plus-5").error_code) == "already_active"  # recurring


def test_the_threshold_alerts_use_the_raised_allowance(api, app_module, with_line):
    """21,000 MB used: 82 % of 25,600 (the 80 % alert), but 58 % once the 10 GB pass is bought.
    Mutation: `cycles.included` ignoring options → the bought line is alerted too."""
    plain, plain_line = with_line()
    bought, bought_line = with_line()
    assert buy(api, bought, bought_line, "data-pass-10").status == 201
    moment = datetime.now(UTC) - timedelta(minutes=1)
    for line_id in (plain_line, bought_line):
        result = app_module.ingest_usage(sqs_event([record(line_id, quantity=21000 * 1024, at=moment)]), None)
        assert result == {"batchItemFailures": []}

    def kinds(enrolled):
        return {i["kind"] for i in api.get("/me/inbox", token=enrolled.token).body["items"]}

    assert "usage.threshold_80" in kinds(plain)
    assert "usage.threshold_80" not in kinds(bought)


def test_a_retry_with_the_same_key_answers_the_first_purchase(api, with_line, charges):
    """Sequential and concurrent retries of one request: one purchase, one charge, one request;
    the same key with another body is a 422. Mutation: call `_buy` without `run_once` → the
    retries answer 400 preview_required (or 404 challenge_not_found), and the other body is no
    422."""
    enrolled, line_id = with_line()
    key = str(uuid.uuid4())
    shown = preview(api, enrolled, line_id, "data-recharge-2")
    price = shown.body["price"]
    body = {
        "option_id": "data-recharge-2",
        "preview_token": shown.body["preview_token"],
        "confirmation": confirmation(
            api,
            enrolled,
            "option.buy",
            line_id=line_id,
            option_id="data-recharge-2",
            amount=price["amount"],
            currency=price["currency"],
        ),
    }
    answers = []

    def send():
        answers.append(
            api.post(
                f"/lines/{line_id}/options", body, token=enrolled.token, headers={"Idempotency-Key": key}
            )
        )

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {(a.status, a.error_code) for a in answers} <= {(201, None), (409, "request_in_progress")}
    send()  # once the first has finished
    firsts = [a.body for a in answers if a.status == 201]
    assert firsts and all(b == firsts[0] for b in firsts)
    assert len(charges(enrolled)) == 1
    assert len(_requests(api, enrolled, "option_purchase")) == 1
    assert included(api, enrolled, line_id) == 25600 + 2048
    other = api.post(
        f"/lines/{line_id}/options",
        {**body, "option_id": "data-pass-10"},
        token=enrolled.token,
        headers={"Idempotency-Key": key},
    )
    assert (other.status, other.error_code) == (422, "idempotency_key_reused")


def test_a_confirmation_for_another_price_buys_nothing(api, with_line, charges):
    """The step-up binds the price: a confirmation of 2,00 € does not buy a 3,00 € top-up. The
    preview stays usable with a right confirmation. Mutation: drop `stepup.confirm` from `_buy`
    → 201."""
    enrolled, line_id = with_line()
    shown = preview(api, enrolled, line_id, "data-recharge-2")
    refused = buy(api, enrolled, line_id, "data-recharge-2", amount=200, shown=shown)
    assert (refused.status, refused.error_code) == (401, "step_up_mismatch")
    assert included(api, enrolled, line_id) == 25600 and charges(enrolled) == []
    assert buy(api, enrolled, line_id, "data-recharge-2", shown=shown).status == 201


def test_the_preview_is_required_once_fresh_and_for_this_option(api, with_line):
    enrolled, line_id = with_line()
    shown = preview(api, enrolled, line_id, "data-recharge-2")
    mismatch = api.post(
        f"/lines/{line_id}/options",
        {
            "option_id": "data-pass-10",
            "preview_token": shown.body["preview_token"],
            "confirmation": confirmation(
                api,
                enrolled,
                "option.buy",
                line_id=line_id,
                option_id="data-pass-10",
                amount=700,
                currency="EUR",
            ),
        },
        token=enrolled.token,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert (mismatch.status, mismatch.error_code) == (400, "preview_mismatch")
    stale = OptionPreview.get(
        customer_pk(enrolled.customer["customer_id"]), f"ADDON#PREVIEW#{shown.body['preview_token']}"
    )
    stale.update(actions=[OptionPreview.expires_at.set(1)])
    expired = buy(api, enrolled, line_id, "data-recharge-2", shown=shown)
    assert (expired.status, expired.error_code) == (410, "preview_expired")
    fresh = preview(api, enrolled, line_id, "data-recharge-2")
    assert buy(api, enrolled, line_id, "data-recharge-2", shown=fresh).status == 201
    spent = buy(api, enrolled, line_id, "data-recharge-2", shown=fresh)  # a new key, the spent token
    assert (spent.status, spent.error_code) == (400, "preview_required")


def test_a_suspended_line_buys_nothing(api, with_line, charges):
    """Suspended after the preview: the purchase is refused, saying why, and nothing is charged.
    Mutations: drop the `line_suspended` check of `_unavailable` → 409 `line_changed` (the
    transaction's own status condition); drop that condition too → 201."""
    enrolled, line_id = with_line()
    shown = preview(api, enrolled, line_id, "data-recharge-2")
    assert shown.status == 200
    # Suspended behind the customer's back (as an admin or a provider's system would).
    line = Line.get(customer_pk(enrolled.customer["customer_id"]), f"LINE#{line_id}#META")
    line.update(actions=[Line.status.set("suspended"), Line.updated_at.set("2026-01-01T00:00:00Z")])
    refused = buy(api, enrolled, line_id, "data-recharge-2", shown=shown)
    assert (refused.status, refused.error_code) == (409, "line_suspended")
    assert charges(enrolled) == []
    again = preview(api, enrolled, line_id, "data-recharge-2")
    assert (again.status, again.error_code) == (409, "line_suspended")


def test_the_step_up_names_the_option_and_its_price(api, with_line, enrol):
    enrolled, line_id = with_line()
    started = api.post(
        "/me/step-up",
        {
            "action": "option.buy",
            "line_id": line_id,
            "option_id": "data-recharge-2",
            "amount": 300,
            "currency": "EUR",
        },
        token=enrolled.token,
    )
    assert started.status == 200, started.body
    assert started.body["transaction"]["statement"] == (
        f"Confirmez l'achat de « Recharge 2 Go » (3,00{NBSP}€) sur votre ligne, ajouté à votre prochaine facture."
    )
    intruder = enrol()
    foreign = api.post(
        "/me/step-up",
        {
            "action": "option.buy",
            "line_id": line_id,
            "option_id": "data-recharge-2",
            "amount": 300,
            "currency": "EUR",
        },
        token=intruder.token,
    )
    assert (foreign.status, foreign.error_code) == (404, "line_not_found")


@pytest.mark.parametrize("ends_in", [timedelta(seconds=-1), timedelta(seconds=1)])
def test_an_option_counts_until_it_ends(ends_in):
    """Mutation: `in_force` ignoring `ends_at` → the ended one still counts."""
    at = datetime.now(UTC)
    plan = {"allowances": {"data_mb": 1000}}
    option = {"allowances": {"data_mb": 500}, "ends_at": (at + ends_in).isoformat().replace("+00:00", "Z")}
    expected = 1500 if ends_in > timedelta(0) else 1000
    assert cycles.included(plan, [option], "data", at=at) == expected


def test_a_resumed_run_answers_the_committed_purchase(api, with_line, charges):
    """A run that died after its transaction left its key in progress; the next run (resumed)
    finds the charge its key names and answers that purchase, buying nothing twice. Mutation:
    ignore `resumed` in `_buy` → 400 preview_required (the token was spent)."""
    from chalicelib.purchases import service

    enrolled, line_id = with_line()
    key = str(uuid.uuid4())
    bought = buy(api, enrolled, line_id, "data-recharge-2", key=key)
    assert bought.status == 201, bought.body
    customer_id = enrolled.customer["customer_id"]
    again = service._buy(
        customer_id=customer_id,
        session_id="ses_" + "0" * 24,
        line_id=line_id,
        option_id="data-recharge-2",
        preview_token="opp_" + "0" * 32,
        purchase_id=service.purchase_id_for(customer_id, key),
        challenge_id="chl_" + "0" * 32,
        credential={},
        resumed=True,
    )
    assert again == bought.body
    assert len(charges(enrolled)) == 1
