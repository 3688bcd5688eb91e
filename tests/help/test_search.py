"""Search finds what people type: accents, case, plurals (stemming), a typo; ranked by relevance
then a little by usefulness; paginated; bad input refused in the caller's language."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.usefixtures("demo_help")


def search(help_api: Any, **params: Any) -> Any:
    return help_api.get(f"/help/search?{urlencode(params)}")


def ids(response: Any) -> list[str]:
    assert response.status == 200, response.body
    return [hit["article_id"] for hit in response.body["results"]]


def test_facture_impayee_without_accent_finds_the_unpaid_bill_article_first(help_api):
    """« impayee » typed without its accent matches « impayée » (ASCII folding before stemming)."""
    assert ids(search(help_api, q="facture impayee", lang="fr"))[0] == "payer-facture-impayee"
    assert ids(search(help_api, q="FACTURE IMPAYÉE", lang="fr"))[0] == "payer-facture-impayee"


def test_french_plural_finds_the_singular(help_api):
    """« factures » (only « facture » in the texts of the first article) → stemmed to one term.
    Mutation: drop Filter.stemmer from indexing.analyzer → « retards » no longer finds « retard »."""
    assert "payer-facture-impayee" in ids(search(help_api, q="factures", lang="fr"))
    assert ids(search(help_api, q="retards", lang="fr")) == ["payer-facture-impayee"]


def test_a_typo_still_finds_the_article(help_api):
    """« facutre » (transposed letters) and « impayeee » are one edit away.
    Mutation: FUZZY_MIN_CHARS = 50 (no fuzzy clause) → nothing found."""
    assert "payer-facture-impayee" in ids(search(help_api, q="facutre", lang="fr"))
    assert ids(search(help_api, q="impayeee", lang="fr"))[0] == "payer-facture-impayee"


def test_english_stemming(help_api):
    """ "bills" finds "bill", "declining" finds "declined" (Snowball english)."""
    assert "payer-facture-impayee" in ids(search(help_api, q="unpaid bills", lang="en"))
    assert ids(search(help_api, q="unpaid bills", lang="en"))[0] == "payer-facture-impayee"
    assert ids(search(help_api, q="declining", lang="en"))[0] == "paiement-refuse"


def test_the_language_decides_the_fields_searched(help_api):
    """An English word is not found in French content."""
    assert ids(search(help_api, q="outbid", lang="fr")) == []
    assert ids(search(help_api, q="outbid", lang="en")) == ["encheres-fonctionnement"]


def test_the_exact_word_ranks_above_a_typo_match(help_api, article):
    """One article has « quorvex » in its body only; the other has « quarvex » (one letter away) in
    its title. Searching « quorvex » finds both, the exact word first although the title weighs
    three times the body.
    Mutation: FUZZY_BOOST = 5 → the typo in the title ranks first."""
    exact = article(fr="Réglages du modem", en="Modem settings", body_fr="Le voyant quorvex clignote.")
    near = article(fr="Quarvex", en="Quarvex")
    found = ids(search(help_api, q="quorvex", lang="fr"))
    assert found[:2] == [exact, near]


def test_usefulness_reorders_answers_of_equal_relevance(help_api, article):
    """Two articles with the same words: the one voted helpful ranks first after a rebuild.
    Mutation: ignore the prior in indexing.search → order by id (the helpful one is second)."""
    from chalicelib.help import admin

    plain = article(fr="Quaxifer aide", en="Quaxifer help")
    liked = article(fr="Quaxifer aide", en="Quaxifer help")
    if liked < plain:  # make the helpful one lose the tie-break on id
        plain, liked = liked, plain
    for n in range(6):
        response = search(help_api, q="quaxifer", lang="fr")
        assert response.status == 200
        voted = search_vote(help_api, liked, device=f"device-useful-{n:08d}")
        assert voted.status == 201, voted.body
    assert "error" not in admin.rebuild_index({})
    assert ids(search(help_api, q="quaxifer", lang="fr"))[:2] == [liked, plain]


def search_vote(help_api: Any, article_id: str, *, device: str) -> Any:
    return help_api.post(
        f"/help/articles/{article_id}/votes", {"helpful": True}, headers={"X-Device-Id": device}
    )


def test_pages_follow_with_a_cursor_and_never_repeat(help_api):
    first = search(help_api, q="carte facture paiement", lang="fr", limit=2)
    assert len(ids(first)) == 2 and first.body["next_cursor"]
    second = search(
        help_api, q="carte facture paiement", lang="fr", limit=2, cursor=first.body["next_cursor"]
    )
    assert ids(second) and not set(ids(first)) & set(ids(second))
    assert second.body["search_id"] == first.body["search_id"]
    everything = ids(search(help_api, q="carte facture paiement", lang="fr", limit=50))
    assert everything[:4] == ids(first) + ids(second)[:2]


def test_a_cursor_of_another_query_or_forged_is_refused(help_api):
    first = search(help_api, q="carte facture paiement", lang="fr", limit=1)
    cursor = first.body["next_cursor"]
    other = search(help_api, q="forfait", lang="fr", cursor=cursor)
    assert other.status == 400 and other.error_code == "invalid_cursor"
    for forged in ("abc", "eyJvIjogMTAwMDB9", "!!!!"):
        refused = search(help_api, q="carte facture paiement", lang="fr", cursor=forged)
        assert refused.status == 400 and refused.error_code == "invalid_cursor"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "invalid_query"),
        ({"q": ""}, "invalid_query"),
        ({"q": "   "}, "invalid_query"),
        ({"q": "x" * 201}, "invalid_query"),
        ({"q": "facture", "lang": "de"}, "invalid_lang"),
        ({"q": "facture", "limit": "0"}, "invalid_limit"),
        ({"q": "facture", "limit": "51"}, "invalid_limit"),
        ({"q": "facture", "limit": "ten"}, "invalid_limit"),
        ({"q": "facture", "page": "2"}, "unknown_parameter"),
        ({"q": "carte 4242 4242 4242 4242"}, "card_number_refused"),
    ],
)
def test_bad_input_is_a_400_in_the_callers_language(help_api, params, code):
    french = search(help_api, **params)
    assert french.status == 400 and french.error_code == code
    english = help_api.get(f"/help/search?{urlencode(params)}", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.error_code == code and english.body["error"]["message"] != french.body["error"]["message"]
    assert "4242" not in str(french.body)


def test_the_answer_language_follows_lang_then_accept_language(help_api):
    english = help_api.get("/help/search?q=bill", headers={"Accept-Language": "de-DE, en;q=0.8, fr;q=0.5"})
    assert english.body["lang"] == "en" and ids(english)
    french = help_api.get("/help/search?q=facture&lang=fr", headers={"Accept-Language": "en"})
    assert french.body["lang"] == "fr"
    default = help_api.get("/help/search?q=facture")
    assert default.body["lang"] == "fr"


def test_stop_words_alone_find_nothing_and_offer_an_adviser_with_the_search(help_api):
    response = search(help_api, q="le la de", lang="fr")
    assert ids(response) == []
    (fallback,) = response.body["fallback_actions"]
    assert fallback["type"] == "open_case"
    assert fallback["params"] == {"search_id": response.body["search_id"]}
    assert response.body["search_id"] in fallback["deep_link"]


def test_sections_list_published_articles_by_position(help_api):
    response = help_api.get("/help/sections?lang=en")
    assert response.status == 200
    sections = [s["section_id"] for s in response.body["sections"]]
    assert sections.index("factures") < sections.index("consommation") < sections.index("compte")
    billing = next(s for s in response.body["sections"] if s["section_id"] == "factures")
    assert billing["title"] == "Bills and payments"
    assert "Pay an unpaid bill" in [a["title"] for a in billing["articles"]]


def test_situation_lists_its_articles_and_refuses_malformed_names(help_api):
    """A well-formed name no article names answers 200 and an empty list (the app may ask with any
    error code); only a malformed one is refused (400). Mutation: restore the 404 for a name not in
    SITUATIONS → `no_such_thing` fails."""
    response = help_api.get("/help/situations/payment_failed?lang=en")
    assert response.status == 200
    found = [a["article_id"] for a in response.body["articles"]]
    assert set(found) == {"payer-facture-impayee", "paiement-refuse"}
    usage = help_api.get("/help/situations/usage_threshold_100")
    assert [a["article_id"] for a in usage.body["articles"]] == ["plus-de-donnees"]
    nothing_yet = help_api.get("/help/situations/card_expired")
    assert nothing_yet.status == 200 and nothing_yet.body["articles"] == []
    unknown = help_api.get("/help/situations/no_such_thing")
    assert unknown.status == 200 and unknown.body["articles"] == []
    assert unknown.body["situation"] == "no_such_thing"
    bad = help_api.get("/help/situations/Not-A-Situation")
    assert bad.status == 400 and bad.error_code == "invalid_path_id"
