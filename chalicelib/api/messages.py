"""Error messages in French, one per error code, for answers to apps that ask for French.

Services raise domain errors with an English sentence, often precise (it may name the limit that
was hit). The edge answers in the request's language (chalicelib/api/language.py): the error's own
translation when the service gave one (validation errors name the field in French), else the French
sentence of its code below, else the English one. `tests/test_languages.py` fails when a code in the
contract has no French sentence here, so a new code cannot ship English-only.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.api import language
from chalicelib.cases.messages import MESSAGES as CASE_MESSAGES

FRENCH: dict[str, str] = {
    # platform and request shape
    "bad_request": "La requête n'a pas pu être lue.",
    "validation_error": "La requête n'est pas valable : vérifiez les champs envoyés.",
    "invalid_json": "Le corps de la requête doit être un objet JSON valable.",
    "body_too_large": "La requête est trop volumineuse.",
    "unknown_parameter": "Un paramètre de la requête n'est pas reconnu.",
    "invalid_query": "Les paramètres de la requête ne sont pas valables.",
    "invalid_path_id": "L'identifiant dans l'adresse n'est pas valable.",
    "invalid_cursor": "Ce curseur de pagination n'est pas valable : reprenez depuis la première page.",
    "invalid_limit": "Le nombre d'éléments demandé n'est pas valable.",
    "invalid_lang": "Langue non prise en charge : fr ou en.",
    "range_too_long": "La période demandée est trop longue.",
    "method_not_allowed": "Cette méthode n'est pas acceptée à cette adresse.",
    "unsupported_media_type": "Envoyez le corps en JSON (Content-Type: application/json).",
    "not_found": "Introuvable.",
    "rate_limited": "Trop de demandes : réessayez dans quelques instants.",
    "internal_error": "Le service a rencontré un problème : réessayez.",
    "temporarily_unavailable": "Le service est momentanément occupé : réessayez dans un instant.",
    "service_misconfigured": "Le service est momentanément indisponible.",
    "misconfigured": "Le service est momentanément indisponible.",
    "card_number_refused": (
        "Cela ressemble à un numéro de carte : ne l'envoyez jamais ici (il n'est pas enregistré)."
    ),
    "idempotency_key_required": (
        "Envoyez un en-tête Idempotency-Key (une valeur aléatoire par demande, la même en cas de nouvel essai)."
    ),
    "invalid_idempotency_key": "L'en-tête Idempotency-Key doit compter 8 à 128 lettres, chiffres ou _:.-",
    "idempotency_key_reused": (
        "Cet Idempotency-Key a déjà servi pour une autre demande : utilisez-en un nouveau."
    ),
    "request_in_progress": "Cette demande est encore en cours : réessayez dans un instant avec la même clé.",
    # sign-in, sessions, passkeys, step-up
    "unauthenticated": "Connectez-vous pour continuer.",
    "authentication_required": "Connectez-vous pour continuer.",
    "invalid_token": "Ce jeton n'est pas valable : reconnectez-vous.",
    "token_expired": "Votre session a expiré : reconnectez-vous.",
    "session_expired": "Votre session a expiré : reconnectez-vous.",
    "session_revoked": "Cette session a été fermée : reconnectez-vous.",
    "session_not_found": "Cette session est introuvable.",
    "invalid_refresh_token": "Cette session n'est plus valable : reconnectez-vous.",
    "invalid_credential": "La vérification de votre clé d'accès a échoué : réessayez.",
    "credential_already_registered": "Cette clé d'accès est déjà enregistrée.",
    "challenge_not_found": "Cette confirmation est introuvable ou déjà utilisée : recommencez.",
    "challenge_expired": "Cette confirmation a expiré : recommencez.",
    "step_up_required": "Confirmez avec votre clé d'accès pour effectuer ce changement.",
    "step_up_mismatch": "Cette confirmation ne correspond pas à ce changement : recommencez.",
    "passkey_not_found": "Cette clé d'accès est introuvable.",
    "passkey_limit_reached": "Vous avez atteint le nombre maximal de clés d'accès.",
    "last_passkey": "C'est votre seule clé d'accès : ajoutez-en une autre avant de la supprimer.",
    "invalid_activation_code": "Ce code d'activation n'est pas valable.",
    "activation_code_expired": "Ce code d'activation a expiré : demandez-en un nouveau.",
    "activation_code_used": "Ce code d'activation a déjà servi.",
    "activation_backoff": "Trop d'essais : patientez avant de réessayer.",
    "security_alerts_required": "Les alertes de sécurité ne peuvent pas être désactivées.",
    "customer_not_found": "Ce client est introuvable.",
    # devices and inbox
    "device_not_found": "Cet appareil est introuvable.",
    "device_conflict": "Cet appareil est déjà enregistré autrement : réessayez.",
    "device_id_required": "Indiquez l'identifiant de l'appareil.",
    "invalid_device_id": "L'identifiant de l'appareil n'est pas valable.",
    "invalid_provider_token": "Le jeton de notification de l'appareil n'est pas valable.",
    "alert_not_found": "Cette alerte est introuvable.",
    # lines, plans, requests, catalogue
    "line_not_found": "Cette ligne est introuvable.",
    "plan_not_found": "Cette offre est introuvable dans le catalogue.",
    "option_not_found": "Cette option est introuvable dans le catalogue.",
    "same_plan": "Cette ligne a déjà cette offre.",
    "current_plan": "Cette ligne a déjà cette offre.",
    "incompatible_with_plan": "Cette option n'est pas compatible avec l'offre de la ligne.",
    "option_not_compatible": "Cette option n'est pas compatible avec l'offre de la ligne.",
    "already_active": "Cette option est déjà active sur la ligne.",
    "line_suspended": "Cette ligne est suspendue : rien ne peut y être ajouté pour le moment.",
    "preview_required": "Affichez d'abord l'aperçu du changement, puis confirmez-le.",
    "preview_expired": "Cet aperçu a expiré : affichez-le de nouveau.",
    "preview_mismatch": "Cet aperçu correspond à un autre changement : affichez-le de nouveau.",
    "price_changed": "Le prix a changé depuis l'aperçu : affichez-le de nouveau.",
    "line_changed": "La ligne a changé pendant la confirmation : affichez l'aperçu de nouveau.",
    "not_removable": "Cette option ne peut pas être retirée (recharge ou achat ponctuel).",
    "removal_scheduled": "Le retrait de cette option est déjà programmé.",
    # a lost or stolen phone (account/suspension.py)
    "line_not_active": "Cette ligne n'est pas active : elle ne peut pas être suspendue de nouveau.",
    "line_not_suspended": "Cette ligne n'est pas suspendue.",
    "suspended_by_provider": (
        "Cette ligne a été suspendue par nos services, pas depuis l'app : contactez le service client "
        "pour la réactiver."
    ),
    "line_changed_meanwhile": "La ligne a changé pendant la confirmation : réessayez dans un instant.",
    "request_pending": "Un changement est déjà en attente sur cette ligne.",
    "request_not_found": "Cette demande de changement est introuvable.",
    # bills and payments
    "bill_not_found": "Cette facture est introuvable.",
    "bill_already_paid": "Cette facture est déjà réglée.",
    "amount_exceeds_balance": "Ce montant dépasse le solde de la facture.",
    "invalid_amount": "Ce montant n'est pas valable.",
    "payment_not_found": "Ce paiement est introuvable.",
    "payment_failed": "Le paiement n'a pas abouti : vous n'avez pas été débité.",
    "card_declined": "La carte a été refusée : vous n'avez pas été débité. Essayez une autre carte.",
    "insufficient_funds": "Provision insuffisante : vous n'avez pas été débité. Essayez une autre carte.",
    "expired_card": "Cette carte a expiré : ajoutez-en une nouvelle.",
    "provider_refused": "Le prestataire de paiement a refusé l'opération : vous n'avez pas été débité.",
    "payment_processing": "Le paiement est en cours de traitement : réessayez dans un instant avec la même clé.",
    "payment_under_review": "Le paiement est en cours de vérification : vous serez prévenu du résultat.",
    "payment_method_not_found": "Ce moyen de paiement est introuvable.",
    "payment_method_unusable": "Ce moyen de paiement ne peut pas être utilisé.",
    "method_in_use": "Cette carte sert au paiement automatique : choisissez-en une autre d'abord.",
    "no_default_method": "Enregistrez d'abord une carte par défaut.",
    "too_many_methods": "Vous avez atteint le nombre maximal de cartes enregistrées.",
    "charge_refunded": "Ce paiement a été remboursé.",
    "not_charged": "Rien n'a été débité.",
    "invalid_signature": "Signature non valable.",
    # bidding
    "offer_not_found": "Cette offre est introuvable.",
    "offer_closed": "Les enchères de cette offre sont closes.",
    "offer_cancelled": "Cette offre a été annulée.",
    "offer_not_open_yet": "Les enchères de cette offre ne sont pas encore ouvertes.",
    "bid_not_found": "Vous n'avez pas d'enchère sur cette offre.",
    "line_not_eligible": "Cette ligne ne peut pas recevoir cette offre : choisissez une autre ligne.",
    "line_required": "Choisissez la ligne qui recevra l'avantage si votre offre gagne.",
    "bid_out_of_range": "Ce montant est hors des limites de l'offre.",
    "bid_off_increment": "Ce montant ne respecte pas le pas d'enchère.",
    "bid_changes_exhausted": "Vous avez modifié cette enchère le nombre maximal de fois.",
    # help
    "article_not_found": "Cet article d'aide est introuvable.",
    "article_changed": "Cet article a été mis à jour : relisez-le avant de voter.",
    "already_voted": "Vous avez déjà donné votre avis sur cet article.",
    "invalid_vote": "Cet avis n'est pas valable.",
    "invalid_search_id": "Cette recherche est introuvable.",
    "help_unavailable": "L'aide est momentanément indisponible : réessayez dans un instant.",
    # Privacy: one's own data
    "data_export_not_found": "Cet export de vos données est introuvable.",
    "data_export_too_soon": (
        "Vous avez demandé un export il y a moins de 24 heures : téléchargez celui-ci, ou redemandez plus tard."
    ),
    # Closure: chalicelib/privacy/closure.py
    "closure_already_scheduled": "La fermeture de votre compte est déjà demandée : sa date est dans l'app.",
    "closure_not_found": "Vous n'avez pas demandé la fermeture de votre compte.",
    "closure_not_cancellable": "La fermeture de votre compte est en cours ou faite : elle ne peut plus être annulée.",
    "closure_changed_meanwhile": "La fermeture de votre compte a changé entre-temps : réessayez.",
    # Customers who cannot pay: payment arrangements (chalicelib/billing/arrangements.py)
    "no_overdue_balance": "Vous n'avez aucune facture en retard à régler en plusieurs fois.",
    "arrangement_active": "Un échéancier est déjà en cours : ses échéances sont dans l'app.",
    "arrangement_recently_broken": (
        "Un échéancier a été interrompu il y a moins de six mois : contactez le service client pour convenir d'un paiement."
    ),
    "balance_too_old": "Ce solde est en retard depuis trop longtemps pour être étalé dans l'app : contactez le service client.",
    "balance_too_high": "Ce solde est trop élevé pour être étalé dans l'app : contactez le service client.",
    "balance_changed": "Votre solde en retard a changé depuis l'aperçu : affichez de nouveau l'échéancier.",
    "arrangement_not_found": "Échéancier introuvable.",
}
# The cases keep their own French and English sentences (chalicelib/cases/messages.py).
FRENCH.update({code: fr for code, (fr, _en) in CASE_MESSAGES.items()})

TRANSLATIONS = {"fr": FRENCH}


def in_language(code: str, message: str, translations: Mapping[str, str] | None = None) -> str:
    """`message` (English) in the language of the current request."""
    wanted = language.current()
    if wanted == "en":
        return message
    return (translations or {}).get(wanted) or TRANSLATIONS.get(wanted, {}).get(code) or message
