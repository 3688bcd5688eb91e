"""`make run`'s background workers, calling the same handlers Lambda calls in AWS: the table stream
poller (alerts and pushes), the every-minute schedule (deferred pushes), the daily schedule (plan
changes), and a usage simulator feeding the SQS handler every few seconds.
"""

from __future__ import annotations

import os
import time
from datetime import UTC

from devtools.stream_poller import StreamPoller

SCHEDULE_EVERY_S = 60
CLEARING_EVERY_S = 10  # every minute in AWS; faster here so a demo offer clears while you watch
USAGE_EVERY_S = 5
DEMO_LINE_ID = "ln_demo1001"


def scheduled_event() -> dict[str, object]:
    """What EventBridge sends a scheduled function."""
    from datetime import datetime

    return {
        "version": "0",
        "id": "local",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-3",
        "resources": ["arn:aws:events:eu-west-3:000000000000:rule/local"],
        "detail": {},
    }


def main() -> None:
    import app

    poller = StreamPoller(
        endpoint=os.environ["DYNAMODB_ENDPOINT"],
        table_name=os.environ["APP_TABLE_NAME"],
        handler=app.on_table_stream,
    )
    from devtools import usage_simulator

    print(
        "Workers: table stream poller (1 s), clear_offers and engage_bidders (10 s), deliver_deferred_alerts and sweep_pending_payments (60 s), "
        "apply_plan_changes and daily_billing (at start, then daily), expire_upgrades (at start, then hourly), "
        f"usage simulator for {DEMO_LINE_ID} ({USAGE_EVERY_S} s)",
        flush=True,
    )
    next_schedule = next_usage = next_clearing = time.monotonic()
    next_daily = next_hourly = 0.0
    while True:
        poller.poll_once()
        clock = time.monotonic()
        if clock >= next_schedule:
            app.deliver_deferred_alerts(scheduled_event(), None)
            app.sweep_pending_payments(scheduled_event(), None)
            next_schedule = clock + SCHEDULE_EVERY_S
        if clock >= next_clearing:
            app.clear_offers(scheduled_event(), None)
            app.engage_bidders(scheduled_event(), None)  # every 5 minutes in AWS
            next_clearing = clock + CLEARING_EVERY_S
        if clock >= next_daily:
            app.apply_plan_changes(scheduled_event(), None)
            app.daily_billing(scheduled_event(), None)
            next_daily = clock + 86400
        if clock >= next_hourly:
            app.expire_upgrades(scheduled_event(), None)
            next_hourly = clock + 3600
        if clock >= next_usage:
            usage_simulator.tick(app.ingest_usage, DEMO_LINE_ID)
            next_usage = clock + USAGE_EVERY_S
        time.sleep(1)


if __name__ == "__main__":
    main()
