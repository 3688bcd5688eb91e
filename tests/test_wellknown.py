"""The documents that tie the native apps to our RP ID, from configuration."""

from __future__ import annotations


def test_jwks_lists_the_active_key(api):
    keys = api.get("/.well-known/jwks.json").body["keys"]
    assert len(keys) == 1 and keys[0]["alg"] == "ES256"
    assert "d" not in keys[0]  # never the private part


def test_app_association_documents_are_served(api):
    assert api.get("/.well-known/assetlinks.json").status == 200
    assert api.get("/.well-known/apple-app-site-association").body == {"webcredentials": {"apps": []}}


def test_android_origin_and_asset_links_follow_the_signing_certificate(monkeypatch):
    from chalicelib import config
    from chalicelib.auth import wellknown

    fingerprint = ":".join(["AB"] * 32)
    monkeypatch.setenv("ANDROID_CERT_SHA256", fingerprint)
    monkeypatch.setenv("IOS_APP_IDS", "TEAM123.com.example.selfcare")
    config.get_settings.cache_clear()
    try:
        settings = config.get_settings()
        assert (
            settings.allowed_origins[-1] == "android:apk-key-hash:q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s"
        )
        statement = wellknown.assetlinks()[0]
        assert "delegate_permission/common.get_login_creds" in statement["relation"]
        assert statement["target"]["sha256_cert_fingerprints"] == [fingerprint]
        assert wellknown.apple_app_site_association() == {
            "webcredentials": {"apps": ["TEAM123.com.example.selfcare"]}
        }
    finally:
        config.get_settings.cache_clear()


def test_an_android_app_signs_in_with_its_apk_key_hash_origin(monkeypatch, api, enrol, sign_in):
    from chalicelib import config

    fingerprint = ":".join(["CD"] * 32)
    monkeypatch.setenv("ANDROID_CERT_SHA256", fingerprint)
    config.get_settings.cache_clear()
    try:
        enrolled = enrol()
        android_origin = config.android_origin(fingerprint)
        assert sign_in(enrolled.authenticator, origin=android_origin).status == 200
        assert (
            sign_in(enrolled.authenticator, origin=config.android_origin(":".join(["EF"] * 32))).status == 401
        )
    finally:
        config.get_settings.cache_clear()
