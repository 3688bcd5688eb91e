"""What searches find, and what they do not: counters per day, with no personal data.

A search is counted under its normalised text (normalise.py) and language, one atomic ADD on
`HELP#QSTAT#<day>#<shard>` / `Q#<hash>`; the shard (one of 4, at random) spreads a popular query's
writes over partitions, and the report adds the shards up. Its `search_id` names that counter
(day, shard, hash), so opening a result (`GET /help/articles/{id}?from_search=`) ADDs `opened` on
it (only if it exists: a made-up id creates nothing). Neither the customer nor the raw text is kept.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.common.clock import epoch, now
from chalicelib.help.models import STAT_SHARDS, HelpQueryStat, query_stat_pk
from chalicelib.help.normalise import normalise
from chalicelib.observability.metrics import emit

KEEP_DAYS = 400  # a year of reports, then DynamoDB's TTL removes them
_SEARCH_ID = re.compile(r"hs_(\d{8})(\d)([0-9a-f]{20})")


def query_hash(normalised: str, language: str) -> str:
    return hashlib.sha256(f"{language}|{normalised}".encode()).hexdigest()[:20]


def day_key(day: date) -> str:
    return day.strftime("%Y%m%d")


def expires_at() -> int:
    return epoch(now()) + KEEP_DAYS * 86400


def is_search_id(value: str) -> bool:
    return _SEARCH_ID.fullmatch(value) is not None


def record_search(text: str, language: str, *, found: int) -> str | None:
    """Count one search (the first page only); its search_id, or None when nothing is left of the
    text once normalised (an email alone, a number alone: nothing to learn, nothing to keep)."""
    normalised = normalise(text)
    if not found:
        emit("HelpSearchNoResult")
    if not normalised:
        return None
    today = now().date()
    shard = secrets.randbelow(STAT_SHARDS)
    digest = query_hash(normalised, language)
    item = HelpQueryStat(query_stat_pk(day_key(today), shard), f"Q#{digest}")
    actions: list[Action] = [
        HelpQueryStat.type.set(HelpQueryStat),
        HelpQueryStat.text.set(normalised),
        HelpQueryStat.lang.set(language),
        HelpQueryStat.searches.add(1),
        HelpQueryStat.expires_at.set(expires_at()),
    ]
    if not found:
        actions.append(HelpQueryStat.no_result.add(1))
    item.update(actions=actions)
    return f"hs_{day_key(today)}{shard}{digest}"


def record_open(search_id: str) -> bool:
    """A result of that search was opened; False when the search is unknown (nothing written)."""
    match = _SEARCH_ID.fullmatch(search_id)
    if match is None:
        return False
    day, shard, digest = match.groups()
    item = HelpQueryStat(query_stat_pk(day, int(shard)), f"Q#{digest}")
    try:
        item.update(actions=[HelpQueryStat.opened.add(1)], condition=HelpQueryStat.PK.exists())
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
