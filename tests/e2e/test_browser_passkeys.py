"""A real WebAuthn client: Chromium, with a CDP virtual authenticator (CTAP2, internal, resident
keys, user verification), enrols and signs in through devtools/web/passkeys.html served by
`chalice local` (devtools/serve.py) on the API's own origin. This proves the wire format with
`parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON` / `toJSON()`, not only with our
software authenticator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.dynamodb_local import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="Chromium is not installed (make test installs it)"
)


@pytest.fixture(scope="module")
def local_api() -> Iterator[str]:
    port = free_port()
    base = f"http://localhost:{port}"
    env = {**os.environ, "WEBAUTHN_ORIGINS": base, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "devtools.serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/.well-known/jwks.json", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("chalice local did not start") from None
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Chromium is required: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page()
        yield page
        browser.close()


def _open_with_platform_authenticator(page: Any, base: str, *, user_verification: bool) -> tuple[Any, str]:
    """The demo page, with a virtual platform authenticator like Face ID / a fingerprint sensor."""
    page.goto(f"{base}/demo/passkeys.html")
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": user_verification,
                "isUserVerified": user_verification,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    return cdp, authenticator


def _enrol(page: Any, customer: dict[str, Any]) -> str:
    page.fill("#enrolment_handle", customer["enrolment_handle"])
    page.fill("#activation_code", customer["activation_code"])
    page.click("#enrol")
    page.wait_for_selector("body[data-state='enrolled'], body[data-state='error']", timeout=15000)
    return str(page.get_attribute("body", "data-state"))


def test_a_browser_enrols_and_signs_in_with_a_platform_passkey(local_api, browser_page, new_customer):
    customer = new_customer()
    page = browser_page
    cdp, authenticator = _open_with_platform_authenticator(page, local_api, user_verification=True)
    assert _enrol(page, customer) == "enrolled", page.inner_text("#out")
    assert customer["customer_id"] in page.inner_text("#out")

    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(stored) == 1 and stored[0]["isResidentCredential"]

    page.click("#sign-in")  # usernameless: the browser offers the discoverable credential
    page.wait_for_selector("body[data-state='signed-in'], body[data-state='error']")
    assert page.get_attribute("body", "data-state") == "signed-in", page.inner_text("#out")
    assert customer["customer_id"] in page.inner_text("#out")

    page.click("#sessions")
    page.wait_for_selector("body[data-state='sessions'], body[data-state='error']")
    assert page.inner_text("#out").count("session_id") == 2


def test_without_user_verification_the_browser_cannot_sign_in(local_api, browser_page, new_customer):
    _open_with_platform_authenticator(browser_page, local_api, user_verification=False)
    # The options require user verification: an authenticator without it cannot create the passkey.
    assert _enrol(browser_page, new_customer()) == "error"
