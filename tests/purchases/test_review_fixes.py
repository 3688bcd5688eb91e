"""Defects a review found in the purchases, each with the test that failed before its fix."""

from __future__ import annotations

import uuid
from typing import Any

from tests.purchases.conftest import buy, included, preview
from tests.support.faults import dynamodb_faults
from tests.support.stepup import confirmation


def _body(api: Any, enrolled: Any, line_id: str, option_id: str) -> dict[str, Any]:
    shown = preview(api, enrolled, line_id, option_id)
    assert shown.status == 200, shown.body
    price = shown.body["price"]
    return {
        "option_id": option_id,
        "preview_token": shown.body["preview_token"],
        "confirmation": confirmation(
            api,
            enrolled,
            "option.buy",
            line_id=line_id,
            option_id=option_id,
            amount=price["amount"],
            currency=price["currency"],
        ),
    }


def test_a_purchase_whose_transaction_failed_is_resumed_with_the_same_key(api, with_line, charges):
    """The purchase's transaction conflicts past every retry (503 after its confirmation was spent);
    the app sends the same request with the same key: the purchase goes through, once. Mutation:
    not accepting the spent challenge recorded on the preview (`confirmed_for`) → 404
    `challenge_not_found`, kept as the key's outcome."""
    enrolled, line_id = with_line()
    body, key = _body(api, enrolled, line_id, "data-recharge-2"), str(uuid.uuid4())
    with dynamodb_faults(
        throttle=0.0, server_error=0.0, lost_reply=0.0, conflict=1.0, operations=("TransactWriteItems",)
    ) as seen:
        first = api.post(
            f"/lines/{line_id}/options", body, token=enrolled.token, headers={"Idempotency-Key": key}
        )
    assert seen["conflict"] >= 1
    assert first.status == 503 and first.error_code == "temporarily_unavailable", first.body
    again = api.post(
        f"/lines/{line_id}/options", body, token=enrolled.token, headers={"Idempotency-Key": key}
    )
    assert again.status == 201, again.body
    assert len(charges(enrolled)) == 1
    assert included(api, enrolled, line_id) == 25600 + 2048


def test_a_key_reused_after_its_record_expired_never_answers_another_purchase(api, with_line):
    """The Idempotency-Key's 24 h record gone (expired), the same key sent for another option: 422,
    never the old purchase's 201. Mutation: no line/option check on the resumed charge → 201."""
    from chalicelib.store.models import IdempotencyRecord, customer_pk

    enrolled, line_id = with_line()
    key = str(uuid.uuid4())
    assert buy(api, enrolled, line_id, "data-recharge-2", key=key).status == 201
    IdempotencyRecord(customer_pk(enrolled.customer["customer_id"]), f"IDEMP#{key}").delete()
    other = buy(api, enrolled, line_id, "data-pass-10", key=key)
    assert other.status == 422 and other.error_code == "idempotency_key_reused", other.body


def test_an_admin_change_keeps_what_the_customer_bought_in_the_app(api, app_module, with_line):
    """The operator's system sends the options it knows (not the app's top-up) with a new number:
    the top-up stays on the line, and its allowance with it. Mutation: rebuilding options from
    `option_ids` alone → the top-up is « retirée » and its 2 GB gone, while still billed."""
    enrolled, line_id = with_line()
    assert buy(api, enrolled, line_id, "data-recharge-2").status == 201
    changed = app_module.admin_set_line(
        {
            "customer_number": enrolled.customer["customer_number"],
            "line_id": line_id,
            "msisdn": "+33600000099",
            "plan_id": "essentiel-20",
            "option_ids": ["data-plus-5"],
            "anchor_day": api.get(f"/lines/{line_id}", token=enrolled.token).body["anchor_day"],
            "reason": "correction",
        },
        None,
    )
    assert "error" not in changed, changed
    assert [o["id"] for o in changed["options"]] == ["data-plus-5", "data-recharge-2"]
    assert included(api, enrolled, line_id) == 25600 + 2048


def test_previews_count_against_the_customers_money_limit(api, with_line):
    """Each preview writes a token: a script cannot write them without bound. Mutation: no
    `ratelimit.check` on the preview routes → 200s past the limit."""
    from chalicelib.config import get_settings

    enrolled, line_id = with_line()
    limits = get_settings().rate_limits
    saved = limits["payment_customer"]
    limits["payment_customer"] = (2, 3600)
    try:
        answers = [preview(api, enrolled, line_id, "data-recharge-2") for _ in range(3)]
        removal = api.get(f"/lines/{line_id}/options/data-plus-5/removal/preview", token=enrolled.token)
    finally:
        limits["payment_customer"] = saved
    assert [a.status for a in answers] == [200, 200, 429]
    assert answers[2].error_code == "rate_limited"
    assert removal.status == 429
