"""`make run`'s background workers: the table stream poller (alerts and pushes) and the
every-minute schedule (deferred pushes), calling the same handlers Lambda calls in AWS.
"""
from __future__ import annotations

import os
import time

from devtools.stream_poller import StreamPoller

SCHEDULE_EVERY_S = 60


def scheduled_event() -> dict[str, object]:
    """What EventBridge sends a scheduled function."""
    from datetime import datetime, timezone

    return {
        "version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "000000000000", "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-3", "resources": ["arn:aws:events:eu-west-3:000000000000:rule/local"], "detail": {},
    }


def main() -> None:
    import app

    poller = StreamPoller(endpoint=os.environ["DYNAMODB_ENDPOINT"], table_name=os.environ["APP_TABLE_NAME"], handler=app.on_table_stream)
    print("Workers: table stream poller (every 1 s), deliver_deferred_alerts (every 60 s)", flush=True)
    next_schedule = time.monotonic()
    while True:
        poller.poll_once()
        if time.monotonic() >= next_schedule:
            app.deliver_deferred_alerts(scheduled_event(), None)
            next_schedule = time.monotonic() + SCHEDULE_EVERY_S
        time.sleep(1)


if __name__ == "__main__":
    main()
