"""Usage alerts name the option that fits the line (the cheapest one it can take now that adds to
the allowance running out), its price in both languages and the app's link to its preview; when
none fits they say so, with no link; the alert for a used-up allowance says what happens now."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.account import ingestion, lines, suggestions
from chalicelib.billing.money import format_money
from chalicelib.notifications import inbox, payloads
from chalicelib.notifications.catalog import KINDS
from chalicelib.store.models import CatalogEntry, InboxItem, Line, customer_pk
from tests.account.conftest import record, sqs_event
from tests.support.push_contract import validate_push

ESSENTIEL_MB = 20480  # essentiel-20's data, without options
NBSP = "\u00a0"


def _usage_alerts(customer_id: str) -> list[InboxItem]:
    return sorted(
        (
            i
            for i in InboxItem.query(customer_pk(customer_id), InboxItem.SK.startswith("INBOX#"))
            if i.kind.startswith("usage.")
        ),
        key=lambda i: i.created_at,
    )


def _use(app_module: Any, line_id: str, mb: float, at: datetime) -> None:
    result = app_module.ingest_usage(sqs_event(record(line_id, "data", int(mb * 1024), at=at)), None)
    assert result == {"batchItemFailures": []}


def _pushed(item: InboxItem) -> None:
    validate_push(payloads.message_for(target="fid-1", alert=inbox.to_wire(item), badge=1))


def _fitting(catalogue: dict[str, Any], plan_id: str) -> list[dict[str, Any]]:
    """The catalogue's options that plan allows and that add data, cheapest first (at the same
    price, the one that adds more): read from the sample catalogue, whatever it holds today."""
    plan = next(p for p in catalogue["plans"] if p["id"] == plan_id)
    adds = [
        o
        for o in catalogue["options"]
        if o["id"] in plan["compatible_options"]
        and "data_mb" in o["allowances"]
        and (o["allowances"]["data_mb"] is None or o["allowances"]["data_mb"] > 0)
    ]
    return sorted(adds, key=lambda o: (o["price_amount"], -(o["allowances"]["data_mb"] or 1e18), o["id"]))


def test_the_80_and_100_alerts_name_the_cheapest_option_that_fits_with_its_link(
    app_module, account_clock, with_line, catalogue
):
    enrolled, line_id = with_line(option_ids=[])  # essentiel-20 alone
    cid = enrolled.customer["customer_id"]
    best = _fitting(catalogue, "essentiel-20")[0]
    price, currency = best["price_amount"], best["currency"]
    at = account_clock - timedelta(minutes=1)
    # A cycle that began today is less than a day old: no pace alert (anchor days stop at 28).
    pace = ["usage.pace"] if account_clock.day > 28 else []

    _use(app_module, line_id, ESSENTIEL_MB * 0.85, at)
    alerts = _usage_alerts(cid)
    assert sorted(a.kind for a in alerts) == sorted(["usage.threshold_80", *pace])
    eighty = next(a for a in alerts if a.kind == "usage.threshold_80")
    data = eighty.data.as_dict()
    assert {k: v for k, v in data.items() if k.startswith("option_") or k == "suggestion"} == {
        "suggestion": "option",
        "option_id": best["id"],
        "option_name_fr": best["name"]["fr"],
        "option_name_en": best["name"]["en"],
        "option_price_amount": str(price),
        "option_price_currency": currency,
        "option_price_fr": format_money(price, currency, language="fr"),
        "option_price_en": format_money(price, currency, language="en"),
        "option_link": f"selfcare://lines/{line_id}/options/{best['id']}",
    }
    assert re.fullmatch(rf"\d+,\d\d{NBSP}€", data["option_price_fr"])  # « 5,00 € », never "5.00 EUR"
    assert re.fullmatch(r"€\d+\.\d\d", data["option_price_en"])
    said = f"L'option « {best['name']['fr']} » vous ajoute "
    assert said in eighty.body and eighty.body.endswith(f" pour {data['option_price_fr']}.")
    assert eighty.deep_link == f"selfcare://lines/{line_id}/usage"  # the alert opens the usage
    _, english, _ = KINDS["usage.threshold_80"].render("en", data)
    assert f"this cycle. The {best['name']['en']} option adds " in english
    assert english.endswith(f" for {data['option_price_en']}.")
    _pushed(eighty)

    _use(app_module, line_id, ESSENTIEL_MB * 0.2, at)
    _use(app_module, line_id, 1, at)  # past 100 % again: nothing new
    alerts = _usage_alerts(cid)
    assert sorted(a.kind for a in alerts) == sorted(["usage.threshold_80", "usage.threshold_100", *pace])
    used_up = next(a for a in alerts if a.kind == "usage.threshold_100")
    assert used_up.data["exhausted"] == "slowed" and used_up.data["option_id"] == best["id"]
    assert used_up.body == (
        "Ligne +33600000001 : votre forfait internet est épuisé pour ce cycle. Vous restez connecté, "
        f"à débit réduit, jusqu'à la fin du cycle. {data['offer_fr']}"
    )
    _, english, _ = KINDS["usage.threshold_100"].render("en", used_up.data.as_dict())
    assert "is used up for this cycle. You stay connected, at a reduced speed, until the end" in english
    _pushed(used_up)


def test_when_no_option_fits_the_alert_says_so_with_no_link(app_module, account_clock, with_line, catalogue):
    """The line already has every option of its plan that adds data, all recurring (a top-up could
    be bought again: a plan of this test's own allows none). Mutation: `cheapest` no longer skips
    the line's active recurring options → one of them is offered again → fails."""
    essentiel = next(p for p in catalogue["plans"] if p["id"] == "essentiel-20")
    recurring = [
        o["id"] for o in _fitting(catalogue, "essentiel-20") if o.get("term", "recurring") == "recurring"
    ]
    assert recurring, "the sample catalogue has recurring data options for essentiel-20"
    solo = {**essentiel, "id": "solo-recurring", "compatible_options": recurring}
    assert "error" not in app_module.admin_upsert_catalog({"plans": [solo]}, None)
    catalogue = {**catalogue, "plans": [*catalogue["plans"], solo]}
    held = _fitting(catalogue, "solo-recurring")
    enrolled, line_id = with_line(plan_id="solo-recurring", option_ids=[o["id"] for o in held])
    cid = enrolled.customer["customer_id"]
    included = ESSENTIEL_MB + sum(o["allowances"]["data_mb"] for o in held)
    _use(app_module, line_id, included * 0.85, account_clock - timedelta(minutes=1))
    eighty = [a for a in _usage_alerts(cid) if a.kind == "usage.threshold_80"]
    assert len(eighty) == 1
    data = eighty[0].data.as_dict()
    assert data["suggestion"] == "none"
    assert not {k for k in data if k.startswith("option_")}  # no option, no link
    assert eighty[0].body.endswith("Aucune option ne peut l'augmenter sur votre offre actuelle.")
    assert data["offer_en"] == "No option can add to it on your current plan."
    _pushed(eighty[0])


def test_the_cheapest_option_the_line_can_take_now_is_chosen():
    """Mutations: `max` for `min` in `cheapest`; dropping the plan-compatibility, the active or the
    currency filter; an ended option still counted as active → each fails one assertion here."""

    def option(
        option_id: str, price: int, data_mb: float | None = 0, currency: str = "EUR"
    ) -> dict[str, Any]:
        allowances = {"voice_min": 60} if data_mb == 0 else {"data_mb": data_mb}
        return {
            "id": option_id,
            "name": {"fr": option_id, "en": option_id},
            "allowances": allowances,
            "price_amount": price,
            "currency": currency,
        }

    catalogue = [
        option("small", 300, 1024),
        option("big", 300, 5120),  # same price, adds more: preferred
        option("dear", 900, None),  # unlimited, but dearer
        option("elsewhere", 100, 5120),  # not allowed on this plan
        option("held", 50, 5120),  # already on the line
        option("dollars", 20, 5120, currency="USD"),
        option("calls", 10),  # adds no data
    ]
    plan = {
        "id": "p",
        "currency": "EUR",
        "compatible_options": ["small", "big", "dear", "held", "dollars", "calls", "ended"],
    }
    moment = datetime(2026, 11, 27, 12, tzinfo=UTC)
    held = [{"id": "held"}]
    chosen = suggestions.cheapest(catalogue, plan=plan, line_options=held, kind="data", moment=moment)
    assert chosen is not None and (chosen.option_id, chosen.price_amount, chosen.adds) == ("big", 300, 5120)
    assert suggestions.cheapest(catalogue, plan=plan, line_options=held, kind="voice", moment=moment) == (
        suggestions.Suggestion("calls", {"fr": "calls", "en": "calls"}, 10, "EUR", 60.0)
    )
    assert suggestions.cheapest(catalogue, plan=plan, line_options=held, kind="sms", moment=moment) is None
    # A top-up of last cycle whose end has passed is no longer on the line: it can be taken again.
    ended = [*catalogue, option("ended", 200, 2048)]
    gone = [*held, {"id": "ended", "ends_at": "2026-11-01T00:00:00Z"}]
    again = suggestions.cheapest(ended, plan=plan, line_options=gone, kind="data", moment=moment)
    assert again is not None and again.option_id == "ended"
    still = [*held, {"id": "ended", "ends_at": "2026-12-01T00:00:00Z"}]
    kept = suggestions.cheapest(ended, plan=plan, line_options=still, kind="data", moment=moment)
    assert kept is not None and kept.option_id == "big"
    # Unlimited: said as such.
    unlimited = suggestions.Suggestion("dear", {"fr": "Illimité", "en": "Unlimited"}, 900, "EUR", None)
    assert suggestions.alert_data(unlimited, line_id="ln_x1234", kind="data")["offer_en"] == (
        "The Unlimited option makes it unlimited for €9.00."
    )


def test_an_entry_short_of_a_field_is_passed_over():
    broken = CatalogEntry(
        "CATALOG", "OPTION#broken", entry_id="broken", name={"fr": "x"}, allowances={}, currency="EUR"
    )
    assert suggestions._read(broken) is None


def test_the_used_up_alert_says_what_the_plan_does_then():
    """The plan's `exhausted` (one behaviour, or one per kind), else data slowed and calls or texts
    charged out of bundle; a behaviour that does not apply to a kind falls back to the default."""
    assert ingestion.exhausted({}, "data")["exhausted"] == "slowed"
    assert ingestion.exhausted({}, "voice")["exhausted"] == "charged"
    assert ingestion.exhausted({"exhausted": "blocked"}, "sms")["exhausted_fr"].startswith("L'envoi de SMS")
    assert ingestion.exhausted({"exhausted": {"voice": "blocked"}}, "data")["exhausted"] == "slowed"
    assert ingestion.exhausted({"exhausted": {"voice": "blocked"}}, "voice")["exhausted"] == "blocked"
    assert ingestion.exhausted({"exhausted": "slowed"}, "voice")["exhausted"] == "charged"
    assert ingestion.exhausted({"exhausted": "charged_out_of_bundle"}, "data")["exhausted"] == "charged"


def test_a_plan_that_charges_out_of_bundle_says_so_at_100(app_module, account_clock, with_line):
    """The line's terms are read: mutation `exhausted(plan={}, ...)` in check_alerts → "slowed" → fails."""
    enrolled, line_id = with_line(option_ids=[])
    cid = enrolled.customer["customer_id"]
    line = Line.get(*lines.line_key(cid, line_id))
    line.update(actions=[Line.plan.set({**line.plan.as_dict(), "exhausted": {"data": "charged"}})])
    _use(app_module, line_id, ESSENTIEL_MB * 1.01, account_clock - timedelta(minutes=1))
    used_up = [a for a in _usage_alerts(cid) if a.kind == "usage.threshold_100"]
    assert len(used_up) == 1 and used_up[0].data["exhausted"] == "charged"
    assert "est facturé hors forfait, au tarif de votre offre." in used_up[0].body


def test_the_catalogue_is_read_once_per_check_and_only_when_an_alert_is_due(
    app_module, account_clock, with_line, monkeypatch
):
    """80 % and 100 % crossed in one batch: one Query of the catalogue for both. Below 80 %: none.
    Mutation: read the catalogue for each alert (no cache in check_alerts) → 2 → fails."""
    from chalicelib.account import catalog as catalog_module

    enrolled, line_id = with_line(option_ids=[])
    real = catalog_module.load_all
    reads: list[int] = []

    def counted() -> list[Any]:
        reads.append(1)
        return real()

    monkeypatch.setattr(catalog_module, "load_all", counted)
    at = account_clock - timedelta(minutes=1)
    _use(app_module, line_id, ESSENTIEL_MB * 0.1, at)
    assert reads == []
    _use(app_module, line_id, ESSENTIEL_MB, at)
    assert len(reads) == 1
    kinds = {a.kind for a in _usage_alerts(enrolled.customer["customer_id"])}
    assert {"usage.threshold_80", "usage.threshold_100"} <= kinds
