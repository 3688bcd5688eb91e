"""Request bodies and query strings of the notification routes: allow-lists."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.common.strict import Strict

INSTALLATION_ID = r"[A-Za-z0-9_-]{8,64}"  # the Firebase installation ID (FID) of the app instance
ALERT_ID = r"alr_[0-9a-f]{24}"
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class DeviceBody(Strict):
    fcm_token: str = Field(min_length=10, max_length=4096)
    platform: Literal["ios", "android"]
    app_version: str = Field(pattern=r"^[0-9A-Za-z.+-]{1,32}$")
    locale: str = Field(pattern=r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$", max_length=35)


class Categories(Strict):
    usage: bool = True
    billing: bool = True
    bidding: bool = True
    service: bool = True
    security: bool = True


class QuietHours(Strict):
    start: str = Field(pattern=HHMM, description="Local time, HH:MM")
    end: str = Field(pattern=HHMM)


class PreferencesBody(Strict):
    categories: Categories = Field(default_factory=Categories)
    quiet_hours: QuietHours | None = None


class InboxQuery(Strict):
    cursor: str | None = Field(default=None, max_length=512)
    limit: int | None = Field(default=None, ge=1, le=50)
