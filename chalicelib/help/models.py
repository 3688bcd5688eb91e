"""The help items of the single table (same base, `Item`, with their own discriminators).

Keys, as in infra/README.md:

- `HELP#SECTIONS` / `SECTION#<id>`: a section (titles fr/en, position).
- `HELP#ART#<id>` / `HEAD`: an article's draft and its version counters.
- `HELP#ART#<id>` / `VER#<00001>`: a published version, written once (not-exists condition).
- `HELP#ART#<id>` / `VOTE#<version>#<sha256(voter)>`: one vote per customer or device per version.
- `HELP#LIVE#<0-7>` / `ART#<id>`: the published copy the public reads (one GetItem), with its
  live counts; 8 partitions (a hash of the id) so every view's ADD and every vote spreads, and the
  index build reads them all with 8 consistent Queries.
- `HELP#INDEX` / `STATE` and `POINTER`: the content generation (bumped before every build) and the
  search index object containers load (moved forward only: conditional write).
- `HELP#QSTAT#<day>#<0-3>` / `Q#<hash>` and `HELP#ASTAT#<day>#<0-3>` / `A#<id>`: counters per day
  of normalised searches and of votes (atomic ADD on a small shard, no customer id).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)

from chalicelib.store.models import Item

LIVE_SHARDS = 8
STAT_SHARDS = 4
SECTIONS_PK = "HELP#SECTIONS"
INDEX_PK = "HELP#INDEX"


def article_pk(article_id: str) -> str:
    return f"HELP#ART#{article_id}"


def version_sk(version: int) -> str:
    return f"VER#{version:05d}"


def live_pk(shard: int) -> str:
    return f"HELP#LIVE#{shard}"


def live_key(article_id: str) -> tuple[str, str]:
    shard = int(hashlib.sha256(article_id.encode()).hexdigest()[:8], 16) % LIVE_SHARDS
    return live_pk(shard), f"ART#{article_id}"


def query_stat_pk(day: str, shard: int) -> str:
    return f"HELP#QSTAT#{day}#{shard}"


def article_stat_pk(day: str, shard: int) -> str:
    return f"HELP#ASTAT#{day}#{shard}"


class HelpSection(Item, discriminator="help_section"):
    """PK=HELP#SECTIONS SK=SECTION#<id>."""

    section_id = UnicodeAttribute()
    title: MapAttribute[str, str] = MapAttribute()  # {"fr": ..., "en": ...}
    position = NumberAttribute()
    updated_at = UnicodeAttribute()


class HelpArticle(Item, discriminator="help_article"):
    """PK=HELP#ART#<id> SK=HEAD: the draft (what admins edit; never what the public reads) and the
    counters: `latest_version` moves by a conditional update, so two publishes of one article
    cannot both take the same number."""

    article_id = UnicodeAttribute()
    draft: MapAttribute[str, Any] = MapAttribute(null=True)  # the SaveDraftEvent's content, as validated
    draft_revision = NumberAttribute(default=0)
    draft_updated_at = UnicodeAttribute(null=True)
    latest_version = NumberAttribute(default=0)
    published_version = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class HelpVersion(Item, discriminator="help_version"):
    """PK=HELP#ART#<id> SK=VER#<n>: a published version, immutable once written (its counts, when
    a newer version replaces it, are copied into `final_*` once)."""

    article_id = UnicodeAttribute()
    version = NumberAttribute()
    document: MapAttribute[str, Any] = MapAttribute()  # section_id, situations, content {fr, en}, actions
    published_at = UnicodeAttribute()
    final_helpful = NumberAttribute(null=True)
    final_not_helpful = NumberAttribute(null=True)


class HelpLive(Item, discriminator="help_live"):
    """PK=HELP#LIVE#<shard> SK=ART#<id>: the published version as the public reads it, with the
    live counts of that version (votes, views). Replaced whole on publish (conditionally: no vote
    is lost between the read and the write), deleted on unpublish."""

    article_id = UnicodeAttribute()
    version = NumberAttribute()
    document: MapAttribute[str, Any] = MapAttribute()
    published_at = UnicodeAttribute()
    helpful = NumberAttribute(default=0)
    not_helpful = NumberAttribute(default=0)
    views = NumberAttribute(default=0)


class HelpVote(Item, discriminator="help_vote"):
    """PK=HELP#ART#<id> SK=VOTE#<version>#<sha256 of the voter>: written with a not-exists
    condition in the transaction that counts it. The voter (customer or device) is a digest."""

    helpful = BooleanAttribute()
    voted_at = UnicodeAttribute()


class HelpIndexState(Item, discriminator="help_index_state"):
    """PK=HELP#INDEX SK=STATE: the content generation, ADDed by every build before it reads."""

    generation = NumberAttribute(default=0)


class HelpIndexPointer(Item, discriminator="help_index_pointer"):
    """PK=HELP#INDEX SK=POINTER: the index object every container serves. Only a build of a
    higher generation may move it."""

    generation = NumberAttribute()
    object_key = UnicodeAttribute()
    built_at = UnicodeAttribute()
    articles = NumberAttribute()
    size_bytes = NumberAttribute()


class HelpQueryStat(Item, discriminator="help_query_stat"):
    """PK=HELP#QSTAT#<day>#<shard> SK=Q#<sha256(lang|query)[:20]>: one normalised query's searches
    that day (the text is normalised: lowercase, accents folded, digits runs and emails dropped)."""

    text = UnicodeAttribute()  # the normalised query
    lang = UnicodeAttribute()
    searches = NumberAttribute(default=0)
    no_result = NumberAttribute(default=0)
    opened = NumberAttribute(default=0)


class HelpArticleStat(Item, discriminator="help_article_stat"):
    """PK=HELP#ASTAT#<day>#<shard> SK=A#<article id>: votes an article received that day."""

    article_id = UnicodeAttribute()
    helpful = NumberAttribute(default=0)
    not_helpful = NumberAttribute(default=0)
