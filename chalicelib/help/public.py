"""The public help routes' services: sections, an article, search, the articles of a situation, a
vote. Anyone may call them; a verified token makes the answer the customer's own (requests.py).

DynamoDB calls per request: sections, search and situations read none of their own (the index is
in memory; its pointer is re-read at most every refresh interval), search counts itself (one
UpdateItem, first page only); an article is one UpdateItem (its view counted, the item returned),
plus one when opened from a search; a vote is one GetItem and one transaction. Personalisation adds
at most two (actions.py), only for a signed-in caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.common.clock import iso, now
from chalicelib.common.secrets import sha256_hex
from chalicelib.help import actions, searcher, stats
from chalicelib.help.errors import refusal
from chalicelib.help.language import usefulness_label
from chalicelib.help.models import (
    STAT_SHARDS,
    HelpArticleStat,
    HelpLive,
    HelpVote,
    article_pk,
    article_stat_pk,
    live_key,
)
from chalicelib.help.requests import Caller, error_language, parse_body, parse_query, path_value, voter
from chalicelib.help.schemas import (
    ARTICLE_ID,
    SITUATION,
    ArticleQuery,
    LangQuery,
    SearchQuery,
    SituationQuery,
    VoteBody,
)
from chalicelib.observability.metrics import emit
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import plain

MIN_VOTES_SHOWN = 10  # « x % ont trouvé cette réponse utile » from this many votes on
MAX_RESULTS = 200  # indexing.TOP_K: the deepest a cursor pages to


def _language(caller: Caller, asked: str | None, personal: actions.Personal) -> str:
    """`lang` if asked, else the customer's own (one Query, shared with the actions), else the
    phone's Accept-Language, else French."""
    if asked is not None:
        return asked
    return caller.language(None, personal.language())


def usefulness(helpful: int, not_helpful: int, lang: str) -> dict[str, Any]:
    votes = helpful + not_helpful
    percent = round(100 * helpful / votes) if votes >= MIN_VOTES_SHOWN else None
    return {
        "votes": votes,
        "helpful": helpful,
        "percent": percent,
        "label": usefulness_label(percent, lang) if percent is not None else None,
    }


def _hit(
    entry: dict[str, Any], lang: str, personal: actions.Personal, context: dict[str, str]
) -> dict[str, Any]:
    return {
        "article_id": entry["article_id"],
        "version": entry["version"],
        "section_id": entry["section_id"],
        "title": entry["title"][lang],
        "summary": entry["summary"][lang],
        "actions": actions.render(
            entry["actions"], lang, personal, context={**context, "article_id": entry["article_id"]}
        ),
    }


# --- sections and situations -----------------------------------------------------------------------


def sections(caller: Caller, params: Mapping[str, str] | None) -> dict[str, Any]:
    query = parse_query(LangQuery, params, caller)
    personal = actions.Personal(caller.customer_id)
    lang = _language(caller, query.lang, personal)
    loaded = searcher.current(lang)
    listed = []
    for section in loaded.sections:
        ords = loaded.by_section.get(section["section_id"], [])
        if not ords:
            continue
        listed.append(
            {
                "section_id": section["section_id"],
                "title": section["title"][lang],
                "articles": [
                    {
                        "article_id": loaded.catalogue[o]["article_id"],
                        "title": loaded.catalogue[o]["title"][lang],
                        "summary": loaded.catalogue[o]["summary"][lang],
                    }
                    for o in ords
                ],
            }
        )
    return {"lang": lang, "personalised": personal.signed_in, "sections": listed}


def situation(caller: Caller, name: str, params: Mapping[str, str] | None) -> dict[str, Any]:
    lang = error_language(caller, params)
    name = path_value(name, SITUATION, lang)
    query = parse_query(SituationQuery, params, caller)
    # Any well-formed name answers, an empty list when no article names it (yet): the app asks with
    # an error's code or an alert's situation without knowing which have articles. A malformed name
    # is the 400 above; no 404.
    personal = actions.Personal(caller.customer_id)
    lang = _language(caller, query.lang, personal)
    loaded = searcher.current(lang)
    ords = loaded.by_situation.get(name, [])[: query.limit]
    return {
        "situation": name,
        "lang": lang,
        "personalised": personal.signed_in,
        "articles": [_hit(loaded.catalogue[o], lang, personal, {"situation": name}) for o in ords],
    }


# --- an article ----------------------------------------------------------------------------------


def _viewed(article_id: str, lang: str) -> HelpLive:
    """The published copy, its view counted in the same call (UpdateItem returning the item)."""
    live = HelpLive(*live_key(article_id))
    try:
        live.update(actions=[HelpLive.views.add(1)], condition=HelpLive.PK.exists())
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise refusal("article_not_found", lang) from None
        raise
    return live


def article(caller: Caller, article_id: str, params: Mapping[str, str] | None) -> dict[str, Any]:
    lang = error_language(caller, params)
    article_id = path_value(article_id, ARTICLE_ID, lang)
    query = parse_query(ArticleQuery, params, caller)
    live = _viewed(article_id, lang)
    if query.from_search:
        stats.record_open(query.from_search)
    personal = actions.Personal(caller.customer_id)
    lang = _language(caller, query.lang, personal)
    document = plain(live.document)
    text = plain(document["content"])[lang]
    return {
        "article_id": article_id,
        "version": int(live.version),
        "lang": lang,
        "section_id": document["section_id"],
        "title": text["title"],
        "summary": text["summary"],
        "body": text["body"],
        "tags": list(text.get("tags") or []),
        "situations": list(document.get("situations") or []),
        "published_at": live.published_at,
        "actions": actions.render(
            list(document.get("actions") or []), lang, personal, context={"article_id": article_id}
        ),
        "usefulness": usefulness(int(live.helpful), int(live.not_helpful), lang),
        "personalised": personal.signed_in,
    }


# --- search -------------------------------------------------------------------------------------


def _cursor_digest(text: str, lang: str) -> str:
    return hashlib.sha256(f"{lang}|{text}".encode()).hexdigest()[:16]


def _encode_cursor(offset: int, digest: str, search_id: str | None) -> str:
    raw = json.dumps({"o": offset, "h": digest, "s": search_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, digest: str, lang: str) -> tuple[int, str | None]:
    """The offset and search_id a cursor of ours carries, for this same query; else 400."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise refusal("invalid_cursor", lang) from None
    if not (
        isinstance(data, dict)
        and set(data) == {"o", "h", "s"}
        and type(data["o"]) is int
        and 0 < data["o"] < MAX_RESULTS
        and data["h"] == digest
        and (data["s"] is None or (isinstance(data["s"], str) and stats.is_search_id(data["s"])))
    ):
        raise refusal("invalid_cursor", lang)
    return data["o"], data["s"]


def search(caller: Caller, params: Mapping[str, str] | None) -> dict[str, Any]:
    query = parse_query(SearchQuery, params, caller)
    personal = actions.Personal(caller.customer_id)
    lang = _language(caller, query.lang, personal)
    text = query.q
    digest = _cursor_digest(text, lang)
    offset, search_id = (0, None) if query.cursor is None else _decode_cursor(query.cursor, digest, lang)
    from chalicelib.help import indexing  # tantivy: the first search pays for the import, not the cold start

    loaded = searcher.current(lang)
    ranked = indexing.search(loaded, text, lang)
    if query.cursor is None:  # a search is counted once, not once per page
        search_id = stats.record_search(text, lang, found=len(ranked))
    page = ranked[offset : offset + query.limit]
    following = offset + query.limit
    context = {"search_id": search_id} if search_id else {}
    return {
        "search_id": search_id,
        "lang": lang,
        "personalised": personal.signed_in,
        "results": [_hit(loaded.catalogue[o], lang, personal, context) for o, _ in page],
        "next_cursor": _encode_cursor(following, digest, search_id) if following < len(ranked) else None,
        # Nothing found: the way to a person, carrying the search (the case gets its context).
        "fallback_actions": []
        if ranked
        else actions.render([{"type": "open_case"}], lang, personal, context=context),
    }


# --- votes --------------------------------------------------------------------------------------


def vote(caller: Caller, article_id: str, raw_body: bytes | None) -> dict[str, Any]:
    """Once per customer (signed in) or device (signed out) per article version: the vote item's
    not-exists condition and the counts' ADD are one transaction; a second vote is 409
    `already_voted` (the first stands), a vote for a replaced version 409 `article_changed`."""
    lang = error_language(caller, None)
    article_id = path_value(article_id, ARTICLE_ID, lang)
    body = parse_body(VoteBody, raw_body, caller, lang)
    who = voter(caller, lang)
    try:
        live = HelpLive.get(*live_key(article_id), consistent_read=True)
    except HelpLive.DoesNotExist:
        raise refusal("article_not_found", lang) from None
    version = int(live.version)
    if body.version is not None and body.version != version:
        raise refusal("article_changed", lang)
    moment = now()
    counter = HelpLive.helpful if body.helpful else HelpLive.not_helpful
    day_counter = HelpArticleStat.helpful if body.helpful else HelpArticleStat.not_helpful
    shard = int(sha256_hex(who)[:2], 16) % STAT_SHARDS
    try:
        with transaction() as tx:
            tx.save(
                HelpVote(
                    article_pk(article_id),
                    f"VOTE#{version:05d}#{sha256_hex(who)}",
                    helpful=body.helpful,
                    voted_at=iso(moment),
                ),
                condition=HelpVote.PK.does_not_exist(),
                label="vote",
            )
            tx.update(
                HelpLive(*live_key(article_id)),
                actions=[counter.add(1)],
                condition=HelpLive.version == version,
                label="live",
            )
            tx.update(
                HelpArticleStat(article_stat_pk(stats.day_key(moment.date()), shard), f"A#{article_id}"),
                actions=[
                    HelpArticleStat.type.set(HelpArticleStat),
                    HelpArticleStat.article_id.set(article_id),
                    day_counter.add(1),
                    HelpArticleStat.expires_at.set(stats.expires_at()),
                ],
            )
    except ConditionsFailed as failed:
        raise refusal("already_voted" if "vote" in failed.labels else "article_changed", lang) from None
    if not body.helpful:
        emit("HelpVoteNotHelpful")
    helpful = int(live.helpful) + (1 if body.helpful else 0)
    not_helpful = int(live.not_helpful) + (0 if body.helpful else 1)
    return {
        "article_id": article_id,
        "version": version,
        "helpful": body.helpful,
        "usefulness": usefulness(helpful, not_helpful, lang),
    }
