"""Every 4xx/5xx is `{"error": {"code", "message"}}`, whoever produced it (our views, Chalice, the
gateway); the contract check in tests/support/contract.py validates each body."""

from __future__ import annotations


def test_invalid_json(api):
    response = api.post("/auth/token/refresh", raw=b"{not json")
    assert response.status == 400 and response.error_code == "invalid_json"


def test_a_body_that_is_not_an_object(api):
    response = api.post("/auth/token/refresh", raw=b"[1, 2]")
    assert response.status == 400 and response.error_code == "invalid_json"


def test_a_body_too_large(api):
    response = api.post("/auth/token/refresh", {"refresh_token": "x" * 70_000})
    assert response.status == 400 and response.error_code == "body_too_large"


def test_unknown_fields_on_an_empty_route(api):
    response = api.post("/auth/passkeys/login/options", {"username": "ada"})
    assert response.status == 400 and "username" in response.body["error"]["message"]


def test_unsupported_media_type(api):
    response = api.post("/auth/token/refresh", raw=b"x", headers={"Content-Type": "text/plain"})
    assert response.status == 415 and response.error_code == "unsupported_media_type"


def test_method_not_allowed(api):
    response = api.request("PUT", "/me/passkeys")
    assert response.status == 405 and response.error_code == "method_not_allowed"


def test_unknown_route(api):
    response = api.get("/no/such/route")
    assert response.status == 404 and response.error_code == "not_found"


def test_unknown_route_never_echoes_the_authorization_header(api):
    response = api.get("/no/such/route", headers={"Authorization": "Bearer secret-token-value"})
    assert "secret-token-value" not in str(response.body)


def test_an_unexpected_failure_is_a_json_500_that_reveals_nothing(api, monkeypatch):
    from chalicelib.auth import passkeys

    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(passkeys, "login_options", boom)
    response = api.post("/auth/passkeys/login/options")
    assert response.status == 500 and response.error_code == "internal_error"
    assert "hunter2" not in str(response.body)


def test_chalice_errors_are_told_in_our_words_without_echoing_the_request(api):
    """Chalice's own 415 message repeats the Content-Type sent. Mutation: pass Chalice's Message through."""
    response = api.post("/auth/token/refresh", raw=b"x", headers={"Content-Type": "text/4242-4242-4242-4242"})
    assert response.status == 415 and response.error_code == "unsupported_media_type"
    assert (
        "4242" not in response.body["error"]["message"]
        and "Unsupported media type" not in response.body["error"]["message"]
    )
