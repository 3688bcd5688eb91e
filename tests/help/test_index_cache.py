"""Each container loads the index once and re-reads its pointer at most every refresh interval,
never per request; an unreadable store keeps the loaded index serving."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, help_s3: str) -> Iterator[list[float]]:
    """The searcher's clock, moved by hand, and a 60 s refresh interval; the index reloaded after."""
    from chalicelib.help import searcher
    from chalicelib.help.settings import help_settings

    now = [1000.0]
    monkeypatch.setattr(searcher, "monotonic", lambda: now[0])
    monkeypatch.setattr(
        searcher, "help_settings", lambda: dataclasses.replace(help_settings(), refresh_s=60.0)
    )
    searcher.reset()
    yield now
    searcher.reset()


@pytest.fixture
def pointer_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The searcher's reads of the pointer (eventually consistent ones: a build reads it
    consistently, to know which index it replaces)."""
    from chalicelib.help import registry

    reads: list[int] = []
    original = registry.read_pointer

    def counted(**kwargs: Any) -> Any:
        if not kwargs.get("consistent"):
            reads.append(1)
        return original(**kwargs)

    monkeypatch.setattr(registry, "read_pointer", counted)
    return reads


def hits(help_api: Any, q: str) -> list[str]:
    response = help_api.get(f"/help/search?{urlencode({'q': q, 'lang': 'fr'})}")
    assert response.status == 200, response.body
    return [h["article_id"] for h in response.body["results"]]


def test_the_pointer_is_read_once_per_interval_and_a_publish_shows_after_it(
    help_api, article, clock, pointer_reads
):
    """Mutation: compare with `<= 0` instead of the interval in searcher.current → the pointer is
    read on every search and the new article shows at once."""
    hits(help_api, "facture")
    assert len(pointer_reads) == 1
    for _ in range(5):
        hits(help_api, "facture")
    assert len(pointer_reads) == 1  # no read per request
    fresh = article(fr="Trombinolax", en="Trombinolax")
    clock[0] += 59
    assert hits(help_api, "trombinolax") == []  # still the index loaded a minute ago
    clock[0] += 2
    assert hits(help_api, "trombinolax") == [fresh]
    assert len(pointer_reads) == 2


def test_an_unreadable_store_keeps_the_loaded_index_serving(monkeypatch, help_api, article, clock):
    from chalicelib.help import store

    known = article(fr="Persistorix", en="Persistorix")
    assert hits(help_api, "persistorix") == [known]
    article(fr="Invisiblorix", en="Invisiblorix")  # a newer index the container cannot fetch

    def down(key: str) -> bytes:
        raise OSError("S3 is down")

    monkeypatch.setattr(store.index_store(), "get", down)
    clock[0] += 61
    assert hits(help_api, "persistorix") == [known]
    assert hits(help_api, "invisiblorix") == []


def test_a_container_that_never_loaded_an_index_answers_503(monkeypatch, help_api, clock):
    from chalicelib.help import store

    def down(key: str) -> bytes:
        raise OSError("S3 is down")

    monkeypatch.setattr(store.index_store(), "get", down)
    response = help_api.get("/help/search?q=facture&lang=en")
    assert response.status == 503 and response.error_code == "help_unavailable"
    assert response.headers.get("Retry-After") == "2"
    assert response.body["error"]["message"].startswith("Help is unavailable")
    assert help_api.get("/help/sections").status == 503


def test_a_new_index_replaces_the_old_files(help_api, article, clock):
    """The previous bundle's extracted directory is removed when a newer one is loaded."""
    from chalicelib.help import searcher

    hits(help_api, "facture")
    first = searcher.current()
    assert first.directory is not None and first.directory.exists()
    article(fr="Remplacix", en="Remplacix")
    clock[0] += 61
    hits(help_api, "facture")
    second = searcher.current()
    assert second.generation > first.generation and not first.directory.exists()
