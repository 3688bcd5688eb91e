"""Answers that act: an article's actions as deep links into the app's own flows.

Signed out, each action is generic (« Payer une facture » → the bills screen, which asks to sign
in). Signed in, it is filled with the customer's own objects: one action per open bill
(« Payer la facture de novembre (42,00 €) », amount in the customer's language) and per line
(« Ajouter 5 Go à la ligne 06 12 34 56 78 »). The customer's objects are read at most once per
request, with at most two DynamoDB calls: `GET /me`'s one Query (profile, lines) and the newest
bills (one Query), each only when an answer needs it.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from chalicelib.account import views
from chalicelib.billing import bills
from chalicelib.billing.money import format_money
from chalicelib.errors import NotFound
from chalicelib.help import language as words

MAX_OBJECTS = 3  # bills or lines per action: beyond, the generic action's screen lists them
BILLS_READ = 12  # the newest bills read for open ones (about a year of monthly bills)

# type → (generic label fr, en; deep link)
GENERIC: dict[str, tuple[str, str, str]] = {
    "pay_bill": ("Payer une facture", "Pay a bill", "selfcare://bills"),
    "view_bills": ("Voir mes factures", "See my bills", "selfcare://bills"),
    "add_data": ("Ajouter des données", "Add data", "selfcare://lines"),
    "change_plan": ("Changer de forfait", "Change plan", "selfcare://lines"),
    "view_usage": ("Voir ma consommation", "See my usage", "selfcare://lines"),
    "manage_cards": ("Gérer mes cartes", "Manage my cards", "selfcare://payment-methods"),
    "open_case": ("Contacter un conseiller", "Contact an adviser", "selfcare://cases/new"),
}


class Personal:
    """The signed-in customer's objects, each read once, only if an answer needs it."""

    def __init__(self, customer_id: str | None) -> None:
        self.customer_id = customer_id
        self._me: dict[str, Any] | None = None
        self._me_read = False
        self._bills: list[dict[str, Any]] | None = None

    @property
    def signed_in(self) -> bool:
        return self.me() is not None

    def me(self) -> dict[str, Any] | None:
        """`GET /me`'s answer (one Query): profile and lines; None when signed out."""
        if self.customer_id is None:
            return None
        if not self._me_read:
            self._me_read = True
            try:
                self._me = views.get_me(customer_id=self.customer_id)
            except NotFound:  # a token outliving its customer: answer as to anyone
                self._me = None
        return self._me

    def language(self) -> str | None:
        me = self.me()
        return str(me["profile"]["language"]) if me else None

    def lines(self) -> list[dict[str, Any]]:
        me = self.me()
        return [line for line in (me or {}).get("lines", []) if line.get("status") == "active"][:MAX_OBJECTS]

    def open_bills(self) -> list[dict[str, Any]]:
        """Bills with something left to pay, oldest due first (one Query of the newest bills)."""
        if self.me() is None or self.customer_id is None:
            return []
        if self._bills is None:
            page = bills.list_bills(
                customer_id=self.customer_id, status="open", cursor=None, limit=BILLS_READ
            )
            self._bills = sorted(
                (b for b in page["bills"] if b["balance"]["amount"] > 0), key=lambda b: b["due_date"]
            )
        return self._bills[:MAX_OBJECTS]


def _label(spec: dict[str, Any], lang: str) -> str:
    override = spec.get("label")
    if isinstance(override, dict) and override.get(lang):
        return str(override[lang])
    french, english, _ = GENERIC[spec["type"]]
    return english if lang == "en" else french


def _action(kind: str, label: str, deep_link: str, **params: Any) -> dict[str, Any]:
    return {"type": kind, "label": label, "deep_link": deep_link, "params": params}


def _bill_label(bill: dict[str, Any], lang: str) -> str:
    issued = date.fromisoformat(str(bill["issued_at"])[:10])
    amount = format_money(bill["balance"]["amount"], bill["balance"]["currency"], language=lang)
    if lang == "en":
        return f"Pay the {words.month_name(issued.month, 'en')} bill ({amount})"
    return f"Payer la facture {words.of_month(issued.month)} ({amount})"


def _line_label(kind: str, base: str, line: dict[str, Any], lang: str) -> str:
    number = words.phone_number(str(line["msisdn"]))
    if kind == "change_plan" and base == _label({"type": kind}, lang):
        return (
            f"Change the plan of line {number}"
            if lang == "en"
            else f"Changer le forfait de la ligne {number}"
        )
    if kind == "view_usage" and base == _label({"type": kind}, lang):
        return (
            f"See the usage of line {number}"
            if lang == "en"
            else f"Voir la consommation de la ligne {number}"
        )
    return f"{base} to line {number}" if lang == "en" else f"{base} à la ligne {number}"


def _line_link(kind: str, line_id: str, option_id: str | None) -> str:
    if kind == "add_data":
        return f"selfcare://lines/{line_id}/options" + (
            f"?{urlencode({'add': option_id})}" if option_id else ""
        )
    if kind == "change_plan":
        return f"selfcare://lines/{line_id}/plan-change"
    return f"selfcare://lines/{line_id}/usage"


def render(
    specs: list[dict[str, Any]], lang: str, personal: Personal, *, context: dict[str, str]
) -> list[dict[str, Any]]:
    """The wire actions of an article (or a search hit). `context` names where the customer is
    (article_id, search_id): an open_case action carries it to the case."""
    out: list[dict[str, Any]] = []
    for spec in specs:
        kind = str(spec["type"])
        label = _label(spec, lang)
        generic_link = GENERIC[kind][2]
        option_id = spec.get("option_id")
        if kind == "open_case":
            query = urlencode(sorted(context.items()))
            out.append(_action(kind, label, generic_link + (f"?{query}" if query else ""), **context))
        elif kind == "pay_bill" and personal.signed_in:
            open_bills = personal.open_bills()
            for bill in open_bills:
                out.append(
                    _action(
                        kind,
                        _bill_label(bill, lang),
                        f"selfcare://bills/{bill['bill_id']}",
                        bill_id=bill["bill_id"],
                        amount=bill["balance"],
                    )
                )
            if not open_bills:  # nothing to pay: the bills, to check
                french, english, link = GENERIC["view_bills"]
                out.append(_action("view_bills", english if lang == "en" else french, link))
        elif kind in ("add_data", "change_plan", "view_usage") and personal.signed_in and personal.lines():
            for line in personal.lines():
                params: dict[str, Any] = {"line_id": line["line_id"]}
                if option_id:
                    params["option_id"] = option_id
                out.append(
                    _action(
                        kind,
                        _line_label(kind, label, line, lang),
                        _line_link(kind, str(line["line_id"]), option_id),
                        **params,
                    )
                )
        else:
            params = {"option_id": option_id} if option_id else {}
            out.append(_action(kind, label, generic_link, **params))
    return out


def needs_objects(specs: list[dict[str, Any]]) -> bool:
    return any(spec["type"] in ("pay_bill", "add_data", "change_plan", "view_usage") for spec in specs)
