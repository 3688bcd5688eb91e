"""Help content for `make run` / `make demo`, and a generator of many articles for the benchmark.

    python -m devtools.help_seed            # the demo sections and articles (fr + en), published

The demo content goes through the admin functions, as an admin would from the console (sections,
drafts, publish without rebuilding each time, then one rebuild). `synthetic_drafts(n)` makes n
articles of plausible help text in both languages; `publish_directly` writes their public copies in
batches (the benchmark's shortcut for n publishes: what the index build reads is the same).
"""

from __future__ import annotations

import json
import random
from typing import Any

SECTIONS: list[dict[str, Any]] = [
    {
        "section_id": "factures",
        "title": {"fr": "Factures et paiements", "en": "Bills and payments"},
        "position": 10,
    },
    {"section_id": "consommation", "title": {"fr": "Consommation", "en": "Usage"}, "position": 20},
    {
        "section_id": "forfaits",
        "title": {"fr": "Forfaits et options", "en": "Plans and options"},
        "position": 30,
    },
    {
        "section_id": "encheres",
        "title": {"fr": "Offres aux enchères", "en": "Upgrade auctions"},
        "position": 40,
    },
    {
        "section_id": "compte",
        "title": {"fr": "Compte et sécurité", "en": "Account and security"},
        "position": 50,
    },
]


def _text(title: str, summary: str, body: str, tags: list[str]) -> dict[str, Any]:
    return {"title": title, "summary": summary, "body": body, "tags": tags}


ARTICLES: list[dict[str, Any]] = [
    {
        "article_id": "payer-facture-impayee",
        "section_id": "factures",
        "situations": ["bill_due", "payment_failed"],
        "content": {
            "fr": _text(
                "Payer une facture impayée",
                "Votre facture n'est pas encore réglée : payez-la en un geste avec votre carte.",
                "Une facture impayée reste à régler après sa date d'échéance. Ouvrez la facture, "
                "choisissez votre carte et confirmez avec Face ID ou votre empreinte : le paiement est "
                "immédiat et la facture passe à « payée ».\n\nSi le paiement est refusé, vérifiez la "
                "date d'expiration de la carte ou ajoutez-en une autre.",
                ["impayé", "retard", "régler", "payer", "échéance"],
            ),
            "en": _text(
                "Pay an unpaid bill",
                "Your bill is not settled yet: pay it in one tap with your card.",
                "An unpaid bill is still due after its due date. Open the bill, choose your card and "
                "confirm with Face ID or your fingerprint: the payment is immediate and the bill is "
                "marked paid.\n\nIf the payment is declined, check the card's expiry date or add "
                "another card.",
                ["unpaid", "overdue", "settle", "pay", "due date"],
            ),
        },
        "actions": [{"type": "pay_bill"}, {"type": "manage_cards"}, {"type": "open_case"}],
    },
    {
        "article_id": "paiement-refuse",
        "section_id": "factures",
        "situations": [
            "payment_failed",
            "card_declined",
            "insufficient_funds",
            "expired_card",
            "authentication_required",
        ],
        "content": {
            "fr": _text(
                "Mon paiement a été refusé",
                "Carte refusée, provision insuffisante, 3-D Secure : que faire quand la banque dit non.",
                "Votre banque a refusé le paiement. Les raisons les plus fréquentes : une provision "
                "insuffisante, une carte expirée ou bloquée, ou une authentification 3-D Secure "
                "demandée par la banque. Réessayez avec une autre carte, ou contactez votre banque. "
                "Aucun montant n'a été prélevé.",
                ["carte refusée", "refus", "banque", "3d secure", "provision"],
            ),
            "en": _text(
                "My payment was declined",
                "Card declined, insufficient funds, 3-D Secure: what to do when the bank says no.",
                "Your bank declined the payment. The usual reasons: insufficient funds, an expired "
                "or blocked card, or a 3-D Secure check the bank asked for. Try another card, or "
                "contact your bank. Nothing was charged.",
                ["card declined", "declined", "bank", "3d secure", "funds"],
            ),
        },
        "actions": [{"type": "manage_cards"}, {"type": "pay_bill"}, {"type": "open_case"}],
    },
    {
        "article_id": "comprendre-facture",
        "section_id": "factures",
        "situations": ["bill_issued"],
        "content": {
            "fr": _text(
                "Comprendre ma facture",
                "Forfait, options, hors forfait et taxes : chaque ligne de la facture expliquée.",
                "Votre facture détaille le forfait du mois, les options, les consommations hors "
                "forfait et les taxes. La période facturée est indiquée en haut ; le total TTC est "
                "ce qui reste à payer.",
                ["détail", "montant", "taxes", "hors forfait", "période"],
            ),
            "en": _text(
                "Understand my bill",
                "Plan, options, extra usage and taxes: every line of the bill explained.",
                "Your bill lists the month's plan, the options, usage beyond the plan and taxes. "
                "The billed period is at the top; the total including tax is what is left to pay.",
                ["details", "amount", "tax", "extra usage", "period"],
            ),
        },
        "actions": [{"type": "view_bills"}],
    },
    {
        "article_id": "paiement-automatique",
        "section_id": "factures",
        "situations": ["bill_due"],
        "content": {
            "fr": _text(
                "Activer le paiement automatique",
                "Vos factures réglées à leur échéance avec votre carte par défaut.",
                "Avec le paiement automatique, chaque facture est payée le jour de son échéance avec "
                "votre carte par défaut. Vous pouvez l'activer ou l'arrêter à tout moment, avec une "
                "confirmation par clé d'accès.",
                ["prélèvement", "automatique", "autopay", "carte par défaut"],
            ),
            "en": _text(
                "Turn on automatic payment",
                "Your bills paid on their due date with your default card.",
                "With automatic payment, each bill is paid on its due date with your default card. "
                "Turn it on or off at any time, confirmed with your passkey.",
                ["direct debit", "automatic", "autopay", "default card"],
            ),
        },
        "actions": [{"type": "manage_cards"}],
    },
    {
        "article_id": "plus-de-donnees",
        "section_id": "consommation",
        "situations": ["usage_threshold_100", "usage_high", "usage_threshold_80", "usage_pace"],
        "content": {
            "fr": _text(
                "Je n'ai plus de données mobiles",
                "Votre enveloppe internet est épuisée : ajoutez des Go ou changez de forfait.",
                "Quand votre enveloppe de données est épuisée, l'internet mobile ralentit jusqu'au "
                "prochain cycle. Ajoutez une recharge de 5 Go immédiatement, ou passez à un forfait "
                "plus grand à partir du prochain cycle.",
                ["internet", "data", "go", "épuisé", "recharge", "débit"],
            ),
            "en": _text(
                "I ran out of mobile data",
                "Your data allowance is used up: add GB or change plan.",
                "When your data allowance is used up, mobile internet slows down until the next "
                "cycle. Add a 5 GB top-up now, or move to a bigger plan from the next cycle.",
                ["internet", "data", "gb", "used up", "top-up", "speed"],
            ),
        },
        "actions": [
            {
                "type": "add_data",
                "option_id": "data-plus-5",
                "label": {"fr": "Ajouter 5 Go", "en": "Add 5 GB"},
            },
            {"type": "change_plan"},
        ],
    },
    {
        "article_id": "suivre-consommation",
        "section_id": "consommation",
        "situations": ["usage_threshold_80", "usage_pace"],
        "content": {
            "fr": _text(
                "Suivre ma consommation",
                "Données, appels et SMS du cycle en cours, et la projection à la fin du mois.",
                "L'écran de consommation montre ce que vous avez utilisé depuis le début du cycle, "
                "ce qu'il reste, et une projection à la fin du cycle. Vous êtes prévenu à 80 % et "
                "quand votre rythme dépasse l'enveloppe.",
                ["conso", "suivi", "alerte", "80 %", "rythme"],
            ),
            "en": _text(
                "Track my usage",
                "Data, calls and texts this cycle, and where you will be at its end.",
                "The usage screen shows what you used since the cycle began, what is left, and a "
                "projection at the end of the cycle. You are warned at 80 % and when your pace runs "
                "ahead of your allowance.",
                ["usage", "tracking", "alert", "80 %", "pace"],
            ),
        },
        "actions": [{"type": "view_usage"}],
    },
    {
        "article_id": "changer-forfait",
        "section_id": "forfaits",
        "situations": ["plan_change", "plan_change_rejected", "preview_mismatch"],
        "content": {
            "fr": _text(
                "Changer de forfait",
                "Comparez, voyez ce qui change, confirmez : le nouveau forfait démarre au prochain cycle.",
                "Choisissez un forfait : l'aperçu montre la différence de prix, les enveloppes qui "
                "changent et les options que vous perdriez. Confirmez, et le changement s'applique "
                "au début du prochain cycle.",
                ["forfait", "changement", "offre", "abonnement", "options"],
            ),
            "en": _text(
                "Change my plan",
                "Compare, see what changes, confirm: the new plan starts with the next cycle.",
                "Pick a plan: the preview shows the price difference, the allowances that change "
                "and the options you would lose. Confirm, and the change applies at the start of "
                "the next cycle.",
                ["plan", "change", "offer", "subscription", "options"],
            ),
        },
        "actions": [{"type": "change_plan"}],
    },
    {
        "article_id": "encheres-fonctionnement",
        "section_id": "encheres",
        "situations": ["bid_won", "bid_lost", "offer_closed", "bid_out_of_range"],
        "content": {
            "fr": _text(
                "Comment fonctionnent les enchères",
                "Une offre, une enchère sous pli fermé, le résultat à la clôture.",
                "Chaque offre a un nombre d'unités. Vous enchérissez une fois (modifiable cinq fois) "
                "jusqu'à la clôture. Les meilleures enchères gagnent et paient ce qu'elles ont "
                "proposé ; si vous êtes dépassé, rien n'est prélevé.",
                ["enchère", "offre", "clôture", "gagné", "perdu", "dépassé"],
            ),
            "en": _text(
                "How upgrade auctions work",
                "One offer, one sealed bid, the result when bidding closes.",
                "Each offer has a number of units. You bid once (changeable five times) until it "
                "closes. The best bids win and pay what they bid; if you are outbid, nothing is "
                "charged.",
                ["bid", "auction", "offer", "closing", "won", "outbid"],
            ),
        },
        "actions": [],
    },
    {
        "article_id": "enchere-non-debitee",
        "section_id": "encheres",
        "situations": ["bid_declined"],
        "content": {
            "fr": _text(
                "Mon enchère gagnante n'a pas pu être débitée",
                "La carte a été refusée à la clôture : l'unité est passée à l'enchère suivante.",
                "À la clôture, chaque enchère gagnante est débitée sur la carte choisie. Si la "
                "banque refuse, l'unité passe à l'enchère suivante. Mettez à jour votre carte pour "
                "les prochaines offres.",
                ["enchère", "refusée", "carte", "débit"],
            ),
            "en": _text(
                "My winning bid could not be charged",
                "The card was declined at closing: the unit went to the next bid.",
                "At closing, each winning bid is charged to the chosen card. If the bank declines, "
                "the unit goes to the next bid. Update your card for the next offers.",
                ["bid", "declined", "card", "charge"],
            ),
        },
        "actions": [{"type": "manage_cards"}, {"type": "open_case"}],
    },
    {
        "article_id": "telephone-perdu",
        "section_id": "compte",
        "situations": ["passkey_lost", "new_session", "account_changed"],
        "content": {
            "fr": _text(
                "J'ai perdu mon téléphone",
                "Fermez les sessions à distance et demandez un nouveau courrier d'activation.",
                "Depuis un autre appareil connecté, fermez la session du téléphone perdu. Sans autre "
                "appareil, contactez-nous : nous fermons toutes vos sessions et vous envoyons un "
                "nouveau courrier pour créer une clé d'accès.",
                ["perdu", "volé", "clé d'accès", "session", "sécurité"],
            ),
            "en": _text(
                "I lost my phone",
                "End its sessions remotely and ask for a new activation letter.",
                "From another signed-in device, end the lost phone's session. With no other device, "
                "contact us: we end all your sessions and send a new letter to create a passkey.",
                ["lost", "stolen", "passkey", "session", "security"],
            ),
        },
        "actions": [{"type": "open_case"}],
    },
    {
        "article_id": "alerte-securite",
        "section_id": "compte",
        "situations": ["account_security", "new_session", "account_changed"],
        "content": {
            "fr": _text(
                "Une alerte de sécurité sur mon compte",
                "Clé d'accès ajoutée, nouvelle connexion, activité inhabituelle : vérifiez que c'était vous.",
                "Nous vous prévenons de chaque changement de sécurité. Si c'était vous, rien à faire. "
                "Sinon, fermez les sessions inconnues, supprimez la clé d'accès inconnue et "
                "contactez-nous.",
                ["sécurité", "alerte", "connexion", "clé d'accès", "piratage"],
            ),
            "en": _text(
                "A security alert on my account",
                "Passkey added, new sign-in, unusual activity: check that it was you.",
                "We tell you of every security change. If it was you, nothing to do. If not, end "
                "the sessions you do not know, remove the unknown passkey and contact us.",
                ["security", "alert", "sign-in", "passkey", "hacked"],
            ),
        },
        "actions": [{"type": "open_case"}],
    },
]


def _check(result: dict[str, Any]) -> dict[str, Any]:
    if "error" in result:
        raise RuntimeError(json.dumps(result["error"]))
    return result


def seed_demo() -> dict[str, Any]:
    """The demo sections and articles, published, and one index build. Safe to run again (each run
    publishes a new version of each article)."""
    from chalicelib.help import admin

    for section in SECTIONS:
        _check(admin.upsert_section(section))
    for article in ARTICLES:
        _check(admin.save_draft(article))
        _check(admin.publish({"article_id": article["article_id"], "rebuild_index": False}))
    return _check(admin.rebuild_index({}))


# --- many articles, for the benchmark ------------------------------------------------------------

_FRENCH_TEXT = (
    "facture paiement carte forfait option données internet appel message réseau antenne couverture "
    "itinérance étranger europe monde prélèvement échéance remboursement avoir crédit débit banque "
    "compte client ligne numéro portabilité résiliation engagement contrat abonnement offre promotion "
    "téléphone mobile smartphone appareil réglage configuration messagerie vocale répondeur wifi "
    "partage connexion vitesse débit lenteur panne coupure incident maintenance sécurité clé accès "
    "session connexion déconnexion mot passe code activation courrier adresse email notification "
    "alerte consommation enveloppe recharge bonus parrainage fidélité enchère unité clôture gagnant "
    "perdant montant total taxe période mois jour semaine heure délai retard relance pénalité frais "
    "tarif prix coût gratuit inclus illimité limité bloqué suspendu actif changement demande suivi "
    "réclamation conseiller assistance aide question réponse problème solution étape vérifier "
    "modifier ajouter supprimer activer désactiver consulter télécharger envoyer recevoir payer"
)
_ENGLISH_TEXT = (
    "bill payment card plan option data internet call message network mast coverage roaming abroad "
    "europe world debit due refund credit bank account customer line number porting cancellation "
    "commitment contract subscription offer promotion phone mobile smartphone device setting setup "
    "voicemail answering wifi hotspot sharing speed slowness outage cut incident maintenance security "
    "passkey session sign signout password code activation letter address email notification alert "
    "usage allowance topup bonus referral loyalty auction unit closing winner loser amount total tax "
    "period month day week hour delay late reminder penalty fee rate price cost free included "
    "unlimited limited blocked suspended active change request tracking complaint adviser support "
    "help question answer problem solution step check change add remove enable disable view "
    "download send receive pay"
)
FRENCH_WORDS = _FRENCH_TEXT.split()
ENGLISH_WORDS = _ENGLISH_TEXT.split()


def _words(rng: random.Random, vocabulary: list[str], n: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(n))


def synthetic_drafts(n: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """n SaveDraftEvent bodies with random help-like text in both languages (titles of 4-7 words,
    summaries of ~15, bodies of 80-150, a few tags), spread over the demo sections and situations."""
    from chalicelib.help.schemas import SITUATIONS

    rng = random.Random(seed)  # noqa: S311 - test data
    situations = list(SITUATIONS)
    drafts = []
    for i in range(n):
        content = {}
        for lang, vocabulary in (("fr", FRENCH_WORDS), ("en", ENGLISH_WORDS)):
            content[lang] = {
                "title": _words(rng, vocabulary, rng.randint(4, 7)).capitalize(),
                "summary": _words(rng, vocabulary, rng.randint(10, 20)),
                "body": _words(rng, vocabulary, rng.randint(80, 150)),
                "tags": [rng.choice(vocabulary) for _ in range(rng.randint(2, 5))],
            }
        drafts.append(
            {
                "article_id": f"gen-{i:05d}",
                "section_id": SECTIONS[i % len(SECTIONS)]["section_id"],
                "situations": rng.sample(situations, rng.randint(0, 2)),
                "content": content,
                "actions": [{"type": "pay_bill"}] if i % 3 == 0 else [],
            }
        )
    return drafts


def publish_directly(drafts: list[dict[str, Any]], *, seed: int = 11) -> None:
    """Write the drafts' public copies (version 1, random votes and views) in batches of 25: what n
    publishes would leave for the index build to read, in seconds instead of minutes. Bench only."""
    from chalicelib.common.clock import iso, now
    from chalicelib.help.models import HelpLive, live_key

    rng = random.Random(seed)  # noqa: S311 - test data
    moment = iso(now())
    with HelpLive.batch_write() as batch:
        for draft in drafts:
            document = {k: v for k, v in draft.items() if k != "article_id"}
            batch.save(
                HelpLive(
                    *live_key(draft["article_id"]),
                    article_id=draft["article_id"],
                    version=1,
                    document=document,
                    published_at=moment,
                    helpful=rng.randint(0, 40),
                    not_helpful=rng.randint(0, 20),
                    views=rng.randint(0, 5000),
                )
            )


def main() -> None:
    print(json.dumps(seed_demo(), indent=2))


if __name__ == "__main__":
    main()
