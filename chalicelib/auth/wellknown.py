"""The files that let the native apps use passkeys for our RP ID (served under /.well-known/)."""

from __future__ import annotations

from typing import Any

from chalicelib.config import get_settings


def assetlinks() -> list[dict[str, Any]]:
    """Android: lets the app with these signing certs use this domain's credentials."""
    settings = get_settings()
    if not settings.android_cert_fingerprints:
        return []
    return [
        {
            "relation": [
                "delegate_permission/common.handle_all_urls",
                "delegate_permission/common.get_login_creds",
            ],
            "target": {
                "namespace": "android_app",
                "package_name": settings.android_package,
                "sha256_cert_fingerprints": list(settings.android_cert_fingerprints),
            },
        }
    ]


def apple_app_site_association() -> dict[str, Any]:
    """iOS: the apps allowed to use this domain's passkeys (Associated Domains `webcredentials:`)."""
    return {"webcredentials": {"apps": list(get_settings().ios_app_ids)}}
