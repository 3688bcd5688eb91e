"""Fail closed: a function of a deployed stage that starts with local stand-ins refuses to serve.

The settings are checked once per container (cold start). When they are unfit for the stage
(`chalicelib.config.unsafe_for_deployment`: the sandbox payment provider, the console push sender,
a local key file, RP ID localhost, empty native app ids...), one `unsafe_settings` log line says
why and the `UnsafeSettings` metric fires its alarm; then every API request answers 503, the
authorizer denies, and every other function raises, so nothing runs half-configured.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from chalicelib.config import get_settings, unsafe_for_deployment
from chalicelib.errors import ServiceMisconfigured
from chalicelib.observability.log import log_event
from chalicelib.observability.metrics import emit

__all__ = ["problems", "refuse_if_unsafe"]


@lru_cache(maxsize=1)
def problems() -> tuple[str, ...]:
    found = tuple(unsafe_for_deployment(get_settings()))
    if found:
        log_event("unsafe_settings", level=logging.CRITICAL, stage=get_settings().stage, problems=list(found))
        emit("UnsafeSettings")
    return found


def refuse_if_unsafe() -> None:
    if problems():
        raise ServiceMisconfigured(
            "The service is not configured for this stage and refuses to run; the operators have been alerted.",
            code="service_misconfigured",
        )
