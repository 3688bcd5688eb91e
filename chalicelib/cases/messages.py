"""The cases' error messages, in French and English.

Services raise domain errors with the English text (`text(code)`); the HTTP edge answers in the
language the app asks for (`Accept-Language`: fr or en) from chalicelib/api/messages.py, which
takes the French sentences of these codes from here. The codes are the contract; the messages are
for people.
"""

from __future__ import annotations

MAX_OPEN_CASES = 5
MAX_DOCUMENT_MB = 5

# code -> (fr, en)
MESSAGES: dict[str, tuple[str, str]] = {
    "case_not_found": ("Cette demande est introuvable.", "No such case."),
    "case_closed": (
        "Cette demande est close : ouvrez-en une nouvelle si vous avez encore besoin d'aide.",
        "This case is closed: open a new one if you still need help.",
    ),
    "case_not_resolvable": (
        "Cette demande est déjà résolue ou close.",
        "This case is already resolved or closed.",
    ),
    "too_many_open_cases": (
        f"Vous avez déjà {MAX_OPEN_CASES} demandes en cours : répondez à l'une d'elles ou fermez-en une.",
        f"You already have {MAX_OPEN_CASES} open cases: reply to one of them or close one.",
    ),
    "case_timeline_full": (
        "Cette demande a atteint le nombre maximal de messages : ouvrez-en une nouvelle.",
        "This case has reached the most messages it can hold: open a new one.",
    ),
    "idempotency_key_required": (
        "Envoyez un en-tête Idempotency-Key (une valeur aléatoire par demande, la même en cas de nouvel essai).",
        "Send an Idempotency-Key header (a new random value per case, the same on retries).",
    ),
    "invalid_idempotency_key": (
        "L'en-tête Idempotency-Key doit compter 8 à 128 lettres, chiffres ou _:.-",
        "The Idempotency-Key must be 8 to 128 letters, digits or _:.-",
    ),
    "card_number_refused": (
        "Cela ressemble à un numéro de carte : ne l'envoyez jamais ici (il n'est pas enregistré).",
        "That looks like a card number: never send one here (it is not kept).",
    ),
    "idempotency_key_reused": (
        "Cet Idempotency-Key a déjà servi pour une autre demande : utilisez-en un nouveau.",
        "This Idempotency-Key was used for another request: use a new key for a new case.",
    ),
    "request_not_found": ("Cette demande de changement est introuvable.", "No such request."),
    "payment_not_found": ("Ce paiement est introuvable.", "No such payment."),
    "bill_not_found": ("Cette facture est introuvable.", "No such bill."),
    "line_not_found": ("Cette ligne est introuvable.", "No such line."),
    "offer_not_found": ("Cette offre est introuvable.", "No such offer."),
    "upload_not_found": ("Ce document est introuvable.", "No such upload."),
    "upload_missing": (
        "Le fichier n'est pas encore arrivé : envoyez-le avec le formulaire reçu, puis recommencez.",
        "The file has not arrived: upload it with the form you were given, then try again.",
    ),
    "upload_expired": (
        "Ce formulaire d'envoi a expiré : demandez-en un nouveau.",
        "This upload form has expired: ask for a new one.",
    ),
    "document_rejected": (
        f"Ce fichier n'est pas accepté : envoyez une photo (JPEG ou PNG) ou un PDF de {MAX_DOCUMENT_MB} Mo au plus, du type annoncé.",
        f"This file is not accepted: send a photo (JPEG or PNG) or a PDF of at most {MAX_DOCUMENT_MB} MB, of the type declared.",
    ),
    "too_many_documents": (
        "Cette demande a déjà le nombre maximal de documents.",
        "This case already holds the most documents it can.",
    ),
    "documents_unavailable": (
        "L'envoi de documents est momentanément indisponible : réessayez dans un instant.",
        "Documents are unavailable for a moment: try again shortly.",
    ),
    "rate_limited": (
        "Trop de demandes : réessayez dans quelques instants.",
        "Too many requests: try again in a moment.",
    ),
    "call_code_invalid": (
        "Ce code n'est pas valable (inconnu, expiré ou déjà utilisé).",
        "This code is not valid (unknown, expired or already used).",
    ),
    "call_codes_locked": (
        "Trop de codes erronés : la vérification par code est suspendue quelques minutes.",
        "Too many wrong codes: code verification is paused for a few minutes.",
    ),
}


def text(code: str, language: str = "en") -> str:
    fr, en = MESSAGES[code]
    return fr if language == "fr" else en
