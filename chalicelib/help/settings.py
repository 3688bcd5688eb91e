"""The help capability's settings, from chalicelib/config.py's (HELP_BUCKET, S3_ENDPOINT,
HELP_INDEX_REFRESH_SECONDS): the one place that reads the environment."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.config import get_settings


@dataclass(frozen=True)
class HelpSettings:
    bucket: str  # where the search index objects are
    s3_endpoint: str | None  # a local S3-compatible server; unset in AWS
    region: str
    # How long a container serves its index before it re-reads the pointer (one GetItem); a
    # publish reaches every container within this time.
    refresh_s: float


def help_settings() -> HelpSettings:
    settings = get_settings()
    return HelpSettings(
        bucket=settings.help_bucket,
        s3_endpoint=settings.s3_endpoint,
        region=settings.aws_region,
        refresh_s=settings.help_index_refresh_s,
    )
