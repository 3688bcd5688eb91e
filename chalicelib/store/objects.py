"""The S3 client every capability that keeps objects uses (cases' documents, data exports): one
per endpoint, region and read timeout, created on first use so that `import app` does not pay for
boto3's S3 model, and dropped by `reset()` (a SnapStart restore: chalicelib/observability)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["reset", "s3_client"]


@lru_cache(maxsize=8)
def s3_client(endpoint: str | None, region: str, *, read_timeout: int = 5) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(
            signature_version="s3v4",
            # A local S3 answers on one host: path-style URLs; AWS: virtual-hosted (the default).
            s3={"addressing_style": "path"} if endpoint else {},
            connect_timeout=2,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": 3},
        ),
    )


def reset() -> None:
    """Forget every client (and its connections): the next call creates a new one."""
    s3_client.cache_clear()
