"""Help content, managed by admins from the console: sections, drafts, published versions.

- A draft is what admins edit (`HEAD.draft`, with a revision number); saving one never changes
  what the public reads.
- Publishing copies the draft into a new version `VER#<n>`, written once (not-exists condition),
  and replaces the public copy (`LIVE`) in the same transaction; `n` comes from a conditional
  update of the head, so two publishes of one article never share a number. The previous version's
  vote counts are kept on it (`final_*`); the new version starts with none (votes are per version).
- Unpublishing deletes the public copy; the versions stay.
- Every change then rebuilds the search index (see registry.py for why a build always reflects
  what was committed before it, whatever runs at the same time).
- A build that becomes current prunes the index objects of generations older than the previous
  one (`prune_generations`): the current and the previous stay (containers may still be loading
  the previous), and the older ones go once the previous has been current for INDEX_GRACE.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from chalicelib.common.clock import iso, now
from chalicelib.errors import Conflict, NotFound
from chalicelib.help import indexing, registry
from chalicelib.help.models import (
    LIVE_SHARDS,
    SECTIONS_PK,
    HelpArticle,
    HelpLive,
    HelpSection,
    HelpVersion,
    article_pk,
    live_key,
    live_pk,
    version_sk,
)
from chalicelib.help.schemas import (
    ArticleRefEvent,
    PublishEvent,
    RebuildEvent,
    SaveDraftEvent,
    UpsertSectionEvent,
)
from chalicelib.help.store import PREFIX, IndexStore, index_store
from chalicelib.observability.log import log_event
from chalicelib.store.db import ConditionsFailed, transaction
from chalicelib.store.models import plain

PUBLISH_ATTEMPTS = 3  # a vote landing between the read and the write of a publish: read again
# How long an index object stays after it stopped being current or previous: more than a build
# function's run (60 s: the previous becomes current at most that long after its built_at) plus a
# container's read of the pointer and download (well under a minute), with room to spare.
INDEX_GRACE = timedelta(minutes=15)
_INDEX_KEY = re.compile(re.escape(PREFIX) + r"(\d{12})-[0-9a-f]+\.tar")


def _section_exists(section_id: str) -> None:
    try:
        HelpSection.get(SECTIONS_PK, f"SECTION#{section_id}", consistent_read=True)
    except HelpSection.DoesNotExist:
        raise NotFound(
            f"No section {section_id}: create it first with admin_help_upsert_section.",
            code="section_not_found",
        ) from None


def upsert_section(event: UpsertSectionEvent) -> dict[str, Any]:
    moment = iso(now())
    HelpSection(
        SECTIONS_PK,
        f"SECTION#{event.section_id}",
        section_id=event.section_id,
        title=event.title.model_dump(),
        position=event.position,
        updated_at=moment,
    ).save()
    return {
        "section_id": event.section_id,
        "title": event.title.model_dump(),
        "position": event.position,
        "index": rebuild_after_change(),
    }


def save_draft(event: SaveDraftEvent) -> dict[str, Any]:
    """The draft replaces the previous draft; the published version, if any, is untouched."""
    _section_exists(event.section_id)
    moment = iso(now())
    head = HelpArticle(article_pk(event.article_id), "HEAD")
    head.update(
        actions=[
            HelpArticle.type.set(HelpArticle),
            HelpArticle.article_id.set(event.article_id),
            HelpArticle.draft.set(event.model_dump(exclude={"article_id"}, exclude_none=True)),
            HelpArticle.draft_revision.add(1),
            HelpArticle.draft_updated_at.set(moment),
            HelpArticle.latest_version.set(HelpArticle.latest_version | 0),
            HelpArticle.created_at.set(HelpArticle.created_at | moment),
            HelpArticle.updated_at.set(moment),
        ]
    )
    published = int(head.published_version) if head.published_version is not None else None
    return {
        "article_id": event.article_id,
        "draft_revision": int(head.draft_revision),
        "published_version": published,
        "note": "Draft saved; the published version is unchanged until admin_help_publish.",
    }


def _head(article_id: str) -> HelpArticle:
    try:
        return HelpArticle.get(article_pk(article_id), "HEAD", consistent_read=True)
    except HelpArticle.DoesNotExist:
        raise NotFound(f"No article {article_id}.", code="article_not_found") from None


def _live(article_id: str) -> HelpLive | None:
    try:
        return HelpLive.get(*live_key(article_id), consistent_read=True)
    except HelpLive.DoesNotExist:
        return None


def _unchanged_since_read(live: HelpLive) -> Any:
    """The public copy still holds what was read (version and votes): no vote is lost between
    reading the counts and archiving them."""
    return (
        (HelpLive.version == int(live.version))
        & (HelpLive.helpful == int(live.helpful))
        & (HelpLive.not_helpful == int(live.not_helpful))
    )


def _archive_counts(tx: Any, article_id: str, live: HelpLive) -> None:
    tx.update(
        HelpVersion(article_pk(article_id), version_sk(int(live.version))),
        actions=[
            HelpVersion.final_helpful.set(int(live.helpful)),
            HelpVersion.final_not_helpful.set(int(live.not_helpful)),
        ],
    )


def publish(event: PublishEvent) -> dict[str, Any]:
    for _ in range(PUBLISH_ATTEMPTS):
        head = _head(event.article_id)
        if head.draft is None:
            raise NotFound(f"Article {event.article_id} has no draft.", code="draft_not_found")
        if event.revision is not None and event.revision != int(head.draft_revision):
            raise Conflict(
                f"The draft is at revision {int(head.draft_revision)}, not {event.revision}: "
                "review the latest draft, then publish it.",
                code="draft_changed",
            )
        document = plain(head.draft)
        _section_exists(str(document["section_id"]))
        live = _live(event.article_id)
        previous = int(head.latest_version)
        version = previous + 1
        moment = iso(now())
        try:
            with transaction() as tx:
                tx.update(
                    head,
                    actions=[
                        HelpArticle.latest_version.set(version),
                        HelpArticle.published_version.set(version),
                        HelpArticle.updated_at.set(moment),
                    ],
                    condition=(HelpArticle.latest_version == previous)
                    & (HelpArticle.draft_revision == int(head.draft_revision)),
                    label="head",
                )
                tx.save(
                    HelpVersion(
                        article_pk(event.article_id),
                        version_sk(version),
                        article_id=event.article_id,
                        version=version,
                        document=document,
                        published_at=moment,
                    ),
                    condition=HelpVersion.PK.does_not_exist(),
                    label="version",
                )
                tx.update(
                    HelpLive(*live_key(event.article_id)),
                    actions=[
                        HelpLive.type.set(HelpLive),
                        HelpLive.article_id.set(event.article_id),
                        HelpLive.version.set(version),
                        HelpLive.document.set(document),
                        HelpLive.published_at.set(moment),
                        HelpLive.helpful.set(0),
                        HelpLive.not_helpful.set(0),
                        # Views are the article's, not the version's: they go on (ADDs commute).
                        HelpLive.views.set(HelpLive.views | 0),
                    ],
                    condition=_unchanged_since_read(live) if live else HelpLive.PK.does_not_exist(),
                    label="live",
                )
                if live is not None:
                    _archive_counts(tx, event.article_id, live)
        except ConditionsFailed as failed:
            if "live" in failed.labels and not failed.labels & {"head", "version"}:
                continue  # a vote or a view changed the public copy: read it again
            raise Conflict(
                "Another publish of this article ran at the same time; read it and publish again.",
                code="publish_conflict",
            ) from None
        return {
            "article_id": event.article_id,
            "version": version,
            "published_at": moment,
            "index": rebuild_after_change()
            if event.rebuild_index
            else {"status": "not_rebuilt", "message": "Run admin_help_rebuild_index to make it searchable."},
        }
    raise Conflict("The article is busy (votes arriving); publish again.", code="publish_conflict")


def unpublish(event: ArticleRefEvent) -> dict[str, Any]:
    for _ in range(PUBLISH_ATTEMPTS):
        head = _head(event.article_id)
        live = _live(event.article_id)
        if head.published_version is None or live is None:
            raise Conflict(f"Article {event.article_id} is not published.", code="not_published")
        try:
            with transaction() as tx:
                tx.update(
                    head,
                    actions=[HelpArticle.published_version.remove(), HelpArticle.updated_at.set(iso(now()))],
                    condition=HelpArticle.published_version == int(head.published_version),
                    label="head",
                )
                tx.delete(live, condition=_unchanged_since_read(live), label="live")
                _archive_counts(tx, event.article_id, live)
        except ConditionsFailed as failed:
            if failed.labels == {"live"}:
                continue
            raise Conflict(
                "The article changed at the same time; read it and try again.", code="publish_conflict"
            ) from None
        return {
            "article_id": event.article_id,
            "unpublished_version": int(live.version),
            "index": rebuild_after_change(),
        }
    raise Conflict("The article is busy (votes arriving); unpublish again.", code="publish_conflict")


# --- the index ------------------------------------------------------------------------------------


def published_articles() -> list[indexing.PublishedArticle]:
    """Every published article, from the public copies (8 consistent Queries)."""
    found = []
    for shard in range(LIVE_SHARDS):
        for live in HelpLive.query(live_pk(shard), consistent_read=True):
            document = plain(live.document)
            found.append(
                indexing.PublishedArticle(
                    article_id=live.article_id,
                    version=int(live.version),
                    section_id=str(document["section_id"]),
                    situations=[str(s) for s in document.get("situations") or []],
                    content={lang: dict(text) for lang, text in plain(document["content"]).items()},
                    actions=[dict(a) for a in document.get("actions") or []],
                    published_at=live.published_at,
                    helpful=int(live.helpful),
                    not_helpful=int(live.not_helpful),
                    views=int(live.views),
                )
            )
    return found


def sections() -> list[dict[str, Any]]:
    return [
        {"section_id": s.section_id, "title": plain(s.title), "position": int(s.position)}
        for s in HelpSection.query(SECTIONS_PK, consistent_read=True)
    ]


def rebuild(event: RebuildEvent | None = None) -> dict[str, Any]:
    """Build the index of what is published now and point containers at it (unless a build of a
    later generation got there first: then this one is dropped). Also refreshes the ranking's
    votes and views, which change without a publish."""
    generation = registry.next_generation()  # before any read: see registry.py
    started = time.perf_counter()
    articles = published_articles()
    built_at = iso(now())
    bundle = indexing.build_bundle(articles, sections(), generation=generation, built_at=built_at)
    build_ms = round((time.perf_counter() - started) * 1000, 1)
    key = f"{PREFIX}{generation:012d}-{secrets.token_hex(6)}.tar"
    store = index_store()
    store.put(key, bundle)
    # The index containers serve now, which becomes the previous one if this build moves the pointer.
    previous = registry.read_pointer(consistent=True)
    moved = registry.move_pointer(
        registry.Pointer(
            generation=generation,
            object_key=key,
            built_at=built_at,
            articles=len(articles),
            size_bytes=len(bundle),
        )
    )
    pruned: list[str] = []
    if not moved:
        store.delete(key)  # a later build is current; this object would never be read
    elif previous is not None:
        pruned = _prune_quietly(store, previous)
    log_event(
        "help_index_built",
        generation=generation,
        articles=len(articles),
        size_bytes=len(bundle),
        build_ms=build_ms,
        current=moved,
        pruned=len(pruned),
    )
    return {
        "generation": generation,
        "articles": len(articles),
        "size_bytes": len(bundle),
        "build_ms": build_ms,
        "status": "current" if moved else "superseded",
    }


def prune_generations(
    store: IndexStore, previous: registry.Pointer, *, moment: datetime | None = None
) -> list[str]:
    """Delete the index objects of generations older than `previous` (the one this build's
    pointer replaced), once `previous` has been current for INDEX_GRACE; the keys deleted.

    Kept: the current index (a higher generation), the previous one (containers that read the
    pointer just before it moved may still be downloading it), and any object of a generation in
    between (a build still running: it deletes its own object if it loses). Every older object was
    replaced by `previous` at the latest when `previous` became current, shortly after its
    built_at; before INDEX_GRACE has passed since, nothing goes and the next build prunes them.
    Keys this module did not write (not `<generation>-<hex>.tar`) are never touched."""
    moment = moment or now()
    if moment - datetime.fromisoformat(previous.built_at) < INDEX_GRACE:
        return []
    old = [
        key
        for key in store.list_keys()
        if (match := _INDEX_KEY.fullmatch(key)) and int(match.group(1)) < previous.generation
    ]
    for key in old:
        store.delete(key)
    return old


def _prune_quietly(store: IndexStore, previous: registry.Pointer) -> list[str]:
    """Pruning is housekeeping: the new index is current whatever happens here, and a failure is
    logged; the next build prunes again."""
    try:
        return prune_generations(store, previous)
    except Exception as error:  # noqa: BLE001 - logged; the build itself succeeded
        log_event("help_index_prune_failed", level=logging.WARNING, error=type(error).__name__)
        return []


def rebuild_after_change() -> dict[str, Any]:
    """The change is committed whatever happens here: a failed build is reported, not raised, so
    the admin knows to run admin_help_rebuild_index rather than repeat the change."""
    try:
        return rebuild()
    except Exception as error:  # noqa: BLE001 - reported in the answer and the log
        log_event("help_index_build_failed", level=logging.ERROR, error=type(error).__name__)
        return {
            "status": "failed",
            "message": "The change is saved but the search index was not rebuilt: run admin_help_rebuild_index.",
        }
