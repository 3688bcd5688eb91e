"""No change behind the customer's back: a provider's change to a line needs a reason, is a request
in GET /me/requests with what changed, and an alert that says it in words; a set that changes
nothing records nothing; a plan change names every option it takes away."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from chalicelib.account import lines, plan_change
from chalicelib.errors import Conflict
from chalicelib.store.models import InboxItem, Line, ServiceRequest, customer_pk
from tests.support.push_contract import schema_for, validate_push

NUMBER = "06 00 00 00 01"  # how the alerts write +33600000001, the test lines' number


def _event(api: Any, enrolled: Any, line_id: str, **changes: Any) -> dict[str, Any]:
    """The admin event that sets the line exactly as it is now, with `changes` on top."""
    line = api.get(f"/lines/{line_id}", token=enrolled.token).body
    return {
        "customer_number": enrolled.customer["customer_number"],
        "line_id": line_id,
        "msisdn": line["msisdn"],
        "plan_id": line["plan"]["id"],
        "option_ids": [o["id"] for o in line["options"]],
        "anchor_day": line["anchor_day"],
        "status": line["status"],
        **changes,
    }


def _inbox(customer_id: str, kind: str) -> list[InboxItem]:
    return [
        i
        for i in InboxItem.query(customer_pk(customer_id), InboxItem.SK.startswith("INBOX#"))
        if i.kind == kind
    ]


def _requests(customer_id: str) -> list[ServiceRequest]:
    return list(ServiceRequest.query(customer_pk(customer_id), ServiceRequest.SK.startswith("REQUEST#")))


def test_an_admin_change_is_a_request_listed_with_its_changes_and_an_alert_naming_the_lost_option(
    api, app_module, with_line
):
    enrolled, line_id = with_line()  # essentiel-20 + data-plus-5 (12,99 € + 5,00 €)
    cid = enrolled.customer["customer_id"]
    assert api.get("/me/requests", token=enrolled.token).body["requests"] == []  # creating: silent
    result = app_module.admin_set_line(
        _event(api, enrolled, line_id, option_ids=[], reason="offer_withdrawn", operator="camille.n2"), None
    )
    assert "error" not in result, result
    assert result["changed"] is True and result["customer_told"] is True and result["options"] == []

    requests = api.get("/me/requests", token=enrolled.token).body["requests"]
    assert len(requests) == 1
    request = requests[0]
    assert (request["request_id"], request["kind"], request["status"], request["line_id"]) == (
        result["request_id"],
        "provider_change",
        "done",
        line_id,
    )
    assert request["reason"] == lines.REASONS["offer_withdrawn"]["en"]
    assert [h["reason"] for h in request["history"]] == [lines.REASONS["offer_withdrawn"]]
    detail = request["detail"]
    assert detail["options_lost"] == [{"id": "data-plus-5", "name": {"fr": "Data +5 Go", "en": "Data +5 GB"}}]
    assert detail["options_added"] == [] and detail["from_plan"] == detail["to_plan"]
    assert detail["status_change"] is None and detail["anchor_day_change"] is None
    assert detail["monthly_price"]["before"] == {"amount": 1799, "currency": "EUR"}
    assert detail["monthly_price"]["after"] == {"amount": 1299, "currency": "EUR"}
    assert detail["reason_code"] == "offer_withdrawn"
    # Who ran it is kept for the audit, not shown to the customer.
    assert "operator" not in detail and "reason_i18n" not in detail
    assert api.get(f"/lines/{line_id}", token=enrolled.token).body["options"] == []

    alerts = _inbox(cid, "line.changed")
    assert len(alerts) == 1  # exactly one alert for one change
    alert = alerts[0]
    lost = f"L'option « Data +5 Go » a été retirée de votre ligne {NUMBER}."
    assert lost in alert.body and "Motif : Cette offre ou cette option n'est plus proposée." in alert.body
    assert "Prix mensuel : 17,99\u00a0€ → 12,99\u00a0€." in alert.body
    assert alert.deep_link == f"selfcare://requests/{result['request_id']}"
    assert f"The Data +5 GB option was removed from your line {NUMBER}." in alert.data["changes_en"]
    assert alert.data["reason"] == "offer_withdrawn"
    listed = next(
        i for i in api.get("/me/inbox", token=enrolled.token).body["items"] if i["kind"] == "line.changed"
    )
    assert listed["situation"] == "line_changed" and listed["category"] == "service"

    from chalicelib.notifications import inbox, payloads

    validate_push(payloads.message_for(target="fid-1", alert=inbox.to_wire(alert), badge=1))


def test_the_reasons_of_the_push_contract_are_the_reasons_admins_can_give():
    """Mutation: a code added to REASONS and not to line.changed.schema.json → fails."""
    data = schema_for("line.changed")["allOf"][1]["properties"]["data"]["properties"]
    assert set(data["reason"]["enum"]) == set(lines.REASONS)
    assert all(texts["fr"] and texts["en"] for texts in lines.REASONS.values())


def test_a_change_without_a_reason_is_refused_and_changes_nothing(api, app_module, with_line):
    enrolled, line_id = with_line()
    cid = enrolled.customer["customer_id"]
    before = api.get(f"/lines/{line_id}", token=enrolled.token).body
    refused = app_module.admin_set_line(_event(api, enrolled, line_id, status="suspended"), None)
    assert set(refused) == {"error"} and refused["error"]["code"] == "reason_required"
    assert "unpaid_bills" in refused["error"]["message"]  # it lists the codes to choose from
    unknown = app_module.admin_set_line(
        _event(api, enrolled, line_id, status="suspended", reason="because"), None
    )
    assert unknown["error"]["code"] == "validation_error" and "reason" in unknown["error"]["message"]
    assert api.get(f"/lines/{line_id}", token=enrolled.token).body == before
    assert _requests(cid) == [] and _inbox(cid, "line.changed") == []


def test_setting_a_line_as_it_is_records_nothing(api, app_module, with_line):
    """Mutation: record a request even when `_changes` finds none → fails."""
    enrolled, line_id = with_line()
    cid = enrolled.customer["customer_id"]
    stored = Line.get(*lines.line_key(cid, line_id))
    for event in (_event(api, enrolled, line_id), _event(api, enrolled, line_id, reason="correction")):
        result = app_module.admin_set_line(event, None)
        assert result["changed"] is False and "request_id" not in result, result
    assert Line.get(*lines.line_key(cid, line_id)).updated_at == stored.updated_at  # not even rewritten
    assert _requests(cid) == [] and _inbox(cid, "line.changed") == []


def test_what_stays_keeps_the_terms_the_customer_subscribed_to(api, app_module, with_line):
    """The plan's snapshot is the contract: a change of status never re-prices the line with the
    catalogue's current terms. Mutation: always `catalog.snapshot(catalog.get(...))` in set_line
    → the plan's price goes back to the catalogue's → fails."""
    enrolled, line_id = with_line()
    cid = enrolled.customer["customer_id"]
    line = Line.get(*lines.line_key(cid, line_id))
    line.update(actions=[Line.plan.set({**line.plan.as_dict(), "price_amount": 999})])  # subscribed at 9,99 €
    result = app_module.admin_set_line(
        _event(api, enrolled, line_id, status="suspended", reason="unpaid_bills"), None
    )
    assert result["plan"]["price"] == {"amount": 999, "currency": "EUR"}
    request = api.get("/me/requests", token=enrolled.token).body["requests"][0]
    assert request["detail"]["status_change"] == {"from": "active", "to": "suspended"}
    assert request["detail"]["monthly_price"]["difference"]["amount"] == 0  # nothing re-priced
    alert = _inbox(cid, "line.changed")[0]
    assert f"Votre ligne {NUMBER} est suspendue." in alert.body and "Prix mensuel" not in alert.body


def test_the_operator_is_recorded_on_the_request(api, with_line):
    """run_admin takes `operator` out of the event; `set_line_by` hands it to the request."""
    enrolled, line_id = with_line()
    cid = enrolled.customer["customer_id"]
    event = lines.SetLineEvent.model_validate(
        _event(api, enrolled, line_id, anchor_day=3, reason="customer_request")
    )
    if api.get(f"/lines/{line_id}", token=enrolled.token).body["anchor_day"] == 3:
        event = event.model_copy(update={"anchor_day": 4})
    action = lines.set_line_by(" camille.n2 ")
    assert action.__name__ == "set_line"  # the admin log names the action
    result = action(event)
    stored = ServiceRequest.get(customer_pk(cid), f"REQUEST#{result['request_id']}")
    assert stored.detail.as_dict()["operator"] == "camille.n2"
    assert "commence désormais le" in _inbox(cid, "line.changed")[0].body


def test_a_change_made_meanwhile_is_not_overwritten_with_a_stale_record(api, with_line, monkeypatch):
    """Between the read of the line and the write, another writer (a plan change applied) moves
    it: the admin's change is refused, nothing is recorded. Mutation: no condition on the line's
    `updated_at` in set_line's transaction → a request describing a stale change → fails."""
    enrolled, line_id = with_line()
    cid = enrolled.customer["customer_id"]
    real = lines._changes

    def concurrent(*args: Any) -> Any:
        Line.get(*lines.line_key(cid, line_id)).update(actions=[Line.updated_at.set("2099-01-01T00:00:00Z")])
        return real(*args)

    monkeypatch.setattr(lines, "_changes", concurrent)
    event = lines.SetLineEvent.model_validate(
        _event(api, enrolled, line_id, option_ids=[], reason="correction")
    )
    with pytest.raises(Conflict) as refused:
        lines.set_line(event)
    assert refused.value.code == "line_changed_meanwhile"
    assert _requests(cid) == [] and _inbox(cid, "line.changed") == []
    assert [o["id"] for o in api.get(f"/lines/{line_id}", token=enrolled.token).body["options"]] == [
        "data-plus-5"
    ]


def test_a_plan_change_names_every_option_it_takes_away_even_one_added_after_the_preview(
    api, app_module, with_line
):
    """The SFR story from the customer's side: the request's outcome and its `done` alert name the
    options lost. Roaming Europe, added after the preview, is not allowed on Premium 100 either.
    Mutation: take the lost options from the preview (`detail["options_lost"]`) → Roaming Europe
    goes unnamed → fails."""
    enrolled, line_id = with_line()
    cid = enrolled.customer["customer_id"]
    token = api.get(f"/lines/{line_id}/plan-change/preview?plan_id=premium-100", token=enrolled.token).body[
        "preview_token"
    ]
    created = api.post(
        f"/lines/{line_id}/plan-change",
        {"plan_id": "premium-100", "preview_token": token},
        token=enrolled.token,
    ).body
    added = app_module.admin_set_line(
        _event(api, enrolled, line_id, option_ids=["data-plus-5", "roaming-eu"], reason="customer_request"),
        None,
    )
    assert added["changed"] is True
    assert plan_change.apply_due(today=date.fromisoformat(created["effective_date"])) == {
        created["request_id"]: "done"
    }
    request = next(
        r
        for r in api.get("/me/requests", token=enrolled.token).body["requests"]
        if r["kind"] == "plan_change"
    )
    assert [o["id"] for o in request["detail"]["outcome"]["options_lost"]] == ["data-plus-5", "roaming-eu"]
    assert request["detail"]["outcome"]["options_kept"] == []
    done = request["history"][-1]["reason"]
    assert (
        f"Les options « Data +5 Go » et « Roaming Europe » ont été retirées de votre ligne {NUMBER}."
        in done["fr"]
    )
    assert "The Data +5 GB and Europe roaming options were removed from your line" in done["en"]
    told = [a for a in _inbox(cid, "service.request_updated") if a.data["status"] == "done"]
    assert len(told) == 1 and "« Roaming Europe »" in told[0].body and "« Data +5 Go »" in told[0].body
    assert api.get(f"/lines/{line_id}", token=enrolled.token).body["options"] == []
    # The plan change itself is not a provider change: one line.changed only (the admin's).
    assert len(_inbox(cid, "line.changed")) == 1
