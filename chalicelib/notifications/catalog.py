"""Every alert kind: its category, its texts in each language, its deep link, its help situation.

Adding a kind: an entry here, a JSON Schema in mobile_contract/push/<kind>.schema.json, and the
tests check that its push validates against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.billing.money import format_money
from chalicelib.errors import ValidationFailed

CATEGORIES = ("usage", "billing", "bidding", "service", "security")
LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class AlertKind:
    kind: str
    category: str
    title: dict[str, str]
    body: dict[str, str]
    deep_link: str
    data_keys: tuple[str, ...]  # the ids and values the texts and the app need
    # Where the customer is stuck when reading it: the app asks GET /help/situations/{situation}
    # (a name of chalicelib/help/schemas.py SITUATIONS, so an article can be written for it).
    situation: str
    priority: str = "high"  # FCM priority: "high" wakes the device
    # Amounts written as the reader writes money: text key -> (minor units key, currency key). The
    # producer sends the integer and the currency; notify() fills the text key in the customer's
    # language (« 42,00 € », "€42.00") from the profile it reads anyway: no read of its own.
    money: tuple[tuple[str, str, str], ...] = ()

    def with_money(self, language: str, data: dict[str, str]) -> dict[str, str]:
        """`data` with each money text key written in `language` from its minor units and currency."""
        lang = language if language in LANGUAGES else "fr"
        filled = dict(data)
        for text_key, amount_key, currency_key in self.money:
            amount, currency = data.get(amount_key, ""), data.get(currency_key, "")
            if amount.lstrip("-").isdigit() and currency:
                filled[text_key] = format_money(int(amount), currency, language=lang)
        return filled

    def render(self, language: str, data: dict[str, str]) -> tuple[str, str, str]:
        lang = language if language in LANGUAGES else "fr"
        values = {k: data.get(k, "") for k in self.data_keys}
        # A sentence a producer leaves out (an empty value) leaves no double or trailing space.
        body = re.sub(r" {2,}", " ", self.body[lang].format(**values)).strip()
        return self.title[lang].format(**values), body, self.deep_link.format(**values)


# What every usage alert carries about the line and the allowance concerned.
# The amount of a bill or payment alert: its minor units and currency, and `amount` as the reader
# writes it (filled by notify()).
_AMOUNT = (("amount", "amount_minor", "currency"),)

_USAGE_KEYS = ("line_id", "msisdn", "allowance", "allowance_fr", "allowance_en", "cycle_start")
# The option that fits (chalicelib/account/suggestions.py): `suggestion` is `option` or `none`; with
# an option, its id, names, price (minor units, currency, and as each language writes it) and the
# app's link to its preview; `offer_fr`/`offer_en` say it in a sentence, or say that none fits.
_OFFER_KEYS = (
    "suggestion",
    "option_id",
    "option_name_fr",
    "option_name_en",
    "option_price_amount",
    "option_price_currency",
    "option_price_fr",
    "option_price_en",
    "option_link",
    "offer_fr",
    "offer_en",
)

# What every bidding outcome carries: the offer, its title, the bid's amount (minor units, currency,
# and as the reader writes it).
_BID_KEYS = ("offer_id", "title_fr", "title_en", "amount", "amount_minor", "currency")
# A won upgrade: the line it is on, what it is, when it ends (an instant, and a date per language).
_GRANT_KEYS = (
    "line_id",
    "msisdn",
    "grant_name_fr",
    "grant_name_en",
    "ends_at",
    "ends_on_fr",
    "ends_on_en",
)

# When bidding closes: the instant, and as each language writes it in a sentence.
_CLOSES_KEYS = ("closes_at", "closes_at_fr", "closes_at_en")

# Abroad: a roaming welcome, and the data spending limit's alerts (account/roaming.py).
_ROAMING_KEYS = (
    "line_id",
    "msisdn",
    "number",
    "cycle_start",
    "zone",
    "zone_fr",
    "zone_en",
    "tariff_fr",
    "tariff_en",
    "limit",
    "limit_minor",
    "currency",
)
_SPEND_KEYS = (
    "line_id",
    "msisdn",
    "number",
    "cycle_start",
    "percent",
    "spent",
    "spent_minor",
    "limit",
    "limit_minor",
    "currency",
)

KINDS: dict[str, AlertKind] = {
    k.kind: k
    for k in (
        AlertKind(
            kind="security.passkey_added",
            category="security",
            title={"fr": "Nouvelle clé d'accès", "en": "New passkey"},
            body={
                "fr": "La clé d'accès « {passkey_name} » a été ajoutée à votre compte. Ce n'est pas vous ? Supprimez-la.",
                "en": "The passkey \u201c{passkey_name}\u201d was added to your account. Not you? Remove it.",
            },
            deep_link="selfcare://security/passkeys",
            data_keys=("passkey_id", "passkey_name"),
            situation="account_security",
        ),
        AlertKind(
            kind="security.passkey_removed",
            category="security",
            title={"fr": "Clé d'accès supprimée", "en": "Passkey removed"},
            body={
                "fr": "La clé d'accès « {passkey_name} » a été supprimée et ses sessions fermées.",
                "en": "The passkey \u201c{passkey_name}\u201d was removed and its sessions ended.",
            },
            deep_link="selfcare://security/passkeys",
            data_keys=("passkey_id", "passkey_name"),
            situation="account_security",
        ),
        AlertKind(
            kind="security.new_session",
            category="security",
            title={"fr": "Nouvelle connexion", "en": "New sign-in"},
            body={
                "fr": "Connexion à votre compte depuis {device}. Ce n'est pas vous ? Fermez la session.",
                "en": "Someone signed in to your account from {device}. Not you? End the session.",
            },
            deep_link="selfcare://security/sessions",
            data_keys=("session_id", "device"),
            situation="new_session",
        ),
        AlertKind(
            kind="security.account_changed",
            category="security",
            title={"fr": "Votre compte a changé", "en": "Your account changed"},
            body={
                "fr": "Avec votre confirmation par clé d'accès, {change_fr}. Ce n'est pas vous ? Fermez vos sessions et contactez-nous.",
                "en": "With your passkey confirmation, {change_en}. Not you? End your sessions and contact us.",
            },
            deep_link="selfcare://security/sessions",
            data_keys=("change", "change_fr", "change_en"),
            situation="account_changed",
        ),
        AlertKind(
            kind="security.suspicious_activity",
            category="security",
            title={"fr": "Activité inhabituelle", "en": "Unusual activity"},
            body={
                "fr": "Nous avons bloqué une tentative inhabituelle sur votre compte. Vérifiez vos sessions et vos clés d'accès.",
                "en": "We blocked an unusual attempt on your account. Check your sessions and passkeys.",
            },
            deep_link="selfcare://security/sessions",
            data_keys=("reason",),
            situation="account_security",
        ),
        AlertKind(
            kind="usage.threshold_80",
            category="usage",
            title={"fr": "80 % de votre forfait utilisés", "en": "80% of your allowance used"},
            body={
                "fr": "Ligne {msisdn} : vous avez utilisé 80 % de votre {allowance_fr} pour ce cycle. {offer_fr}",
                "en": "Line {msisdn}: you have used 80% of your {allowance_en} this cycle. {offer_en}",
            },
            deep_link="selfcare://lines/{line_id}/usage",
            data_keys=(*_USAGE_KEYS, "percent", *_OFFER_KEYS),
            situation="usage_threshold_80",
        ),
        AlertKind(
            kind="usage.threshold_100",
            category="usage",
            title={"fr": "Forfait épuisé", "en": "Allowance used up"},
            body={
                "fr": "Ligne {msisdn} : votre {allowance_fr} est épuisé pour ce cycle. {exhausted_fr} {offer_fr}",
                "en": "Line {msisdn}: your {allowance_en} is used up for this cycle. {exhausted_en} {offer_en}",
            },
            deep_link="selfcare://lines/{line_id}/usage",
            data_keys=(
                *_USAGE_KEYS,
                "percent",
                "exhausted",
                "exhausted_fr",
                "exhausted_en",
                *_OFFER_KEYS,
            ),
            situation="usage_threshold_100",
        ),
        AlertKind(
            kind="usage.pace",
            category="usage",
            title={
                "fr": "À ce rythme, votre forfait sera épuisé avant la fin du cycle",
                "en": "At this pace, you will run out before the cycle ends",
            },
            body={
                "fr": "Ligne {msisdn} : à ce rythme, votre {allowance_fr} sera épuisé le {runs_out_on}. {offer_fr}",
                "en": "Line {msisdn}: at this pace, your {allowance_en} runs out on {runs_out_on}. {offer_en}",
            },
            deep_link="selfcare://lines/{line_id}/usage",
            data_keys=(*_USAGE_KEYS, "runs_out_on", *_OFFER_KEYS),
            situation="usage_pace",
        ),
        AlertKind(
            kind="billing.bill_issued",
            category="billing",
            title={"fr": "Nouvelle facture", "en": "New bill"},
            body={
                "fr": "Votre facture de {amount} est disponible, à régler avant le {due_date}.",
                "en": "Your bill of {amount} is ready, due by {due_date}.",
            },
            deep_link="selfcare://bills/{bill_id}",
            data_keys=("bill_id", "amount", "amount_minor", "currency", "due_date"),
            money=_AMOUNT,
            situation="bill_issued",
        ),
        AlertKind(
            kind="billing.bill_due",
            category="billing",
            title={"fr": "Facture à régler bientôt", "en": "Bill due soon"},
            body={
                "fr": "Votre facture de {amount} est à régler avant le {due_date}. Payez en un geste dans l'app.",
                "en": "Your bill of {amount} is due by {due_date}. Pay in one tap in the app.",
            },
            deep_link="selfcare://bills/{bill_id}",
            data_keys=("bill_id", "amount", "amount_minor", "currency", "due_date"),
            money=_AMOUNT,
            situation="bill_due",
        ),
        AlertKind(
            kind="billing.payment_succeeded",
            category="billing",
            title={"fr": "Paiement reçu", "en": "Payment received"},
            body={
                "fr": "Merci : votre paiement de {amount} est bien reçu.",
                "en": "Thank you: your payment of {amount} is received.",
            },
            deep_link="selfcare://bills/{bill_id}",
            data_keys=("bill_id", "payment_id", "amount", "amount_minor", "currency"),
            money=_AMOUNT,
            situation="payment_succeeded",
        ),
        AlertKind(
            kind="billing.payment_failed",
            category="billing",
            title={"fr": "Paiement refusé", "en": "Payment declined"},
            body={
                "fr": "Votre paiement de {amount} n'a pas abouti. {reason_fr}",
                "en": "Your payment of {amount} did not go through. {reason_en}",
            },
            deep_link="selfcare://bills/{bill_id}",
            data_keys=(
                "bill_id",
                "payment_id",
                "amount",
                "amount_minor",
                "currency",
                "reason_fr",
                "reason_en",
            ),
            money=_AMOUNT,
            situation="payment_failed",
        ),
        # --- customers who cannot pay (billing/overdue.py, billing/arrangements.py) ---
        AlertKind(
            kind="billing.bill_overdue",
            category="billing",
            title={"fr": "Facture en retard", "en": "Bill overdue"},
            body={
                "fr": "Votre facture de {amount} était à régler le {due_date}. Payez-la ou étalez-la dans l'app.",
                "en": "Your bill of {amount} was due on {due_date}. Pay it, or spread it, in the app.",
            },
            deep_link="selfcare://bills/{bill_id}",
            data_keys=("bill_id", "amount", "amount_minor", "currency", "due_date", "days_late"),
            money=_AMOUNT,
            situation="bill_overdue",
        ),
        AlertKind(
            kind="billing.suspension_warning",
            category="billing",
            title={"fr": "Suspension de vos lignes", "en": "Your lines will be suspended"},
            body={
                "fr": "Sans paiement de {amount} d'ici là, vos lignes seront suspendues le {suspension_date_fr}. "
                "Payez ou étalez ce montant dans l'app.",
                "en": "Unless {amount} is paid by then, your lines will be suspended on {suspension_date_en}. "
                "Pay or spread it in the app.",
            },
            deep_link="selfcare://bills/{bill_id}",
            data_keys=(
                "bill_id",
                "amount",
                "amount_minor",
                "currency",
                "due_date",
                "suspension_date",
                "suspension_date_fr",
                "suspension_date_en",
            ),
            money=_AMOUNT,
            situation="suspension_warning",
        ),
        AlertKind(
            kind="billing.arrangement_confirmed",
            category="billing",
            title={"fr": "Échéancier confirmé", "en": "Payment arrangement confirmed"},
            body={
                "fr": "{amount} en {instalments} fois : {first_amount} le {first_due_date_fr}, prélevés sur votre carte.",
                "en": "{amount} in {instalments} instalments: {first_amount} on {first_due_date_en}, charged to your card.",
            },
            deep_link="selfcare://arrangements/{arrangement_id}",
            data_keys=(
                "arrangement_id",
                "amount",
                "amount_minor",
                "currency",
                "instalments",
                "first_amount",
                "first_amount_minor",
                "first_due_date",
                "first_due_date_fr",
                "first_due_date_en",
            ),
            money=(*_AMOUNT, ("first_amount", "first_amount_minor", "currency")),
            situation="payment_arrangement",
        ),
        AlertKind(
            kind="billing.arrangement_broken",
            category="billing",
            title={"fr": "Échéancier interrompu", "en": "Payment arrangement ended"},
            body={
                "fr": "Une échéance n'a pas été payée : l'échéancier prend fin. Sans paiement de {amount}, vos lignes "
                "seront suspendues le {suspension_date_fr}.",
                "en": "An instalment was not paid: the arrangement has ended. Unless {amount} is paid, your lines will "
                "be suspended on {suspension_date_en}.",
            },
            deep_link="selfcare://arrangements/{arrangement_id}",
            data_keys=(
                "arrangement_id",
                "amount",
                "amount_minor",
                "currency",
                "suspension_date",
                "suspension_date_fr",
                "suspension_date_en",
            ),
            money=_AMOUNT,
            situation="arrangement_broken",
        ),
        AlertKind(
            # An adviser ended it (the customer paid another way, a case agreed otherwise): the
            # customer hears of it from us, not from the next reminder.
            kind="billing.arrangement_cancelled",
            category="billing",
            title={"fr": "Échéancier annulé", "en": "Payment arrangement cancelled"},
            body={
                "fr": "Votre échéancier a été annulé par nos services. Reste dû : {amount}, à régler dans l'app.",
                "en": "Your payment arrangement was cancelled by our team. Still due: {amount}, to pay in the app.",
            },
            deep_link="selfcare://arrangements/{arrangement_id}",
            data_keys=("arrangement_id", "amount", "amount_minor", "currency"),
            money=_AMOUNT,
            situation="arrangement_broken",
        ),
        AlertKind(
            kind="bidding.won",
            category="bidding",
            title={"fr": "Enchère remportée", "en": "You won the upgrade"},
            body={
                "fr": "« {title_fr} » est à vous : {amount} ont été prélevés, comme votre offre. {grant_fr}",
                "en": "\u201c{title_en}\u201d is yours: {amount} was charged, as you bid. {grant_en}",
            },
            # The receipt (GET /me/receipts) names the line, the upgrade and its dates.
            deep_link="selfcare://receipts/{receipt_id}",
            data_keys=(*_BID_KEYS, "receipt_id", *_GRANT_KEYS, "grant_fr", "grant_en"),
            money=_AMOUNT,
            situation="bid_won",
        ),
        AlertKind(
            kind="bidding.lost",
            category="bidding",
            title={"fr": "Enchère non remportée", "en": "Your bid did not win"},
            body={"fr": "« {title_fr} » : {reason_fr}", "en": "\u201c{title_en}\u201d: {reason_en}"},
            deep_link="selfcare://offers/{offer_id}",
            data_keys=(*_BID_KEYS, "reason", "reason_fr", "reason_en"),
            money=_AMOUNT,
            situation="bid_lost",
        ),
        AlertKind(
            kind="bidding.declined",
            category="bidding",
            title={"fr": "Paiement de l'enchère refusé", "en": "Bid payment declined"},
            body={
                "fr": "Votre offre de {amount} pour « {title_fr} » gagnait, mais le paiement a été refusé : l'unité est passée à l'offre suivante. {reason_fr}",
                "en": "Your {amount} bid for \u201c{title_en}\u201d was winning, but the payment was declined: the unit went to the next bid. {reason_en}",
            },
            deep_link="selfcare://offers/{offer_id}",
            data_keys=(*_BID_KEYS, "reason", "reason_fr", "reason_en"),
            money=_AMOUNT,
            situation="bid_declined",
        ),
        AlertKind(
            # A winning bid's card was declined at clearing: it keeps its unit until `retry_until`.
            kind="bidding.payment_retry",
            category="bidding",
            title={"fr": "Mettez à jour votre carte", "en": "Update your card"},
            body={
                "fr": "Votre offre de {amount} pour « {title_fr} » gagne, mais le paiement a été refusé. {reason_fr} Ajoutez une carte avant le {retry_until_fr} pour garder votre gain.",
                "en": "Your {amount} bid for \u201c{title_en}\u201d is winning, but the payment was declined. {reason_en} Add a card by {retry_until_en} to keep your win.",
            },
            deep_link="selfcare://payment-methods",
            data_keys=(
                *_BID_KEYS,
                "reason",
                "reason_fr",
                "reason_en",
                "retry_until",
                "retry_until_fr",
                "retry_until_en",
            ),
            money=_AMOUNT,
            situation="bid_payment_retry",
        ),
        AlertKind(
            # The upgrade could not be delivered to the chosen line: the charge was refunded.
            kind="bidding.refunded",
            category="bidding",
            title={"fr": "Enchère remboursée", "en": "Bid refunded"},
            body={
                "fr": "Votre offre pour « {title_fr} » gagnait, mais l'avantage n'a pas pu être ajouté : {reason_fr}. Les {amount} prélevés vous sont remboursés.",
                "en": "Your bid for \u201c{title_en}\u201d was winning, but the upgrade could not be added: {reason_en}. The {amount} charged is refunded.",
            },
            deep_link="selfcare://offers/{offer_id}",
            data_keys=(*_BID_KEYS, "reason", "reason_fr", "reason_en"),
            money=_AMOUNT,
            situation="bid_refunded",
        ),
        AlertKind(
            # An offer opened for the customer (their segment, their plan): what it grants, the
            # range of bids, when bidding closes.
            kind="bidding.invitation",
            category="bidding",
            title={"fr": "Une offre pour vous", "en": "An offer for you"},
            body={
                "fr": "« {title_fr} » est ouverte aux enchères de {min_bid} à {max_bid}, jusqu'au {closes_at_fr}. {grant_fr}",
                "en": "\u201c{title_en}\u201d is open for bids from {min_bid} to {max_bid}, until {closes_at_en}. {grant_en}",
            },
            deep_link="selfcare://offers/{offer_id}",
            data_keys=(
                "offer_id",
                "title_fr",
                "title_en",
                "grant_fr",
                "grant_en",
                "min_bid",
                "min_bid_minor",
                "max_bid",
                "max_bid_minor",
                "currency",
                *_CLOSES_KEYS,
            ),
            money=(("min_bid", "min_bid_minor", "currency"), ("max_bid", "max_bid_minor", "currency")),
            situation="bid_invitation",
            priority="normal",  # an offer is no reason to wake a phone
        ),
        AlertKind(
            # A bidder's reminder before bidding closes: their bid and its strength band.
            kind="bidding.closing_soon",
            category="bidding",
            title={"fr": "Les enchères se terminent bientôt", "en": "Bidding closes soon"},
            body={
                "fr": "Votre offre de {amount} pour « {title_fr} » : les enchères se terminent le {closes_at_fr}. {strength_fr}",
                "en": "Your {amount} bid for \u201c{title_en}\u201d: bidding closes on {closes_at_en}. {strength_en}",
            },
            deep_link="selfcare://offers/{offer_id}",
            data_keys=(*_BID_KEYS, *_CLOSES_KEYS, "strength", "strength_fr", "strength_en"),
            money=_AMOUNT,
            situation="bid_closing_soon",
        ),
        AlertKind(
            # Another bid pushed this one out of the winning range (as the bids stood then).
            kind="bidding.outbid",
            category="bidding",
            title={"fr": "Votre offre est dépassée", "en": "You have been outbid"},
            body={
                "fr": "Votre offre de {amount} pour « {title_fr} » ne fait plus partie des offres gagnantes. Vous pouvez la modifier jusqu'au {closes_at_fr}.",
                "en": "Your {amount} bid for \u201c{title_en}\u201d is no longer among the winning bids. You can change it until {closes_at_en}.",
            },
            deep_link="selfcare://offers/{offer_id}",
            data_keys=(*_BID_KEYS, *_CLOSES_KEYS),
            money=_AMOUNT,
            situation="bid_outbid",
        ),
        AlertKind(
            kind="bidding.upgrade_ending",
            category="bidding",
            title={"fr": "Votre avantage se termine bientôt", "en": "Your upgrade ends soon"},
            body={
                "fr": "« {grant_name_fr} » sur votre ligne {msisdn} se termine le {ends_on_fr}.",
                "en": "\u201c{grant_name_en}\u201d on your line {msisdn} ends on {ends_on_en}.",
            },
            deep_link="selfcare://lines/{line_id}",
            data_keys=("offer_id", "receipt_id", *_GRANT_KEYS),
            situation="bid_upgrade_ending",
            priority="normal",
        ),
        AlertKind(
            kind="bidding.upgrade_ended",
            category="bidding",
            title={"fr": "Votre avantage est terminé", "en": "Your upgrade has ended"},
            body={
                "fr": "« {grant_name_fr} » sur votre ligne {msisdn} s'est terminé le {ends_on_fr}, comme prévu.",
                "en": "\u201c{grant_name_en}\u201d on your line {msisdn} ended on {ends_on_en}, as planned.",
            },
            deep_link="selfcare://lines/{line_id}",
            data_keys=("offer_id", "receipt_id", *_GRANT_KEYS),
            situation="bid_upgrade_ending",
            priority="normal",
        ),
        AlertKind(
            kind="service.request_updated",
            category="service",
            title={"fr": "Votre demande a évolué", "en": "Your request has moved on"},
            body={"fr": "{summary_fr} : {reason_fr}", "en": "{summary_en}: {reason_en}"},
            deep_link="selfcare://requests/{request_id}",
            data_keys=("request_id", "status", "summary_fr", "summary_en", "reason_fr", "reason_en"),
            situation="plan_change",
        ),
        AlertKind(
            # A change the provider made to a line (admin_set_line): what changed, in words, and why.
            # The request it links to (GET /me/requests) holds the same change, item by item.
            kind="line.changed",
            category="service",
            title={"fr": "Votre ligne a changé", "en": "Your line has changed"},
            body={"fr": "{changes_fr} Motif : {reason_fr}", "en": "{changes_en} Reason: {reason_en}"},
            deep_link="selfcare://requests/{request_id}",
            data_keys=(
                "request_id",
                "line_id",
                "msisdn",
                "reason",
                "reason_fr",
                "reason_en",
                "changes_fr",
                "changes_en",
            ),
            situation="line_changed",
        ),
        AlertKind(
            # The customer suspended a line for a lost or stolen phone (account/suspension.py). The
            # body says what to do next: the lost phone may still be signed in to this app.
            kind="line.suspended",
            category="security",
            title={"fr": "Ligne suspendue", "en": "Line suspended"},
            body={
                "fr": "Votre ligne {number} est suspendue ({reason_fr}). Fermez les sessions du téléphone perdu dans Sécurité > Sessions, et réactivez la ligne dans l'app quand vous le retrouvez.",
                "en": "Your line {number} is suspended ({reason_en}). End the lost phone's sessions in Security > Sessions, and restore the line in the app when you find it.",
            },
            deep_link="selfcare://security/sessions",
            data_keys=("request_id", "line_id", "msisdn", "number", "reason", "reason_fr", "reason_en"),
            situation="line_suspended_by_customer",
        ),
        AlertKind(
            kind="line.restored",
            category="security",
            title={"fr": "Ligne réactivée", "en": "Line restored"},
            body={
                "fr": "Votre ligne {number} est de nouveau active. Ce n'est pas vous ? Suspendez-la et fermez vos sessions.",
                "en": "Your line {number} is active again. Not you? Suspend it and end your sessions.",
            },
            deep_link="selfcare://lines/{line_id}",
            data_keys=("request_id", "line_id", "msisdn", "number"),
            situation="line_suspended_by_customer",
        ),
        AlertKind(
            # An adviser's step on a case (a reply, a document asked for, resolved): the words stay
            # in the app (GET /me/cases/{id}), never on the lock screen.
            kind="case.replied",
            category="service",
            title={"fr": "Votre demande", "en": "Your case"},
            body={"fr": "{summary_fr}", "en": "{summary_en}"},
            deep_link="selfcare://cases/{case_id}",
            data_keys=("case_id", "event_id", "status", "summary_fr", "summary_en"),
            situation="case_replied",
        ),
        AlertKind(
            kind="service.announcement",
            category="service",
            title={"fr": "Information", "en": "Information"},
            body={"fr": "{message_fr}", "en": "{message_en}"},
            deep_link="selfcare://inbox/{announcement_id}",
            data_keys=("announcement_id", "message_fr", "message_en"),
            situation="service_announcement",
            priority="normal",
        ),
        # Abroad (account/roaming.py): the welcome in a zone, once per zone and cycle, with its
        # tariff (`tariff_fr`/`tariff_en`, prices written in each language) and the data spending
        # limit (`limit`, written by notify() in the reader's language); the limit's 80 % and 100 %.
        AlertKind(
            kind="roaming.welcome",
            category="usage",
            title={"fr": "Bienvenue à l'étranger", "en": "Welcome abroad"},
            body={
                "fr": "Ligne {number}, {zone_fr}. {tariff_fr} L'internet hors forfait s'arrête à {limit} HT de dépense par cycle, plafond modifiable dans l'app.",
                "en": "Line {number}, {zone_en}. {tariff_en} Data beyond your allowance stops at {limit} excluding VAT spent per cycle, a limit you can change in the app.",
            },
            deep_link="selfcare://lines/{line_id}/roaming",
            data_keys=_ROAMING_KEYS,
            situation="roaming",
            money=(("limit", "limit_minor", "currency"),),
        ),
        AlertKind(
            kind="roaming.spend_80",
            category="usage",
            title={"fr": "80 % de votre plafond à l'étranger", "en": "80% of your roaming limit"},
            body={
                "fr": "Ligne {number} : {spent} HT d'internet hors forfait à l'étranger ce cycle, 80 % de votre plafond de {limit}. À 100 %, l'internet à l'étranger s'arrête.",
                "en": "Line {number}: {spent} excluding VAT of roaming data beyond your allowance this cycle, 80% of your {limit} limit. At 100%, roaming data stops.",
            },
            deep_link="selfcare://lines/{line_id}/roaming",
            data_keys=_SPEND_KEYS,
            situation="roaming",
            money=(("spent", "spent_minor", "currency"), ("limit", "limit_minor", "currency")),
        ),
        AlertKind(
            kind="roaming.spend_100",
            category="usage",
            title={"fr": "Internet à l'étranger arrêté", "en": "Roaming data stopped"},
            body={
                "fr": "Ligne {number} : votre plafond de {limit} HT d'internet hors forfait à l'étranger est atteint. L'internet mobile à l'étranger est coupé jusqu'à la fin du cycle, sauf si vous relevez ou levez le plafond dans l'app.",
                "en": "Line {number}: your {limit} excluding VAT limit on roaming data beyond your allowance is reached. Roaming data is off until the end of the cycle, unless you raise or lift the limit in the app.",
            },
            deep_link="selfcare://lines/{line_id}/roaming",
            data_keys=_SPEND_KEYS,
            situation="roaming",
            money=(("spent", "spent_minor", "currency"), ("limit", "limit_minor", "currency")),
        ),
        AlertKind(
            # Privacy. Security: every datum of the account leaves in that file, so whoever
            # asked for it, the customer always hears of it (a category that cannot be switched off).
            kind="privacy.export_ready",
            category="security",
            title={"fr": "Vos données sont prêtes", "en": "Your data is ready"},
            body={
                "fr": "Le fichier de vos données est prêt à télécharger dans l'application pendant 7 jours. Vous ne l'avez pas demandé ? Fermez vos sessions.",
                "en": "The file of your data is ready to download in the app for 7 days. You did not ask for it? End your sessions.",
            },
            deep_link="selfcare://privacy/exports/{export_id}",
            data_keys=("export_id", "file_expires_at"),
            situation="data_export_ready",
        ),
        AlertKind(
            # Closure. Security: whoever confirmed it, the customer always hears of it, with the
            # date and the way back (a category that cannot be switched off).
            kind="account.closure_scheduled",
            category="security",
            title={"fr": "Fermeture de votre compte", "en": "Your account's closure"},
            body={
                "fr": "Votre compte sera fermé le {effective_date}, puis vos données effacées (vos factures sont gardées 10 ans). Vous pouvez annuler dans l'app d'ici là. Ce n'est pas vous ? Annulez et fermez vos sessions.",
                "en": "Your account will be closed on {effective_date}, then your data erased (your bills are kept 10 years). You can cancel in the app until then. Not you? Cancel and end your sessions.",
            },
            deep_link="selfcare://privacy/closure",
            data_keys=("closure_id", "effective_at", "effective_date"),
            situation="account_closure",
        ),
    )
}


def kind_of(name: str) -> AlertKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValidationFailed(f"Unknown alert kind {name!r}.", code="unknown_alert_kind") from None


def situation_of(kind: str) -> str:
    """The help situation of an inbox item's kind. A kind no longer in the catalog (an old item)
    still names a well-formed situation, its own name (`a.b` → `a_b`): the app can always ask."""
    known = KINDS.get(kind)
    return known.situation if known else re.sub(r"[^a-z0-9_]", "_", kind.lower())


def as_strings(data: dict[str, Any]) -> dict[str, str]:
    """FCM data payloads carry strings only."""
    return {str(k): "" if v is None else str(v) for k, v in data.items()}
