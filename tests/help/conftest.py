"""Help runs against a real S3-compatible server (moto's, in its own process on a free port, like
DynamoDB Local) and the real tantivy index; its routes through Chalice's test client, each answer
checked against the help contract."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import contract

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
METRICS = {
    "HelpSearchNoResult": "a help search found nothing",
    "HelpVoteNotHelpful": "a help article was voted not helpful",
}


@pytest.fixture(scope="session")
def help_s3() -> Iterator[str]:
    """The suite's S3-compatible server (tests/conftest.py) holds the index objects; the index
    cache starts empty."""
    _forget_help_caches()
    yield os.environ["S3_ENDPOINT"]


def _forget_help_caches() -> None:
    from chalicelib.help import searcher, store

    store.index_store.cache_clear()
    searcher.reset()


@pytest.fixture(autouse=True)
def help_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """The help metrics, declared for the test when chalicelib/observability/metrics.py does not
    declare them yet (the diff is in the capability's report)."""
    from chalicelib.observability import metrics

    for name, description in METRICS.items():
        if name not in metrics.METRICS:
            monkeypatch.setitem(metrics.METRICS, name, description)


def help_spec() -> dict[str, Any]:
    """The contract (mobile_contract/openapi.yaml holds the help routes)."""
    return contract.spec()


class HelpClient:
    """The help routes through Chalice's test client, JSON in and out, every answer checked
    against the contract (status declared, body of its schema)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> contract.ApiResponse:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response = self._client.http.request(method, path, headers=sent, body=payload)
        text = response.body.decode() if response.body else ""
        parsed = json.loads(text) if text else None
        _check(help_spec(), method, path, response.status_code, parsed)
        return contract.ApiResponse(status=response.status_code, body=parsed, headers=dict(response.headers))

    def get(self, path: str, **kw: Any) -> contract.ApiResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> contract.ApiResponse:
        return self.request("POST", path, body, **kw)


def _check(spec: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    import re

    import jsonschema

    clean = path.split("?", 1)[0]
    template = next(
        t
        for t in spec["paths"]
        if t.startswith("/help/") and re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)), clean)
    )
    declared = spec["paths"][template][method.lower()]["responses"]
    assert str(status) in declared, f"{method} {template} answered {status}, declared {sorted(declared)}"
    response = declared[str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = {**response["content"]["application/json"]["schema"], "components": spec["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)


@pytest.fixture(scope="session")
def help_app(app_module: Any, help_s3: str) -> Any:
    """The app serving the help routes: the suite's own once app.py registers the blueprint (a
    blueprint answers for one app only: its `current_request` is its last app's); until then a
    Chalice app with the blueprint and the app's own middleware (error shape, no-store)."""
    if "/help/search" in app_module.app.routes:
        return app_module.app
    from chalice import Chalice
    from chalice.local import LocalChalice

    from chalicelib.api import help as help_routes
    from chalicelib.api.responses import access_log_middleware

    # As the suite's app (tests/conftest.py): `current_request` per thread, for concurrent requests.
    class ThreadLocalApp(LocalChalice, Chalice):  # type: ignore[misc]
        pass

    app = ThreadLocalApp(app_name="selfcare-help-test")
    app.register_middleware(access_log_middleware, "http")
    app.register_blueprint(help_routes.blueprint)
    return app


@pytest.fixture(scope="session")
def help_api(help_app: Any) -> Iterator[HelpClient]:
    from chalice.test import Client

    with Client(help_app, stage_name="local", project_dir=str(ROOT)) as client:
        yield HelpClient(client)


@pytest.fixture(scope="session")
def demo_help(help_s3: str) -> dict[str, Any]:
    """The demo sections and articles (devtools/help_seed.py), published once for the session."""
    from devtools import help_seed

    result = help_seed.seed_demo()
    assert result["status"] == "current", result
    return result


@pytest.fixture(scope="session")
def tests_section(help_s3: str) -> str:
    from chalicelib.help import admin

    assert "error" not in admin.upsert_section(
        {"section_id": "tests", "title": {"fr": "Tests", "en": "Tests"}, "position": 900}
    )
    return "tests"


@pytest.fixture
def article(tests_section: str) -> Callable[..., str]:
    """Publish a new article (its own id) with words given; returns its id."""
    from chalicelib.help import admin

    def publish(
        *,
        fr: str = "Zorglub",
        en: str = "Zorglub",
        situations: list[str] | None = None,
        body_fr: str | None = None,
        **extra: Any,
    ) -> str:
        article_id = f"t-{uuid.uuid4().hex[:12]}"
        draft = {
            "article_id": article_id,
            "section_id": tests_section,
            "situations": situations or [],
            "content": {
                "fr": {
                    "title": fr,
                    "summary": f"{fr} résumé",
                    "body": body_fr or f"{fr} corps du texte",
                    "tags": [],
                },
                "en": {"title": en, "summary": f"{en} summary", "body": f"{en} body text", "tags": []},
            },
            **extra,
        }
        saved = admin.save_draft(draft)
        assert "error" not in saved, saved
        published = admin.publish({"article_id": article_id})
        assert "error" not in published and published["index"]["status"] == "current", published
        return article_id

    return publish
