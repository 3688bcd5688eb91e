"""devtools/s3_local.py checks a presigned POST as S3 does (moto and s3rver alone do not): the
signature, the expiration, every condition, and no field left out of the policy. The cases' tests
rely on it to show that a file too large or of another type never reaches the bucket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.s3_local import PolicyRefused, check_post
from tests.cases.conftest import BUCKET, PNG


def signed(
    conditions: list[Any], *, expires: datetime | None = None, secret: str = "local", **fields: str
) -> dict[str, str]:
    """A form as boto3's generate_presigned_post builds it."""
    date = "20261127"
    credential = f"local/{date}/eu-west-3/s3/aws4_request"
    policy = base64.b64encode(
        json.dumps(
            {
                "expiration": (expires or datetime.now(UTC) + timedelta(minutes=10)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "conditions": [
                    *conditions,
                    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                    {"x-amz-credential": credential},
                    {"x-amz-date": f"{date}T100000Z"},
                ],
            }
        ).encode()
    ).decode()
    key = f"AWS4{secret}".encode()
    for part in (date, "eu-west-3", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return {
        **fields,
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": credential,
        "x-amz-date": f"{date}T100000Z",
        "policy": policy,
        "x-amz-signature": hmac.new(key, policy.encode(), hashlib.sha256).hexdigest(),
    }


BASE = [
    {"bucket": BUCKET},
    {"key": "documents/c/u"},
    {"Content-Type": "image/png"},
    ["content-length-range", 1, 100],
]
FIELDS = {"key": "documents/c/u", "Content-Type": "image/png"}


def refused(fields: dict[str, str], size: int = 10, bucket: str = BUCKET) -> PolicyRefused:
    with pytest.raises(PolicyRefused) as caught:
        check_post(bucket=bucket, fields=fields, file_size=size)
    return caught.value


def test_a_form_within_its_policy_passes():
    check_post(bucket=BUCKET, fields=signed(BASE, **FIELDS), file_size=100)
    check_post(
        bucket=BUCKET,
        fields=signed([["starts-with", "$key", "documents/"], ["eq", "$bucket", BUCKET]], key="documents/x"),
        file_size=5,
    )


def test_each_condition_is_enforced():
    assert refused(signed(BASE, **FIELDS), size=101).code == "EntityTooLarge"
    assert refused(signed(BASE, **FIELDS), size=0).code == "EntityTooSmall"
    assert refused(signed(BASE, **{**FIELDS, "Content-Type": "application/pdf"})).code == "AccessDenied"
    assert refused(signed(BASE, **{**FIELDS, "key": "documents/c/other"})).code == "AccessDenied"
    assert refused(signed(BASE, **FIELDS), bucket="another-bucket").code == "AccessDenied"
    starts = signed([["starts-with", "$key", "documents/"]], key="elsewhere/x")
    assert refused(starts).code == "AccessDenied"


def test_a_forged_expired_or_widened_form_is_refused():
    form = signed(BASE, **FIELDS)
    assert refused({**form, "x-amz-signature": "0" * 64}).code == "SignatureDoesNotMatch"
    assert refused(signed(BASE, secret="guessed", **FIELDS)).code == "SignatureDoesNotMatch"
    assert refused(signed(BASE, expires=datetime.now(UTC) - timedelta(seconds=1), **FIELDS)).message.endswith(
        "Policy expired."
    )
    extra = refused({**form, "x-amz-meta-owner": "me"})
    assert extra.code == "AccessDenied" and "Extra input fields: x-amz-meta-owner" in extra.message
    check_post(bucket=BUCKET, fields={**form, "x-ignore-note": "ok"}, file_size=10)  # x-ignore-* is free
    assert refused({k: v for k, v in form.items() if k != "policy"}).code == "InvalidArgument"


def test_over_http_the_gate_stands_in_front_of_moto(s3_endpoint, s3_client):
    import requests

    form = signed(BASE, **FIELDS)
    url = f"{s3_endpoint}/{BUCKET}"
    too_large = requests.post(url, data=form, files={"file": ("f", b"x" * 101, "image/png")}, timeout=10)
    assert too_large.status_code == 400 and "<Code>EntityTooLarge</Code>" in too_large.text
    ok = requests.post(url, data=form, files={"file": ("f", PNG[:50], "image/png")}, timeout=10)
    assert ok.status_code == 204, ok.text
    stored = s3_client.get_object(Bucket=BUCKET, Key="documents/c/u")
    assert stored["Body"].read() == PNG[:50] and stored["ContentType"] == "image/png"
