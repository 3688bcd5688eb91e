"""Where the search index objects live: a port with one adapter, S3.

An index is one object (a tar of the tantivy directory and its catalogue), written once under a
new key by each build and never overwritten, so a container that reads a key always gets the
bundle the pointer named. Builds prune the generations older than the previous one
(content.prune_generations), which lists the keys. Locally and in the tests the same adapter talks
to an S3-compatible server (`S3_ENDPOINT`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from chalicelib.help.settings import help_settings

PREFIX = "help-index/"


class IndexStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def list_keys(self) -> list[str]:
        """Every index object's key (under PREFIX)."""
        ...


class S3IndexStore:
    def __init__(self, *, bucket: str, region: str, endpoint: str | None = None) -> None:
        self.bucket = bucket
        self._region = region
        self._endpoint = endpoint
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3  # the first index load or build pays for the S3 client, not every cold start
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                region_name=self._region,
                endpoint_url=self._endpoint,
                config=Config(
                    # Path-style for local S3-compatible servers (no bucket DNS names there).
                    s3={"addressing_style": "path" if self._endpoint else "auto"},
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=2,
                    read_timeout=10,
                ),
            )
        return self._client

    def put(self, key: str, data: bytes) -> None:
        self._s3().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/x-tar")

    def get(self, key: str) -> bytes:
        body: bytes = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self._s3().delete_object(Bucket=self.bucket, Key=key)

    def list_keys(self) -> list[str]:
        # A handful of objects (builds are pruned to two): pages of 1,000 are a formality.
        found: list[str] = []
        for page in self._s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=PREFIX):
            found.extend(str(item["Key"]) for item in page.get("Contents", []))
        return found


@lru_cache(maxsize=1)
def index_store() -> IndexStore:
    settings = help_settings()
    return S3IndexStore(bucket=settings.bucket, region=settings.region, endpoint=settings.s3_endpoint)
