"""What cases read from the settings (chalicelib/config.py), in one place."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from chalicelib.config import LOCAL_STAGES, get_settings
from chalicelib.errors import ServiceMisconfigured

# Local and test stages only: a deployed stage refuses to start without CALL_CODE_PEPPER.
LOCAL_PEPPER = "local-call-code-pepper-not-a-secret"  # noqa: S105 - a local stand-in, named so


@dataclass(frozen=True)
class CaseSettings:
    documents_bucket: str
    s3_endpoint: str | None  # a local S3 (make run, tests); None in AWS
    call_code_pepper: str | None  # a secret source: ssm:<name> | secretsmanager:<id> | file: | env:
    region: str
    stage: str
    rate_limits: dict[str, tuple[int, int]]


def case_settings() -> CaseSettings:
    settings = get_settings()
    return CaseSettings(
        documents_bucket=settings.case_documents_bucket,
        s3_endpoint=settings.s3_endpoint,
        call_code_pepper=settings.call_code_pepper,
        region=settings.aws_region,
        stage=settings.stage,
        rate_limits=settings.rate_limits,
    )


@lru_cache(maxsize=1)
def _read_pepper(source: str) -> bytes:
    from chalicelib.billing.secrets import read_secret

    return read_secret(source).encode()


def pepper() -> bytes:
    """The key of the call codes' HMAC (read once per container)."""
    current = case_settings()
    if current.call_code_pepper:
        return _read_pepper(current.call_code_pepper)
    if current.stage in LOCAL_STAGES:
        return LOCAL_PEPPER.encode()
    raise ServiceMisconfigured(
        "Call codes are unavailable: CALL_CODE_PEPPER is not set.", code="service_misconfigured"
    )
