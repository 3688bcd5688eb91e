"""The help capability's refusals, in the customer's language.

They reuse the domain classes of chalicelib/errors.py (so chalicelib/api/responses.py maps them to
their status as any other); what is ours is the message, chosen in French or English, and a stable
`code` the app switches on.
"""

from __future__ import annotations

from chalicelib.errors import Conflict, DomainError, NotFound, TemporarilyUnavailable, ValidationFailed

# code → (class, French, English)
_MESSAGES: dict[str, tuple[type[DomainError], str, str]] = {
    "validation_error": (
        ValidationFailed,
        "La demande n'est pas valide.",
        "The request is not valid.",
    ),
    "invalid_json": (
        ValidationFailed,
        "Le corps de la demande doit être un objet JSON.",
        "The request body must be a JSON object.",
    ),
    "body_too_large": (
        ValidationFailed,
        "Le corps de la demande dépasse 64 Ko.",
        "The request body is larger than 64 KB.",
    ),
    "card_number_refused": (
        ValidationFailed,
        "Cela ressemble à un numéro de carte : ne l'envoyez jamais ici, utilisez le formulaire de paiement de l'application.",
        "This looks like a card number: never send it here, use the app's payment form.",
    ),
    "invalid_query": (
        ValidationFailed,
        "Saisissez votre question (de 1 à 200 caractères).",
        "Type your question (1 to 200 characters).",
    ),
    "invalid_lang": (
        ValidationFailed,
        "La langue doit être fr ou en.",
        "The language must be fr or en.",
    ),
    "invalid_limit": (
        ValidationFailed,
        "Le nombre de résultats doit être compris entre 1 et 50.",
        "The number of results must be between 1 and 50.",
    ),
    "invalid_cursor": (
        ValidationFailed,
        "La page demandée n'est plus valide ; recommencez la recherche.",
        "The cursor is not valid; start again without it.",
    ),
    "unknown_parameter": (
        ValidationFailed,
        "Un paramètre de la demande n'est pas accepté.",
        "A parameter of the request is not accepted.",
    ),
    "invalid_path_id": (
        ValidationFailed,
        "Cet identifiant n'est pas valide.",
        "This id is not valid.",
    ),
    "invalid_search_id": (
        ValidationFailed,
        "from_search doit être le search_id d'une recherche.",
        "from_search must be the search_id of a search.",
    ),
    "device_id_required": (
        ValidationFailed,
        "Sans connexion, envoyez l'identifiant de l'appareil (en-tête X-Device-Id).",
        "When signed out, send the device's id (X-Device-Id header).",
    ),
    "invalid_device_id": (
        ValidationFailed,
        "L'identifiant de l'appareil doit faire de 16 à 64 lettres, chiffres, _ ou -.",
        "The device id must be 16 to 64 letters, digits, _ or -.",
    ),
    "invalid_vote": (
        ValidationFailed,
        'Envoyez {"helpful": true} ou {"helpful": false}.',
        'Send {"helpful": true} or {"helpful": false}.',
    ),
    "article_not_found": (
        NotFound,
        "Cet article d'aide n'existe pas ou n'est plus publié.",
        "This help article does not exist or is no longer published.",
    ),
    "already_voted": (
        Conflict,
        "Votre avis sur cette réponse est déjà enregistré. Merci !",
        "Your opinion of this answer is already recorded. Thank you!",
    ),
    "article_changed": (
        Conflict,
        "Cet article vient d'être mis à jour : relisez-le avant de donner votre avis.",
        "This article was just updated: read it again before you vote.",
    ),
    "help_unavailable": (
        TemporarilyUnavailable,
        "L'aide est momentanément indisponible ; réessayez dans un instant.",
        "Help is unavailable for a moment; try again shortly.",
    ),
}


def refusal(code: str, language: str) -> DomainError:
    """The exception to raise for `code`, its message in `language` (fr unless en)."""
    cls, french, english = _MESSAGES[code]
    return cls(english if language == "en" else french, code=code)


def codes() -> tuple[str, ...]:
    return tuple(_MESSAGES)
