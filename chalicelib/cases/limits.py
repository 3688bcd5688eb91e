"""Fixed-window limits of the cases, counted in DynamoDB like every other limit (one conditional
ADD per request on `RATE#<name>#<hash of the subject>`, see chalicelib/api/ratelimit.py), with two
additions the call codes need: the limits have defaults here until config.py lists them, and a
counted attempt can be given back (`give_back`), so the guess window counts only wrong codes while
every guess is still counted before the code is looked at.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from chalicelib.cases import settings as case_config
from chalicelib.cases.messages import text
from chalicelib.errors import TooManyAttempts
from chalicelib.observability.log import log_event
from chalicelib.store.models import RateWindow


@dataclass(frozen=True)
class Taken:
    """A counted request: which window item, to give it back."""

    pk: str
    sk: str


def clock() -> float:
    """The limits' clock (a function, so a test can move one limit's windows alone)."""
    return time.time()


def take(name: str, subject: str, *, code: str = "rate_limited") -> Taken:
    """Count one request of `subject` against limit `name`; TooManyAttempts once over it."""
    limit, window_s = case_config.case_settings().rate_limits[name]
    moment = clock()
    start = int(moment // window_s * window_s)
    hashed = hashlib.sha256(subject.encode()).hexdigest()[:32]  # never an id in clear
    window = RateWindow(f"RATE#{name}#{hashed}", f"W#{window_s}#{start}")
    try:
        window.update(
            actions=[
                RateWindow.type.set(RateWindow),
                RateWindow.hits.add(1),
                RateWindow.expires_at.set(start + window_s + 60),
            ],
            condition=RateWindow.hits.does_not_exist() | (RateWindow.hits < limit),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        retry_after = max(1, int(start + window_s - moment) + 1)
        log_event("rate_limited", limit=name, retry_after=retry_after)
        raise TooManyAttempts(text(code), retry_after_s=retry_after, code=code) from None
    return Taken(window.PK, window.SK)


def give_back(taken: Taken) -> None:
    """Uncount a request (it turned out not to be one the limit is about)."""
    RateWindow(taken.pk, taken.sk).update(actions=[RateWindow.hits.add(-1)])
