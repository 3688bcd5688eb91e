"""A plan change shows what is lost before it happens, needs that exact preview, and never changes
status without a reason the customer can read."""

from __future__ import annotations

from datetime import date, timedelta

from chalicelib.account import plan_change
from chalicelib.store.models import PlanChangePreview, customer_pk


def _preview(api, enrolled, line_id, plan_id="premium-100"):
    return api.get(f"/lines/{line_id}/plan-change/preview?plan_id={plan_id}", token=enrolled.token)


def test_the_preview_lists_the_option_that_would_be_lost(api, account_clock, with_line):
    enrolled, line_id = with_line()
    preview = _preview(api, enrolled, line_id)
    assert preview.status == 200
    body = preview.body
    assert [o["id"] for o in body["options_lost"]] == ["data-plus-5"]  # not compatible with premium-100
    assert body["options_kept"] == []
    data = next(a for a in body["allowances"] if a["kind"] == "data")
    assert (data["before"], data["after"], data["change"]) == (25600, 102400, "up")
    assert body["monthly_price"]["difference"] == {"amount": 2499 - (1299 + 500), "currency": "EUR"}
    # The next cycle's first day: the line's cycle began today (the 28th from the 28th on).
    start = account_clock.date().replace(day=min(28, account_clock.day))
    following = (start.replace(day=1) + timedelta(days=32)).replace(day=start.day)
    assert body["effective_date"] == following.isoformat()


def test_a_change_needs_its_own_fresh_preview(api, with_line):
    enrolled, line_id = with_line()
    without = api.post(
        f"/lines/{line_id}/plan-change",
        {"plan_id": "premium-100", "preview_token": "pcp_" + "0" * 32},
        token=enrolled.token,
    )
    assert without.status == 400 and without.error_code == "preview_required"
    token = _preview(api, enrolled, line_id).body["preview_token"]
    other_plan = api.post(
        f"/lines/{line_id}/plan-change",
        {"plan_id": "essentiel-20", "preview_token": token},
        token=enrolled.token,
    )
    assert (other_plan.status, other_plan.error_code) == (400, "preview_mismatch")
    stale = PlanChangePreview.get(customer_pk(enrolled.customer["customer_id"]), f"PREVIEW#{token}")
    stale.update(actions=[PlanChangePreview.expires_at.set(1)])
    expired = api.post(
        f"/lines/{line_id}/plan-change",
        {"plan_id": "premium-100", "preview_token": token},
        token=enrolled.token,
    )
    assert expired.status == 410 and expired.error_code == "preview_expired"


def test_a_confirmed_change_is_a_request_with_a_reason_then_applied(api, with_line, app_module):
    enrolled, line_id = with_line()
    token = _preview(api, enrolled, line_id).body["preview_token"]
    created = api.post(
        f"/lines/{line_id}/plan-change",
        {"plan_id": "premium-100", "preview_token": token},
        token=enrolled.token,
    )
    assert (
        created.status == 201
        and created.body["status"] == "pending"
        and created.body["reason"].startswith("Scheduled for")
    )
    again = api.post(
        f"/lines/{line_id}/plan-change",
        {"plan_id": "premium-100", "preview_token": token},
        token=enrolled.token,
    )
    assert again.status == 400  # a preview confirms once
    second = api.post(
        f"/lines/{line_id}/plan-change",
        {"plan_id": "premium-100", "preview_token": _preview(api, enrolled, line_id).body["preview_token"]},
        token=enrolled.token,
    )
    assert second.status == 409 and second.error_code == "request_pending"
    effective = date.fromisoformat(created.body["effective_date"])
    assert plan_change.apply_due(today=effective - timedelta(days=1)).get(created.body["request_id"]) is None
    assert plan_change.apply_due(today=effective)[created.body["request_id"]] == "done"
    assert plan_change.apply_due(today=effective) == {}  # applied once
    line = api.get(f"/lines/{line_id}", token=enrolled.token).body
    assert line["plan"]["id"] == "premium-100" and line["options"] == []
    requests = api.get("/me/requests", token=enrolled.token).body["requests"]
    assert requests[0]["status"] == "done" and [h["status"] for h in requests[0]["history"]] == [
        "pending",
        "done",
    ]
    assert all(h["reason"]["fr"] and h["reason"]["en"] for h in requests[0]["history"])
    inbox = api.get("/me/inbox", token=enrolled.token).body["items"]
    assert [i["data"]["status"] for i in inbox if i["kind"] == "service.request_updated"] == [
        "done",
        "pending",
    ]


def test_a_suspended_line_is_rejected_with_a_reason(api, with_line, app_module):
    enrolled, line_id = with_line()
    token = _preview(api, enrolled, line_id).body["preview_token"]
    created = api.post(
        f"/lines/{line_id}/plan-change",
        {"plan_id": "premium-100", "preview_token": token},
        token=enrolled.token,
    ).body
    app_module.admin_set_line(
        {
            "customer_number": enrolled.customer["customer_number"],
            "line_id": line_id,
            "msisdn": "+33600000001",
            "plan_id": "essentiel-20",
            "option_ids": ["data-plus-5"],
            "anchor_day": 1,
            "status": "suspended",
            "reason": "unpaid_bills",  # a change to an existing line says why
        },
        None,
    )
    assert (
        plan_change.apply_due(today=date.fromisoformat(created["effective_date"]))[created["request_id"]]
        == "rejected"
    )
    requests = api.get("/me/requests", token=enrolled.token).body["requests"]
    # The suspension is a request of its own (the provider's change), listed beside the plan change.
    assert [r["kind"] for r in requests] == ["provider_change", "plan_change"]
    request = requests[1]
    assert request["status"] == "rejected" and "suspended" in request["reason"]
    assert api.get(f"/lines/{line_id}", token=enrolled.token).body["plan"]["id"] == "essentiel-20"


def test_preview_errors(api, with_line):
    enrolled, line_id = with_line()
    assert _preview(api, enrolled, line_id, "essentiel-20").error_code == "same_plan"
    unknown = _preview(api, enrolled, line_id, "nope-plan")
    assert (unknown.status, unknown.error_code) == (404, "plan_not_found")
    assert api.get(f"/lines/{line_id}/plan-change/preview", token=enrolled.token).status == 400


def test_admin_line_events_are_validated(app_module, catalogue, new_customer):
    customer = new_customer()
    base = {
        "customer_number": customer["customer_number"],
        "line_id": "ln_adm1",
        "msisdn": "+33611111111",
        "plan_id": "premium-100",
        "anchor_day": 3,
    }
    assert (
        app_module.admin_set_line({**base, "option_ids": ["data-plus-5"]}, None)["error"]["code"]
        == "option_not_compatible"
    )
    assert app_module.admin_set_line({**base, "anchor_day": 31}, None)["error"]["code"] == "validation_error"
    assert "error" not in app_module.admin_set_line(base, None)
    other = new_customer()
    assert (
        app_module.admin_set_line({**base, "customer_number": other["customer_number"]}, None)["error"][
            "code"
        ]
        == "line_taken"
    )


def test_one_poisoned_request_never_stops_the_others_and_is_retried(api, with_line, monkeypatch):
    """Three requests due the same day; one item is corrupt (its detail stored as text). The two
    others apply, the bad one is logged, counted and stays pending; repaired, the next run applies
    it. Mutation: no per-request isolation in `apply_due` (it raises and the others wait a day),
    or reading the due list as whole models (one corrupt item stops the listing)."""
    import dataclasses
    import json
    import os

    import boto3

    from chalicelib.config import get_settings
    from chalicelib.observability import metrics

    emitted: list[str] = []
    monkeypatch.setattr(metrics, "get_settings", lambda: dataclasses.replace(get_settings(), stage="dev"))
    monkeypatch.setattr(
        metrics,
        "write_line",
        lambda line: emitted.append(next(k for k in json.loads(line) if k not in ("_aws", "Stage"))),
    )
    logged: list[dict] = []
    real_log = plan_change.log_event
    monkeypatch.setattr(
        plan_change,
        "log_event",
        lambda event, **fields: (logged.append({"event": event, **fields}), real_log(event, **fields)),
    )

    made = []
    for _ in range(3):
        enrolled, line_id = with_line()
        token = _preview(api, enrolled, line_id).body["preview_token"]
        created = api.post(
            f"/lines/{line_id}/plan-change",
            {"plan_id": "premium-100", "preview_token": token},
            token=enrolled.token,
        )
        assert created.status == 201, created.body
        made.append((enrolled, line_id, created.body))
    effective = {body["effective_date"] for _, _, body in made}
    assert len(effective) == 1
    today = date.fromisoformat(effective.pop())
    (bad_customer, bad_line, bad), good = made[1], [made[0], made[2]]
    table = boto3.resource(
        "dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name=os.environ["AWS_REGION"]
    ).Table(os.environ["APP_TABLE_NAME"])
    key = {"PK": customer_pk(bad_customer.customer["customer_id"]), "SK": f"REQUEST#{bad['request_id']}"}
    detail = table.get_item(Key=key)["Item"]["detail"]
    table.update_item(
        Key=key, UpdateExpression="SET detail = :text", ExpressionAttributeValues={":text": "garbled"}
    )

    outcomes = plan_change.apply_due(today=today)
    assert [outcomes[body["request_id"]] for _, _, body in good] == ["done", "done"]
    assert outcomes[bad["request_id"]] == "failed"
    assert [e["request"] for e in logged if e["event"] == "batch_item_failed"] == [bad["request_id"]]
    assert emitted.count("BatchItemFailed") == 1
    for enrolled, line_id, _ in good:
        assert api.get(f"/lines/{line_id}", token=enrolled.token).body["plan"]["id"] == "premium-100"
    assert api.get(f"/lines/{bad_line}", token=bad_customer.token).body["plan"]["id"] == "essentiel-20"

    table.update_item(
        Key=key, UpdateExpression="SET detail = :map", ExpressionAttributeValues={":map": detail}
    )
    again = plan_change.apply_due(today=today)
    assert again[bad["request_id"]] == "done" and all(
        body["request_id"] not in again for _, _, body in good
    )  # each applied once
    assert api.get(f"/lines/{bad_line}", token=bad_customer.token).body["plan"]["id"] == "premium-100"
    assert emitted.count("BatchItemFailed") == 1
