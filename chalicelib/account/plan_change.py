"""A plan change that cannot silently cost the customer an option.

The preview lists what is gained and lost (options that cannot stay on the new plan, allowances up
and down), the monthly price difference and the effective date (the next cycle), and stores itself
for 15 minutes under a token. Only that token, for that line and plan, turns into a request; the
request's status (`pending` → `done` | `rejected`) never changes without a reason the customer can
read, and each change is an alert. Requests are applied on their effective date by
`apply_due_plan_changes` (a daily schedule); one request that fails never stops the others: it is
logged, counted (`BatchItemFailed`) and stays pending, so the next run tries it again.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from chalicelib.account import catalog, cycles
from chalicelib.account.lines import new_request_id, options_lost_words
from chalicelib.account.views import line_and_cycles, owns_line
from chalicelib.common.clock import epoch, iso, iso_ms, now
from chalicelib.errors import Conflict, Expired, NotFound, ValidationFailed
from chalicelib.notifications import inbox
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import Line, PlanChangePreview, ServiceRequest, customer_pk, plain

PREVIEW_TTL = timedelta(minutes=15)


def _names(entry: dict[str, Any]) -> dict[str, str]:
    return dict(entry.get("name") or {})


def preview(*, customer_id: str, line_id: str, plan_id: str) -> dict[str, Any]:
    line, _ = line_and_cycles(customer_id, line_id)
    current = line.plan.as_dict()
    if current["id"] == plan_id:
        raise ValidationFailed("This line already has this plan.", code="same_plan")
    target = catalog.snapshot(catalog.get("plan", plan_id))
    options = [plain(o) for o in (line.options or [])]
    kept = [o for o in options if o["id"] in set(target["compatible_options"])]
    lost = [o for o in options if o not in kept]
    allowances = []
    for kind in cycles.KINDS:
        before, after = cycles.included(current, options, kind), cycles.included(target, kept, kind)
        change = (
            "same"
            if before == after
            else ("up" if after is None or (before is not None and after > before) else "down")
        )
        allowances.append(
            {"kind": kind, "unit": cycles.UNIT[kind], "before": before, "after": after, "change": change}
        )
    price_before = int(current["price_amount"]) + sum(int(o["price_amount"]) for o in options)
    price_after = int(target["price_amount"]) + sum(int(o["price_amount"]) for o in kept)
    effective = cycles.next_cycle_start(cycles.cycle_start(now().date(), int(line.anchor_day)))
    token = "pcp_" + secrets.token_hex(16)
    expires = now() + PREVIEW_TTL
    summary = {
        "line_id": line_id,
        "from_plan": {"id": current["id"], "name": _names(current)},
        "to_plan": {"id": target["id"], "name": _names(target)},
        "options_kept": [{"id": o["id"], "name": _names(o)} for o in kept],
        "options_lost": [{"id": o["id"], "name": _names(o)} for o in lost],
        "allowances": allowances,
        "monthly_price": {
            "before": {"amount": price_before, "currency": current["currency"]},
            "after": {"amount": price_after, "currency": target["currency"]},
            "difference": {"amount": price_after - price_before, "currency": target["currency"]},
        },
        "effective_date": effective.isoformat(),
    }
    PlanChangePreview(
        customer_pk(customer_id),
        f"PREVIEW#{token}",
        line_id=line_id,
        plan_id=plan_id,
        summary=summary,
        expires_at=epoch(expires),
    ).save()
    return {**summary, "preview_token": token, "preview_expires_at": iso(expires)}


def request(*, customer_id: str, line_id: str, plan_id: str, preview_token: str) -> dict[str, Any]:
    pk = customer_pk(customer_id)
    try:
        shown = PlanChangePreview.get(pk, f"PREVIEW#{preview_token}", consistent_read=True)
    except PlanChangePreview.DoesNotExist:
        if not owns_line(customer_id, line_id):  # another customer's line: as unknown as any (404)
            raise NotFound("No such line.", code="line_not_found") from None
        raise ValidationFailed(
            "Show the preview first: this preview token is unknown or already used.", code="preview_required"
        ) from None
    if shown.line_id != line_id or shown.plan_id != plan_id:
        raise ValidationFailed(
            "This preview was for another line or plan: preview this change first.", code="preview_mismatch"
        )
    if (shown.expires_at or 0) <= epoch(now()):
        raise Expired(
            "This preview is more than 15 minutes old: preview the change again.", code="preview_expired"
        )
    summary = shown.summary.as_dict()
    moment = iso(now())
    request_id = new_request_id()
    reason = {
        "fr": f"Prévu pour le {summary['effective_date']}.",
        "en": f"Scheduled for {summary['effective_date']}.",
    }
    item = ServiceRequest(
        pk,
        f"REQUEST#{request_id}",
        GSI1PK=f"PENDING#{summary['effective_date']}",
        GSI1SK=f"{customer_id}#{request_id}",
        request_id=request_id,
        customer_id=customer_id,
        request_kind="plan_change",
        line_id=line_id,
        status="pending",
        reason=reason["en"],
        detail={**summary, "reason_i18n": reason},
        history=[{"status": "pending", "reason": reason, "at": moment}],
        effective_date=summary["effective_date"],
        created_at=moment,
        updated_at=moment,
    )
    try:
        with transaction() as tx:
            tx.delete(
                shown, condition=PlanChangePreview.PK.exists(), label="preview"
            )  # a preview confirms once
            tx.save(item)
            # One pending plan change per line: the marker lives as long as the request is pending.
            tx.save(
                ServiceRequest(
                    pk,
                    f"PENDING#{line_id}",
                    request_id=request_id,
                    customer_id=customer_id,
                    request_kind="marker",
                    line_id=line_id,
                    status="pending",
                    reason="",
                    history=[],
                    created_at=moment,
                    updated_at=moment,
                ),
                condition=ServiceRequest.PK.does_not_exist(),
                label="one_pending",
            )
    except ConditionsFailed as failed:
        if "one_pending" in failed.labels:
            raise Conflict("A plan change is already pending on this line.", code="request_pending") from None
        raise ValidationFailed("This preview token was already used.", code="preview_required") from None
    _tell(item, "pending", reason)
    return request_to_wire(item)


# Kept on a request for us, not shown to the customer: the reason's texts are in `history`, and
# who ran a provider change is for the audit.
_INTERNAL_DETAIL = frozenset({"reason_i18n", "operator"})


def request_to_wire(item: ServiceRequest, language: str = "en") -> dict[str, Any]:
    detail = item.detail.as_dict() if item.detail else {}
    return {
        "request_id": item.request_id,
        "kind": item.request_kind,
        "line_id": item.line_id,
        "status": item.status,
        "reason": item.reason,
        "effective_date": item.effective_date,
        "detail": {k: v for k, v in detail.items() if k not in _INTERNAL_DETAIL},
        "history": [
            {"status": h["status"], "reason": h["reason"], "at": h["at"]}
            for h in (plain(x) for x in item.history)
        ],
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def list_requests(*, customer_id: str) -> list[dict[str, Any]]:
    items = ServiceRequest.query(
        customer_pk(customer_id), ServiceRequest.SK.startswith("REQUEST#"), scan_index_forward=False, limit=50
    )
    return [request_to_wire(i) for i in items]


def _tell(item: ServiceRequest, status: str, reason: dict[str, str]) -> None:
    detail = item.detail.as_dict() if item.detail else {}
    names = (detail.get("to_plan") or {}).get("name") or {}
    inbox.notify(
        customer_id=item.customer_id,
        kind="service.request_updated",
        data={
            "request_id": item.request_id,
            "status": status,
            "summary_fr": f"Changement d'offre vers {names.get('fr', '')}".strip(),
            "summary_en": f"Plan change to {names.get('en', '')}".strip(),
            "reason_fr": reason["fr"],
            "reason_en": reason["en"],
        },
        dedup_key=f"request:{item.request_id}:{status}",
    )


def _resolve(
    item: ServiceRequest,
    status: str,
    reason: dict[str, str],
    line_update: Line | None = None,
    actions: list[Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Resolve a pending request, with the line's change (if any) and the request's final detail
    (`detail`: what actually happened) in one transaction, then tell the customer."""
    moment = iso(now())
    with transaction() as tx:
        tx.update(
            item,
            actions=[
                *([ServiceRequest.detail.set(detail)] if detail is not None else []),
                ServiceRequest.status.set(status),
                ServiceRequest.reason.set(reason["en"]),
                ServiceRequest.history.set(
                    ServiceRequest.history.append([{"status": status, "reason": reason, "at": moment}])
                ),
                ServiceRequest.updated_at.set(moment),
                ServiceRequest.GSI1PK.remove(),
                ServiceRequest.GSI1SK.remove(),
            ],
            condition=ServiceRequest.status == "pending",
            label="pending",
        )
        tx.delete(ServiceRequest(item.PK, f"PENDING#{item.line_id}"))
        if line_update is not None and actions:
            tx.update(line_update, actions=actions)
    _tell(item, status, reason)


def apply_due(*, today: date | None = None) -> dict[str, str]:
    """Apply the pending plan changes whose date has come (idempotent: each resolves once).
    Returns request id → done | rejected | already resolved | failed; a failed request (a corrupt
    item, a dependency failing past its retries) stays pending and the next run tries it again."""
    day = today or now().date()
    outcomes: dict[str, str] = {}
    for back in range(0, 7):  # a missed run is caught up for a week
        for pk, sk in _due_keys(f"PENDING#{(day - timedelta(days=back)).isoformat()}"):
            request_id = sk.removeprefix("REQUEST#")
            try:
                item = ServiceRequest.get(pk, sk, consistent_read=True)
                outcomes[request_id] = _apply(item)
            except ConditionsFailed:
                outcomes[request_id] = "already resolved"
            except Exception as error:  # noqa: BLE001 - one request must not stop the others
                log_event(
                    "batch_item_failed",
                    level=logging.ERROR,
                    job="apply_plan_changes",
                    request=request_id,
                    error=type(error).__name__,
                )
                emit("BatchItemFailed")
                outcomes[request_id] = "failed"
    return outcomes


def _due_keys(bucket: str) -> Iterator[tuple[str, str]]:
    """The keys of the requests pending in a bucket, and only them: building whole models from the
    index would let one corrupt request stop the listing of all the others."""
    for item in ServiceRequest.gsi1.query(bucket, attributes_to_get=["PK", "SK"]):
        yield item.PK, item.SK


def _apply(item: ServiceRequest) -> str:
    detail = item.detail.as_dict()
    try:
        line = Line.get(item.PK, f"LINE#{item.line_id}#META", consistent_read=True)
    except Line.DoesNotExist:
        _resolve(item, "rejected", {"fr": "La ligne n'existe plus.", "en": "The line no longer exists."})
        return "rejected"
    if line.status != "active":
        _resolve(
            item,
            "rejected",
            {
                "fr": "La ligne est suspendue : contactez-nous pour la réactiver.",
                "en": "The line is suspended: contact us to reactivate it.",
            },
        )
        return "rejected"
    try:
        target = catalog.snapshot(catalog.get("plan", detail["to_plan"]["id"]))
    except NotFound:
        _resolve(
            item,
            "rejected",
            {"fr": "Cette offre n'est plus proposée.", "en": "This plan is no longer offered."},
        )
        return "rejected"
    # What stays and what goes is decided now, on the line as it is today: an option added since
    # the preview and not allowed on the new plan is lost too, and named like the others.
    allowed = set(target["compatible_options"])
    current = [plain(o) for o in (line.options or [])]
    kept = [o for o in current if o["id"] in allowed]
    lost = [{"id": o["id"], "name": _names(o)} for o in current if o["id"] not in allowed]
    reason = {
        lang: " ".join(
            s
            for s in (
                f"Votre nouvelle offre est active depuis le {item.effective_date}."
                if lang == "fr"
                else f"Your new plan is active since {item.effective_date}.",
                options_lost_words(lost, line.msisdn, lang),
            )
            if s
        )
        for lang in ("fr", "en")
    }
    outcome = {
        "options_kept": [{"id": o["id"], "name": _names(o)} for o in kept],
        "options_lost": lost,
    }
    _resolve(
        item,
        "done",
        reason,
        line,
        [Line.plan.set(target), Line.options.set(kept), Line.updated_at.set(iso_ms(now()))],
        detail={**detail, "outcome": outcome},
    )
    return "done"
