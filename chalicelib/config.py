"""Every setting of the service, read from environment variables in this one place.

Defaults are the local development values (`make run`); the `prod` stage in
`.chalice/config.json` overrides what differs. Nothing else in the code reads
`os.environ`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

# Stages that run on a developer's machine or in the test suite: local stand-ins (the sandbox
# payment provider, the console push sender, a key file, RP ID localhost) are allowed there only.
LOCAL_STAGES = ("local", "test")
DEPLOYED_STAGES = ("dev", "prod")


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
    # The authorizer's source: public keys only, as a JWKS document (same schemes). Unset: the
    # public halves of JWT_KEY_SOURCE (local runs).
    jwt_public_key_source: str | None
    jwt_key_refresh_s: int  # key ring reloaded this often, so a rotation needs no redeploy
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
    payment_gateway: str  # sandbox (local runs and tests only) | stripe
    stripe_secret_key: (
        str | None
    )  # a secret source: ssm:<name> | secretsmanager:<id> | file:<path> | env:<VAR>
    stripe_webhook_secret: str | None  # a secret source, as above (the endpoint's signing secret, whsec_...)
    stripe_api_base: str | None  # a local fake of Stripe's HTTP API (tests, local); unset in AWS
    stage: str  # the metrics' Stage dimension: local | dev | prod
    in_lambda: bool  # AWS_LAMBDA_FUNCTION_NAME is set: a real Lambda (or the package test's emulation)
    rate_limits: dict[str, tuple[int, int]]  # name -> (requests, per seconds)
    # S3: a local S3-compatible server (make run, tests); unset in AWS.
    s3_endpoint: str | None
    help_bucket: str  # the help search index objects (help-index/...)
    help_index_refresh_s: float  # a container re-reads the index pointer at most this often
    case_documents_bucket: str  # customers' documents, uploaded by presigned POST (documents/...)
    # Customers' data exports (exports/<customer>/<export id>.json), read by presigned GET (one's own data).
    exports_bucket: str
    call_code_pepper: str | None  # the call codes' HMAC key: ssm:<name> | secretsmanager:<id> (local: unset)
    # A winning bid whose card is declined at clearing keeps its unit this long while the customer
    # updates the card (BID_PAYMENT_GRACE_HOURS); 0 cascades to the next bid at once.
    bid_payment_grace_hours: int
    # A won upgrade's end is announced this many days before (BID_GRANT_REMINDER_DAYS).
    bid_grant_reminder_days: int
    # Bidders are reminded this many hours before an offer closes (BID_CLOSING_REMINDER_HOURS).
    bid_closing_reminder_hours: int

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
    "offer_view_customer": (60, 60),  # GET /offers/{id} (the strength indicator: bounded reads, but reads)
    "help_client": (120, 60),  # help search and votes, per address (signed-out device ids are free to invent)
    "case_write_customer": (30, 60),  # opening, replying, closing cases, uploads: per customer
    "call_code_customer": (5, 3600),  # call codes issued: per customer
    # Wrong call codes entered by agents, all consoles together: past it, verification is locked
    # until the window ends (an 8-digit code, one live code per customer: see cases/callcodes.py).
    "call_code_guesses": (20, 600),
}


def _rate_limits(spec: str) -> dict[str, tuple[int, int]]:
    limits = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        count, _, seconds = value.partition("/")
        limits[name.strip()] = (int(count), int(seconds))
    return limits


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings(os.environ)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from an environment (os.environ at run time; a stage's variables for `make package`)."""
    env = environ.get

    def _int(name: str, default: int) -> int:
        return int(environ.get(name, default))

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
        jwt_public_key_source=env("JWT_PUBLIC_KEY_SOURCE") or None,
        jwt_key_refresh_s=max(1, min(_int("JWT_KEY_REFRESH_SECONDS", 300), 900)),
        access_token_ttl_s=min(_int("ACCESS_TOKEN_TTL_SECONDS", 900), 900),  # never above 15 min
        refresh_token_ttl_s=_int("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600),
        challenge_ttl_s=min(_int("CHALLENGE_TTL_SECONDS", 300), 300),  # never above 5 min
        activation_code_ttl_s=_int("ACTIVATION_CODE_TTL_SECONDS", 72 * 3600),
        activation_max_failures=_int("ACTIVATION_MAX_FAILURES", 5),
        fcm_project_id=env("FCM_PROJECT_ID") or None,
        firebase_credentials=env("FIREBASE_CREDENTIALS") or None,
        fcm_endpoint=env("FCM_ENDPOINT") or None,
        # Replaced by the table's real stream ARN when infra/ is merged into the package.
        usage_queue_name=env("USAGE_QUEUE_NAME", "selfcare-local-usage-records"),
        payment_gateway=env("PAYMENT_GATEWAY", "sandbox"),
        stripe_secret_key=env("STRIPE_SECRET_KEY") or None,
        stripe_webhook_secret=env("STRIPE_WEBHOOK_SECRET") or None,
        stripe_api_base=env("STRIPE_API_BASE") or None,
        stage=env("STAGE", "local"),
        in_lambda=bool(env("AWS_LAMBDA_FUNCTION_NAME")),
        rate_limits={**DEFAULT_RATE_LIMITS, **_rate_limits(env("RATE_LIMITS", ""))},
        table_stream_arn=env(
            "TABLE_STREAM_ARN", "arn:aws:dynamodb:eu-west-3:000000000000:table/selfcare/stream/local"
        ),
        s3_endpoint=env("S3_ENDPOINT") or None,
        help_bucket=env("HELP_BUCKET", "selfcare-local-help"),
        help_index_refresh_s=max(0.0, min(float(env("HELP_INDEX_REFRESH_SECONDS", "30")), 900.0)),
        case_documents_bucket=env("CASE_DOCUMENTS_BUCKET", "selfcare-local-case-documents"),
        exports_bucket=env("EXPORTS_BUCKET", "selfcare-local-exports"),
        call_code_pepper=env("CALL_CODE_PEPPER") or None,
        bid_payment_grace_hours=max(0, min(_int("BID_PAYMENT_GRACE_HOURS", 24), 24 * 14)),
        bid_grant_reminder_days=max(0, min(_int("BID_GRANT_REMINDER_DAYS", 3), 30)),
        bid_closing_reminder_hours=max(1, min(_int("BID_CLOSING_REMINDER_HOURS", 24), 24 * 14)),
    )


def unsafe_for_deployment(settings: Settings) -> list[str]:
    """Why these settings must not serve a deployed stage (dev, prod): empty when they may.

    Local stand-ins exist so that `make run` and the tests need no cloud account; a deployed stage
    that fell back on one would take no money (sandbox), tell nobody (console push) or sign tokens
    with a key nobody manages. Local stages (`local`, `test`) may use them all.
    """
    if settings.stage == "local" and settings.in_lambda:
        # A function in AWS whose STAGE was left out (a stage added by hand, `chalice deploy`):
        # "local" is only a default, never a deployed stage's answer.
        return ["STAGE is unset or local in a Lambda function: set the stage's own name (dev, prod)"]
    if settings.stage in LOCAL_STAGES:
        return []
    problems = []
    if settings.stage not in DEPLOYED_STAGES:
        problems.append(
            f"STAGE must be one of {', '.join(LOCAL_STAGES + DEPLOYED_STAGES)} (got {settings.stage!r})"
        )
    if settings.payment_gateway != "stripe":
        problems.append(
            f"PAYMENT_GATEWAY is {settings.payment_gateway!r}: a deployed stage takes real payments (stripe)"
        )
    for name, source in (
        ("STRIPE_SECRET_KEY", settings.stripe_secret_key),
        ("STRIPE_WEBHOOK_SECRET", settings.stripe_webhook_secret),
    ):
        if not source or not source.startswith(("ssm:", "secretsmanager:")):
            problems.append(f"{name} must name an SSM parameter or a secret (ssm:/..., secretsmanager:...)")
    if settings.stripe_api_base:
        problems.append("STRIPE_API_BASE points at a local fake of Stripe")
    if (
        not settings.fcm_project_id
        or not settings.firebase_credentials
        or not settings.firebase_credentials.startswith(("ssm:", "secretsmanager:"))
    ):
        problems.append(
            "FCM_PROJECT_ID and FIREBASE_CREDENTIALS (ssm:/... or secretsmanager:...) are required: "
            "without them pushes would only be printed"
        )
    if settings.fcm_endpoint:
        problems.append("FCM_ENDPOINT points at a local fake of FCM")
    for name, source in (
        ("JWT_KEY_SOURCE", settings.jwt_key_source),
        ("JWT_PUBLIC_KEY_SOURCE", settings.jwt_public_key_source),
    ):
        if not source or not source.startswith(("ssm:", "secretsmanager:")):
            problems.append(f"{name} must be ssm:/... or secretsmanager:... (a key file is for local runs)")
    if settings.rp_id in ("localhost", "127.0.0.1") or not settings.rp_id:
        problems.append(f"WEBAUTHN_RP_ID is {settings.rp_id!r}: set the service's own domain")
    if not settings.web_origins or any(not o.startswith("https://") for o in settings.web_origins):
        problems.append("WEBAUTHN_ORIGINS must be https origins")
    if not settings.android_cert_fingerprints:
        problems.append("ANDROID_CERT_SHA256 is empty: the Android app could not sign in")
    if not settings.ios_app_ids:
        problems.append("IOS_APP_IDS is empty: the iOS app could not sign in")
    if not settings.jwt_issuer.startswith("https://"):
        problems.append("JWT_ISSUER must be the service's https URL")
    if settings.dynamodb_endpoint:
        problems.append("DYNAMODB_ENDPOINT points at a local DynamoDB")
    if settings.s3_endpoint:
        problems.append("S3_ENDPOINT points at a local S3-compatible server")
    if not (settings.call_code_pepper or "").startswith(("ssm:", "secretsmanager:")):
        problems.append(
            "CALL_CODE_PEPPER must be ssm:/... or secretsmanager:... (call codes are HMAC'd with it)"
        )
    return problems
