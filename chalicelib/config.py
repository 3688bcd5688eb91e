"""Every setting of the service, read from environment variables in this one place.

Defaults are the local development values (`make run`); the `prod` stage in
`.chalice/config.json` overrides what differs. Nothing else in the code reads
`os.environ`.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from functools import lru_cache


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def android_origin(sha256_fingerprint: str) -> str:
    """The WebAuthn origin Android's Credential Manager reports for an app signed with this cert.

    Fingerprint as `keytool` prints it (`AB:CD:...`); the origin carries the unpadded base64url
    of the raw digest.
    """
    raw = bytes.fromhex(sha256_fingerprint.replace(":", ""))
    return "android:apk-key-hash:" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Settings:
    table_name: str
    dynamodb_endpoint: str | None  # None in AWS: the SDK's regional endpoint
    aws_region: str
    rp_id: str
    rp_name: str
    web_origins: tuple[str, ...]
    android_package: str
    android_cert_fingerprints: tuple[str, ...]  # SHA-256, colon hex, as keytool prints
    ios_app_ids: tuple[str, ...]  # "TEAMID.bundle.id"
    jwt_issuer: str
    jwt_audience: str
    jwt_key_source: str  # file:<path> | ssm:<parameter name> | secretsmanager:<secret id>
    access_token_ttl_s: int
    refresh_token_ttl_s: int
    challenge_ttl_s: int
    activation_code_ttl_s: int
    activation_max_failures: int
    fcm_project_id: str | None  # unset: the console sender prints pushes instead of sending
    firebase_credentials: str | None  # none | file:<path> | ssm:<name> | secretsmanager:<id>
    fcm_endpoint: str | None  # a fake of the FCM v1 API (tests, local); unset in AWS
    table_stream_arn: str
    usage_queue_name: str
    payment_gateway: str  # sandbox | the name of a real provider's adapter
    stage: str  # the metrics' Stage dimension: local | dev | prod
    rate_limits: dict[str, tuple[int, int]]  # name -> (requests, per seconds)

    @property
    def allowed_origins(self) -> list[str]:
        """Exact origins a WebAuthn response may come from: web/iOS origins plus each Android signing cert."""
        return list(self.web_origins) + [android_origin(fp) for fp in self.android_cert_fingerprints]


# Per client (the caller's IP, as API Gateway saw it) for the unauthenticated sign-in routes; per
# customer for money. Generous for people, tight for scripts. RATE_LIMITS="name=N/S,..." overrides.
DEFAULT_RATE_LIMITS: dict[str, tuple[int, int]] = {
    # Per address: generous, since many customers can share one (carrier-grade NAT).
    "sign_in_client": (120, 60),  # login and registration options/verify, token refresh
    "activation_client": (20, 600),  # tries of an activation code (the per-number lockout is apart)
    "payment_customer": (10, 60),  # payment challenges and payments
    "bid_customer": (20, 60),  # bid challenges, bids, withdrawals
}


def _rate_limits(spec: str) -> dict[str, tuple[int, int]]:
    limits = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        count, _, seconds = value.partition("/")
        limits[name.strip()] = (int(count), int(seconds))
    return limits


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ.get
    return Settings(
        table_name=env("APP_TABLE_NAME", "selfcare-dev"),
        dynamodb_endpoint=env("DYNAMODB_ENDPOINT") or None,
        aws_region=env("AWS_REGION", env("AWS_DEFAULT_REGION", "eu-west-3")),
        rp_id=env("WEBAUTHN_RP_ID", "localhost"),
        rp_name=env("WEBAUTHN_RP_NAME", "Self-care"),
        web_origins=_csv(env("WEBAUTHN_ORIGINS", "http://localhost:8000")),
        android_package=env("ANDROID_PACKAGE", "com.example.selfcare"),
        android_cert_fingerprints=_csv(env("ANDROID_CERT_SHA256", "")),
        ios_app_ids=_csv(env("IOS_APP_IDS", "")),
        jwt_issuer=env("JWT_ISSUER", "http://localhost:8000"),
        jwt_audience=env("JWT_AUDIENCE", "selfcare-app"),
        jwt_key_source=env("JWT_KEY_SOURCE", "file:.local/jwt-keys.json"),
        access_token_ttl_s=min(_int("ACCESS_TOKEN_TTL_SECONDS", 900), 900),  # never above 15 min
        refresh_token_ttl_s=_int("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600),
        challenge_ttl_s=min(_int("CHALLENGE_TTL_SECONDS", 300), 300),  # never above 5 min
        activation_code_ttl_s=_int("ACTIVATION_CODE_TTL_SECONDS", 72 * 3600),
        activation_max_failures=_int("ACTIVATION_MAX_FAILURES", 5),
        fcm_project_id=env("FCM_PROJECT_ID") or None,
        firebase_credentials=env("FIREBASE_CREDENTIALS") or None,
        fcm_endpoint=env("FCM_ENDPOINT") or None,
        # Replaced by the table's real stream ARN when infra/ is merged into the package.
        usage_queue_name=env("USAGE_QUEUE_NAME", "selfcare-usage-records"),
        payment_gateway=env("PAYMENT_GATEWAY", "sandbox"),
        stage=env("STAGE", "local"),
        rate_limits={**DEFAULT_RATE_LIMITS, **_rate_limits(env("RATE_LIMITS", ""))},
        table_stream_arn=env("TABLE_STREAM_ARN", "arn:aws:dynamodb:eu-west-3:000000000000:table/selfcare/stream/local"),
    )
