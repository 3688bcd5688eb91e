"""Admins manage help from the console: sections, drafts, immutable published versions; every
change rebuilds the index, and concurrent changes never leave an older index current."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest


def draft(article_id: str, title_fr: str, *, section_id: str = "tests", **extra: Any) -> dict[str, Any]:
    return {
        "article_id": article_id,
        "section_id": section_id,
        "content": {
            "fr": {
                "title": title_fr,
                "summary": "Résumé.",
                "body": f"{title_fr} : le corps.",
                "tags": ["essai"],
            },
            "en": {"title": f"EN {title_fr}", "summary": "Summary.", "body": "The body.", "tags": ["trial"]},
        },
        **extra,
    }


def new_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def found(help_api: Any, q: str) -> list[str]:
    response = help_api.get(f"/help/search?{urlencode({'q': q, 'lang': 'fr'})}")
    assert response.status == 200, response.body
    return [hit["article_id"] for hit in response.body["results"]]


def test_a_draft_does_not_change_what_is_published(help_api, tests_section):
    """Publish « Glorpanthe v1 », save a draft « Blixomore v2 »: readers and search still get v1
    until the draft is published; then v2, as version 2, and v1 stays immutable."""
    from chalicelib.help import admin
    from chalicelib.help.models import HelpVersion, article_pk, version_sk
    from chalicelib.store.models import plain

    article_id = new_id()
    saved = admin.save_draft(draft(article_id, "Glorpanthe première"))
    assert saved["draft_revision"] == 1 and saved["published_version"] is None
    assert help_api.get(f"/help/articles/{article_id}").status == 404  # a draft is not public
    assert admin.publish({"article_id": article_id})["version"] == 1
    again = admin.save_draft(draft(article_id, "Blixomore seconde"))
    assert again["draft_revision"] == 2 and again["published_version"] == 1
    shown = help_api.get(f"/help/articles/{article_id}")
    assert shown.body["title"] == "Glorpanthe première" and shown.body["version"] == 1
    assert article_id in found(help_api, "glorpanthe") and article_id not in found(help_api, "blixomore")
    assert admin.publish({"article_id": article_id, "revision": 2})["version"] == 2
    assert help_api.get(f"/help/articles/{article_id}").body["title"] == "Blixomore seconde"
    assert article_id in found(help_api, "blixomore") and article_id not in found(help_api, "glorpanthe")
    first = HelpVersion.get(article_pk(article_id), version_sk(1))
    assert plain(plain(first.document)["content"])["fr"]["title"] == "Glorpanthe première"


def test_a_published_version_is_never_overwritten(tests_section):
    """Mutation: drop the not-exists condition on the version item → the save below succeeds."""
    from chalicelib.help import admin
    from chalicelib.help.models import HelpVersion, article_pk, version_sk
    from chalicelib.store.db import ConditionsFailed, transaction

    article_id = new_id()
    admin.save_draft(draft(article_id, "Immuable"))
    admin.publish({"article_id": article_id})
    with pytest.raises(ConditionsFailed), transaction() as tx:
        tx.save(
            HelpVersion(
                article_pk(article_id),
                version_sk(1),
                article_id=article_id,
                version=1,
                document={},
                published_at="x",
            ),
            condition=HelpVersion.PK.does_not_exist(),
            label="version",
        )


def test_publishing_another_revision_than_reviewed_is_refused(tests_section):
    from chalicelib.help import admin

    article_id = new_id()
    admin.save_draft(draft(article_id, "Revu"))
    admin.save_draft(draft(article_id, "Revu encore"))
    refused = admin.publish({"article_id": article_id, "revision": 1})
    assert refused["error"]["code"] == "draft_changed"
    assert admin.publish({"article_id": article_id, "revision": 2})["version"] == 1


def test_unpublish_takes_the_article_out_of_reads_and_search(help_api, tests_section):
    from chalicelib.help import admin

    article_id = new_id()
    admin.save_draft(draft(article_id, "Snorkelune", situations=["card_expired"]))
    admin.publish({"article_id": article_id})
    assert article_id in found(help_api, "snorkelune")
    situation = help_api.get("/help/situations/card_expired").body["articles"]
    assert article_id in [a["article_id"] for a in situation]
    result = admin.unpublish({"article_id": article_id})
    assert result["unpublished_version"] == 1 and result["index"]["status"] == "current"
    assert help_api.get(f"/help/articles/{article_id}").status == 404
    assert article_id not in found(help_api, "snorkelune")
    assert admin.unpublish({"article_id": article_id})["error"]["code"] == "not_published"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"situations": ["nowhere"]}, "unknown situations"),
        ({"actions": [{"type": "teleport"}]}, "actions.0.type"),
        ({"actions": [{"type": "pay_bill", "option_id": "data-plus-5"}]}, "option_id is for add_data"),
        ({"actions": [{"type": "pay_bill"}, {"type": "pay_bill"}]}, "each action type at most once"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"article_id": "Not An Id"}, "article_id"),
        ({"content": {"fr": {"title": "ok", "summary": "s", "body": "b"}}}, "content"),
    ],
)
def test_bad_drafts_are_refused_with_what_to_fix(tests_section, change, says):
    from chalicelib.help import admin

    result = admin.save_draft({**draft(new_id(), "Valide"), **change})
    assert result["error"]["code"] == "validation_error" and says in result["error"]["message"], result


def test_a_draft_needs_an_existing_section(tests_section):
    from chalicelib.help import admin

    result = admin.save_draft(draft(new_id(), "Sans section", section_id="no-such-section"))
    assert result["error"]["code"] == "section_not_found"


def test_publishing_an_unknown_article_says_so(tests_section):
    from chalicelib.help import admin

    assert admin.publish({"article_id": "never-drafted"})["error"]["code"] == "article_not_found"


def test_concurrent_publishes_leave_an_index_with_every_article(help_api, tests_section):
    """Six articles published at once by six admins: whatever the interleaving of their builds,
    the index left current has all six (the build of the highest generation read after every
    publish was committed). Mutation: read the articles before next_generation() in
    content.rebuild (and sleep a little between) → an article is missing."""
    from chalicelib.help import admin, registry

    word = "vortulane"
    ids = [new_id() for _ in range(6)]
    for article_id in ids:
        assert "error" not in admin.save_draft(draft(article_id, f"{word.capitalize()} {article_id}"))
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda a: admin.publish({"article_id": a}), ids))
    assert all("error" not in r for r in results), results
    assert {r["index"]["status"] for r in results} <= {"current", "superseded"}
    pointer = registry.read_pointer(consistent=True)
    assert pointer is not None
    assert pointer.generation == max(r["index"]["generation"] for r in results)
    assert sorted(found(help_api, word)) == sorted(ids)


def test_an_older_build_never_moves_the_pointer_back(tests_section):
    """Mutation: drop the generation condition in registry.move_pointer → the older one wins."""
    from chalicelib.help import admin, registry

    current = admin.rebuild_index({})
    assert current["status"] == "current"
    now = registry.read_pointer(consistent=True)
    assert now is not None and now.generation == current["generation"]
    older = registry.Pointer(
        generation=now.generation - 1, object_key="help-index/old.tar", built_at="x", articles=0, size_bytes=0
    )
    assert registry.move_pointer(older) is False
    same = registry.Pointer(**{**now.__dict__, "object_key": "help-index/same.tar"})
    assert registry.move_pointer(same) is False
    assert registry.read_pointer(consistent=True) == now


def test_a_superseded_build_deletes_its_object(monkeypatch, tests_section):
    """A build that loses the race leaves no object behind (it would never be read)."""
    import boto3

    from chalicelib.help import content, registry
    from chalicelib.help.settings import help_settings

    monkeypatch.setattr(registry, "move_pointer", lambda pointer: False)
    result = content.rebuild()
    assert result["status"] == "superseded"
    settings = help_settings()
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint, region_name=settings.region)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket).get("Contents", [])]
    assert not [k for k in keys if k.startswith(f"help-index/{result['generation']:012d}-")]


def test_a_failed_build_keeps_the_change_and_says_to_rebuild(monkeypatch, help_api, tests_section):
    from chalicelib.help import admin, indexing

    article_id = new_id()
    admin.save_draft(draft(article_id, "Fragilo"))

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(indexing, "build_bundle", broken)
    result = admin.publish({"article_id": article_id})
    assert result["version"] == 1 and result["index"]["status"] == "failed"
    assert "admin_help_rebuild_index" in result["index"]["message"]
    assert help_api.get(f"/help/articles/{article_id}").status == 200  # published all the same
    monkeypatch.undo()
    assert admin.rebuild_index({})["status"] == "current"
    assert article_id in found(help_api, "fragilo")


def test_a_build_that_read_before_a_later_publish_never_wins(monkeypatch, help_api, tests_section):
    """The interleaving made deterministic: build X reads the published articles, then (before X
    finishes) article B is published and built (Y); X finishes last. Because X took its generation
    before reading, Y's is higher and X's stale index is dropped: B stays searchable.
    Mutation: in content.rebuild, read the articles before registry.next_generation() → X takes
    the higher generation and its index, without B, becomes current."""
    from chalicelib.help import admin, content

    late = new_id()
    assert "error" not in admin.save_draft(draft(late, "Retardatrix"))
    original = content.published_articles
    interleaved: list[dict[str, Any]] = []

    def read_then_let_another_publish_in() -> Any:
        stale = original()
        if not interleaved:
            monkeypatch.setattr(content, "published_articles", original)
            interleaved.append(admin.publish({"article_id": late}))  # publish + build Y, meanwhile
        return stale

    monkeypatch.setattr(content, "published_articles", read_then_let_another_publish_in)
    x = content.rebuild()
    (y,) = interleaved
    assert y["index"]["status"] == "current" and x["status"] == "superseded"
    assert late in found(help_api, "retardatrix")


def test_builds_keep_the_current_and_previous_index_and_prune_the_older_ones(monkeypatch, tests_section):
    """Against the local S3: every build that becomes current deletes the objects of generations
    older than the one it replaced, once that one has been current for INDEX_GRACE (a container
    may still be downloading it, or the one before it, for a moment). The current, the previous,
    a later generation's object (a build still running) and keys of another shape stay.
    Mutations: prune `<= previous.generation` → the previous index goes; skip the grace check →
    the first generation is gone right after the third build; no pruning → old objects stay."""
    from datetime import timedelta

    import boto3

    from chalicelib.common.clock import now as real_now
    from chalicelib.help import content
    from chalicelib.help.settings import help_settings

    settings = help_settings()
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint, region_name=settings.region)

    def stored() -> list[str]:
        listed = s3.list_objects_v2(Bucket=settings.bucket, Prefix="help-index/").get("Contents", [])
        return [o["Key"] for o in listed]

    def of(generation: int) -> list[str]:
        return [k for k in stored() if k.startswith(f"help-index/{generation:012d}-")]

    clock = [real_now()]
    monkeypatch.setattr(content, "now", lambda: clock[0])
    step = content.INDEX_GRACE + timedelta(minutes=1)

    first = content.rebuild()
    assert first["status"] == "current" and of(first["generation"])
    later, foreign = f"help-index/{first['generation'] + 1000:012d}-0123456789ab.tar", "help-index/notes.txt"
    for key in (later, foreign):
        s3.put_object(Bucket=settings.bucket, Key=key, Body=b"not ours to delete")
    try:
        clock[0] += step
        second = content.rebuild()  # the first has been current long enough: older ones go
        assert all(
            int(k.removeprefix("help-index/")[:12]) >= first["generation"]
            for k in stored()
            if k not in (later, foreign)
        ), stored()
        assert of(first["generation"]) and of(second["generation"])

        third = content.rebuild()  # at once: the second was current only a moment
        assert of(first["generation"]), "pruned within the grace period"
        assert of(second["generation"]) and of(third["generation"])

        clock[0] += step
        fourth = content.rebuild()
        assert not of(first["generation"]) and not of(second["generation"])
        assert of(third["generation"]) and of(fourth["generation"])  # previous and current
        assert later in stored() and foreign in stored()
    finally:
        for key in (later, foreign):
            s3.delete_object(Bucket=settings.bucket, Key=key)


def test_a_failed_prune_never_fails_the_build(monkeypatch, tests_section):
    """Pruning is housekeeping after the pointer moved: S3 refusing the listing leaves the new
    index current and the build answered as such. Mutation: call prune_generations without
    _prune_quietly's guard → the build raises."""
    from datetime import timedelta

    from chalicelib.common.clock import now as real_now
    from chalicelib.help import content
    from chalicelib.help.store import index_store

    asked: list[str] = []

    def refused() -> list[str]:
        asked.append("list")
        raise OSError("AccessDenied")

    monkeypatch.setattr(index_store(), "list_keys", refused)
    # Past any previous build's grace (earlier tests may have built "in the future").
    monkeypatch.setattr(content, "now", lambda: real_now() + timedelta(days=1))
    content.rebuild()  # a previous index built at that moment
    monkeypatch.setattr(content, "now", lambda: real_now() + timedelta(days=2))
    assert content.rebuild()["status"] == "current"
    assert asked  # the prune was tried, and failed
