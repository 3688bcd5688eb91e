"""A deployed stage never runs on local stand-ins: the settings check, and what a function does
when it starts with them (one log line, a metric, every request refused)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from chalicelib.config import load_settings, unsafe_for_deployment

SAFE_PROD = {
    "STAGE": "prod",
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_SECRET_KEY": "ssm:/selfcare/prod/stripe-secret-key",
    "STRIPE_WEBHOOK_SECRET": "ssm:/selfcare/prod/stripe-webhook-secret",
    "FCM_PROJECT_ID": "selfcare-prod",
    "FIREBASE_CREDENTIALS": "ssm:/selfcare/prod/firebase-service-account",
    "JWT_KEY_SOURCE": "ssm:/selfcare/prod/jwt-signing-keys",
    "JWT_PUBLIC_KEY_SOURCE": "ssm:/selfcare/prod/jwt-public-keys",
    "JWT_ISSUER": "https://selfcare.example.com",
    "WEBAUTHN_RP_ID": "selfcare.example.com",
    "WEBAUTHN_ORIGINS": "https://selfcare.example.com",
    "ANDROID_CERT_SHA256": ":".join(["AB"] * 32),
    "IOS_APP_IDS": "ABCDE12345.com.example.selfcare",
    "CALL_CODE_PEPPER": "ssm:/selfcare/prod/call-code-pepper",
}


def test_safe_prod_settings_pass():
    assert unsafe_for_deployment(load_settings(SAFE_PROD)) == []


@pytest.mark.parametrize(
    "change,mentions",
    [
        ({"PAYMENT_GATEWAY": "sandbox"}, "PAYMENT_GATEWAY"),
        ({"PAYMENT_GATEWAY": ""}, "PAYMENT_GATEWAY"),
        ({"FCM_PROJECT_ID": ""}, "FCM_PROJECT_ID"),
        ({"FIREBASE_CREDENTIALS": "file:/tmp/sa.json"}, "FIREBASE_CREDENTIALS"),
        ({"JWT_KEY_SOURCE": "file:.local/jwt-keys.json"}, "JWT_KEY_SOURCE"),
        ({"JWT_PUBLIC_KEY_SOURCE": ""}, "JWT_PUBLIC_KEY_SOURCE"),
        ({"WEBAUTHN_RP_ID": "localhost"}, "WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_ORIGINS": "http://localhost:8000"}, "WEBAUTHN_ORIGINS"),
        ({"ANDROID_CERT_SHA256": ""}, "ANDROID_CERT_SHA256"),
        ({"IOS_APP_IDS": ""}, "IOS_APP_IDS"),
        ({"STRIPE_SECRET_KEY": "env:STRIPE_KEY"}, "STRIPE_SECRET_KEY"),
        ({"STRIPE_API_BASE": "http://127.0.0.1:12111"}, "STRIPE_API_BASE"),
        ({"FCM_ENDPOINT": "http://127.0.0.1:8002"}, "FCM_ENDPOINT"),
        ({"DYNAMODB_ENDPOINT": "http://127.0.0.1:8001"}, "DYNAMODB_ENDPOINT"),
        ({"S3_ENDPOINT": "http://127.0.0.1:8004"}, "S3_ENDPOINT"),
        ({"CALL_CODE_PEPPER": ""}, "CALL_CODE_PEPPER"),
        ({"CALL_CODE_PEPPER": "env:PEPPER"}, "CALL_CODE_PEPPER"),
        ({"STAGE": "staging"}, "STAGE"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else v,
)
def test_each_local_stand_in_is_refused_in_a_deployed_stage(change, mentions):
    problems = unsafe_for_deployment(load_settings({**SAFE_PROD, **change}))
    assert any(mentions in p for p in problems), problems
    if "STAGE" not in change:  # dev is a deployed stage too: the same rules
        assert unsafe_for_deployment(load_settings({**SAFE_PROD, **change, "STAGE": "dev"}))


def test_local_stages_may_use_stand_ins():
    assert unsafe_for_deployment(load_settings({"STAGE": "local"})) == []
    assert unsafe_for_deployment(load_settings({"STAGE": "test"})) == []


@pytest.fixture
def make_unsafe(monkeypatch: pytest.MonkeyPatch, app_module: Any) -> Any:
    """Call it to make the running app behave as if it had started in prod with the sandbox and
    the console sender (the guard re-evaluated); returns the metric lines written."""
    from chalicelib.api import guard
    from chalicelib.config import get_settings
    from chalicelib.observability import metrics

    lines: list[str] = []

    def activate() -> list[str]:
        prod_sandbox = dataclasses.replace(get_settings(), stage="prod")
        monkeypatch.setattr(guard, "get_settings", lambda: prod_sandbox)
        monkeypatch.setattr(metrics, "get_settings", lambda: prod_sandbox)
        monkeypatch.setattr(metrics, "write_line", lines.append)
        guard.problems.cache_clear()
        return lines

    yield activate
    monkeypatch.undo()
    guard.problems.cache_clear()


def test_a_function_started_with_unsafe_settings_serves_nothing(api, app_module, make_unsafe, caplog):
    """Mutation: drop the middleware → the sandbox takes prod's payments."""
    metric_lines = make_unsafe()
    answer = api.post("/auth/passkeys/login/options")
    assert answer.status == 500 and answer.error_code == "service_misconfigured"
    assert "sandbox" not in json.dumps(answer.body)  # the reasons are for operators, in the log
    assert "unsafe_settings" in caplog.text and "PAYMENT_GATEWAY" in caplog.text
    assert any('"UnsafeSettings"' in line for line in metric_lines)
    with pytest.raises(Exception) as raised:
        app_module.sweep_pending_payments(
            {
                "version": "0",
                "id": "e1",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2026-11-27T00:00:00Z",
                "region": "eu-west-3",
                "resources": [],
                "detail": {},
            },
            None,
        )
    assert "refuses to run" in str(raised.value)
    with pytest.raises(Exception, match="refuses to run"):
        app_module.admin_create_customer({"customer_number": "UNSAFE-1", "name": "X"}, None)


def test_the_authorizer_denies_a_valid_token_when_unsafe(app_module, enrol, make_unsafe):
    """Mutation: ignore the guard in the authorizer → the token is allowed."""
    enrolled = enrol()
    arn = "arn:aws:execute-api:eu-west-3:123456789012:abcdef/api/GET/me"
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {enrolled.token}", "methodArn": arn}
    assert app_module.access_token(event, None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    make_unsafe()
    assert app_module.access_token(event, None)["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_the_console_sender_never_counts_a_push_as_sent(app_module, enrol):
    """Local runs print pushes; the alert records `not_sent`, never `sent`, and PushSent stays 0.
    Mutation: the console sender answers SENT."""
    from chalicelib.notifications import delivery, devices, inbox, senders

    enrolled = enrol()
    devices.register(
        customer_id=enrolled.customer["customer_id"],
        session_id="ses_" + "0" * 24,
        installation_id="fidCONSOLE0001",
        fcm_token="tok-console-000001",
        platform="ios",
        app_version="1",
        locale="fr",
    )
    alert = inbox.notify(
        customer_id=enrolled.customer["customer_id"],
        kind="service.announcement",
        data={"announcement_id": "console", "message_fr": "x", "message_en": "x"},
        dedup_key="console-test",
    )
    statuses = delivery.deliver(
        [(enrolled.customer["customer_id"], alert.alert_id)], sender=senders.ConsoleSender()
    )
    assert statuses[alert.alert_id] == "not_sent"


def test_a_lambda_function_without_a_stage_is_unsafe():
    """`local` is only the default: a function in AWS whose STAGE was left out must not pass as a
    local run. Mutation: return [] for every local stage."""
    assert unsafe_for_deployment(load_settings({"AWS_LAMBDA_FUNCTION_NAME": "selfcare-x-APIHandler"}))
    assert unsafe_for_deployment(
        load_settings({"AWS_LAMBDA_FUNCTION_NAME": "selfcare-x-APIHandler", "STAGE": "local"})
    )
    assert unsafe_for_deployment(load_settings({"STAGE": "local"})) == []
