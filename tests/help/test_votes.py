""" "Was this helpful?": once per customer (signed in) or per device (signed out) per article
version; the article shows the share of helpful votes once it has 10."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest


def device() -> str:
    return f"dev-{uuid.uuid4().hex}"


def vote(help_api: Any, article_id: str, body: Any, **kw: Any) -> Any:
    return help_api.post(f"/help/articles/{article_id}/votes", body, **kw)


def test_a_customer_votes_once_per_version(help_api, article, enrol):
    """The second vote is 409 already_voted and changes no count.
    Mutation: drop the vote item's not-exists condition (public.vote) → 201 and 2 votes."""
    article_id = article()
    customer = enrol()
    first = vote(help_api, article_id, {"helpful": True}, token=customer.token)
    assert first.status == 201, first.body
    assert first.body["usefulness"] == {"votes": 1, "helpful": 1, "percent": None, "label": None}
    again = vote(help_api, article_id, {"helpful": False}, token=customer.token)
    assert again.status == 409 and again.error_code == "already_voted"
    shown = help_api.get(f"/help/articles/{article_id}")
    assert shown.body["usefulness"]["votes"] == 1 and shown.body["usefulness"]["helpful"] == 1


def test_the_customer_is_one_voter_whatever_the_device(help_api, article, enrol):
    """Signed in, the device header does not make a second voter."""
    article_id = article()
    customer = enrol()
    assert (
        vote(
            help_api, article_id, {"helpful": True}, token=customer.token, headers={"X-Device-Id": device()}
        ).status
        == 201
    )
    second = vote(
        help_api, article_id, {"helpful": True}, token=customer.token, headers={"X-Device-Id": device()}
    )
    assert second.status == 409


def test_signed_out_a_device_votes_once(help_api, article):
    article_id = article()
    phone = device()
    assert vote(help_api, article_id, {"helpful": False}, headers={"X-Device-Id": phone}).status == 201
    again = vote(help_api, article_id, {"helpful": False}, headers={"X-Device-Id": phone})
    assert again.status == 409 and again.error_code == "already_voted"
    assert vote(help_api, article_id, {"helpful": True}, headers={"X-Device-Id": device()}).status == 201


def test_concurrent_votes_of_one_device_count_once(help_api, article):
    """Eight identical votes at once: one 201, seven 409, one vote counted (the not-exists
    condition and the count are one transaction)."""
    article_id = article()
    phone = device()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda _: vote(
                    help_api, article_id, {"helpful": True}, headers={"X-Device-Id": phone}
                ).status,
                range(8),
            )
        )
    assert sorted(statuses) == [201] + [409] * 7
    assert help_api.get(f"/help/articles/{article_id}").body["usefulness"]["votes"] == 1


def test_a_new_version_is_voted_afresh(help_api, article):
    """Votes are per version: after a republish the same device may vote again, the counts start
    at zero, and a vote naming the old version is refused."""
    from chalicelib.help import admin
    from chalicelib.help.models import HelpVersion, article_pk, version_sk

    article_id = article()
    phone = device()
    assert (
        vote(help_api, article_id, {"helpful": False, "version": 1}, headers={"X-Device-Id": phone}).status
        == 201
    )
    assert "error" not in admin.publish({"article_id": article_id})
    stale = vote(help_api, article_id, {"helpful": True, "version": 1}, headers={"X-Device-Id": phone})
    assert stale.status == 409 and stale.error_code == "article_changed"
    assert help_api.get(f"/help/articles/{article_id}").body["usefulness"]["votes"] == 0
    fresh = vote(help_api, article_id, {"helpful": True, "version": 2}, headers={"X-Device-Id": phone})
    assert fresh.status == 201 and fresh.body["version"] == 2
    old = HelpVersion.get(article_pk(article_id), version_sk(1))
    assert (old.final_helpful, old.final_not_helpful) == (0, 1)


def test_a_vote_racing_a_publish_is_refused_not_counted_on_the_new_version(monkeypatch, help_api, article):
    """The vote reads version 1; before its transaction, version 2 is published. The vote must not
    land on version 2's fresh counts (its item says version 1).
    Mutation: drop the `version ==` condition on the count in public.vote → 201 and version 2
    shows one vote."""
    from chalicelib.help import admin, public
    from chalicelib.help.models import HelpLive

    article_id = article()
    original = HelpLive.get

    def read_then_republish(*args: Any, **kwargs: Any) -> Any:
        stale = original(*args, **kwargs)
        monkeypatch.setattr(public.HelpLive, "get", original)
        assert admin.publish({"article_id": article_id})["version"] == 2
        return stale

    monkeypatch.setattr(public.HelpLive, "get", read_then_republish)
    raced = vote(help_api, article_id, {"helpful": True}, headers={"X-Device-Id": device()})
    assert raced.status == 409 and raced.error_code == "article_changed"
    shown = help_api.get(f"/help/articles/{article_id}").body
    assert shown["version"] == 2 and shown["usefulness"]["votes"] == 0


def test_the_share_of_helpful_votes_shows_from_ten_votes(help_api, article):
    """9 votes: no percent; 10 (7 helpful): « 70 % ont trouvé cette réponse utile »."""
    article_id = article()
    for n in range(9):
        assert vote(help_api, article_id, {"helpful": n < 7}, headers={"X-Device-Id": device()}).status == 201
    assert help_api.get(f"/help/articles/{article_id}").body["usefulness"]["percent"] is None
    tenth = vote(help_api, article_id, {"helpful": False}, headers={"X-Device-Id": device()})
    assert tenth.body["usefulness"] == {
        "votes": 10,
        "helpful": 7,
        "percent": 70,
        "label": "70\u00a0% ont trouvé cette réponse utile",
    }
    english = help_api.get(f"/help/articles/{article_id}?lang=en")
    assert english.body["usefulness"]["label"] == "70% found this helpful"


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        ({"helpful": True}, {}, "device_id_required"),
        ({"helpful": True}, {"X-Device-Id": "short"}, "invalid_device_id"),
        ({"helpful": True}, {"X-Device-Id": "a b c d e f g h i j k"}, "invalid_device_id"),
        ({"helpful": True}, {"X-Device-Id": "4242424242424242"}, "invalid_device_id"),
        ({"helpful": "yes"}, {"X-Device-Id": "device-0000000000001"}, "invalid_vote"),
        ({"helpful": 1}, {"X-Device-Id": "device-0000000000001"}, "invalid_vote"),
        ({}, {"X-Device-Id": "device-0000000000001"}, "invalid_vote"),
        ({"helpful": True, "version": "1"}, {"X-Device-Id": "device-0000000000001"}, "invalid_vote"),
        ({"helpful": True, "extra": 1}, {"X-Device-Id": "device-0000000000001"}, "unknown_parameter"),
        ([True], {"X-Device-Id": "device-0000000000001"}, "invalid_json"),
        ([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], {}, "invalid_json"),
        ({"helpful": True, "pad": "x" * 70_000}, {}, "body_too_large"),
        (
            {"helpful": True, "note": "4242 4242 4242 4242"},
            {"X-Device-Id": "device-0000000000001"},
            "card_number_refused",
        ),
    ],
)
def test_bad_votes_are_refused_and_count_nothing(help_api, article, body, headers, code):
    article_id = article()
    refused = vote(help_api, article_id, body, headers=headers)
    assert refused.status == 400 and refused.error_code == code, refused.body
    assert help_api.get(f"/help/articles/{article_id}").body["usefulness"]["votes"] == 0


def test_a_vote_with_a_token_that_does_not_verify_is_a_401(help_api, article, enrol):
    article_id = article()
    customer = enrol()
    refused = vote(
        help_api, article_id, {"helpful": True}, token=customer.token + "x", headers={"X-Device-Id": device()}
    )
    assert refused.status == 401 and refused.error_code == "invalid_token"
    assert refused.headers.get("WWW-Authenticate") == "Bearer"


def test_unknown_or_unpublished_articles_are_404(help_api, article):
    from chalicelib.help import admin

    missing = vote(help_api, "no-such-article", {"helpful": True}, headers={"X-Device-Id": device()})
    assert missing.status == 404 and missing.error_code == "article_not_found"
    article_id = article()
    assert "error" not in admin.unpublish({"article_id": article_id})
    gone = vote(help_api, article_id, {"helpful": True}, headers={"X-Device-Id": device()})
    assert gone.status == 404
    assert help_api.get(f"/help/articles/{article_id}").status == 404
    bad = vote(help_api, "Not_An_Id", {"helpful": True}, headers={"X-Device-Id": device()})
    assert bad.status == 400 and bad.error_code == "invalid_path_id"
