"""CloudWatch metrics as Embedded Metric Format (EMF): one JSON log line per measurement, which
CloudWatch turns into metrics with no API call and no extra latency (the Lambda's log stream is the
transport). Namespace `Selfcare`, dimension `Stage`. The dashboard and alarms in
infra/resources.json read these names: keep them in step (a test checks it).
"""

from __future__ import annotations

import json
import time
from typing import Literal

from chalicelib.config import get_settings
from chalicelib.observability.log import write_line

NAMESPACE = "Selfcare"
Unit = Literal["Count", "Seconds", "Milliseconds", "None"]

METRICS: dict[str, str] = {
    "SignInSucceeded": "a passkey sign-in or enrolment issued tokens",
    "SignInRefused": "a sign-in assertion was refused",
    "RateLimited": "a request was answered 429",
    "PaymentSucceeded": "a payment settled succeeded",
    "PaymentFailed": "a payment settled failed (declined, not charged)",
    "PaymentsStuckPending": "payments still pending 15 minutes after creation (sweeper run)",
    "BidPlaced": "a bid was placed or changed",
    "OfferCleared": "an offer's clearing completed",
    "ClearingCharges": "winning bids charged by a clearing run",
    "PushSent": "pushes accepted by FCM",
    "PushFailed": "pushes FCM refused for good or that failed after every retry",
    "UsageIngestionLagSeconds": "age of the newest usage record of a batch when counted",
    "UsageRecordsRejected": "usage records skipped as invalid",
    "ActivationCodeRejected": "a wrong activation code or unknown enrolment handle (a burst alarms)",
    "UnsafeSettings": "a function of a deployed stage started with local stand-ins and refuses to serve",
    "BatchItemFailed": "one item of a batch job (a payment, an offer's clearing, a plan change...) failed; the job went on, the next run retries it",
    "PaymentLateChargeRefunded": "a charge that showed up after its payment had failed was refunded",
    "HelpSearchNoResult": "a help search found nothing (the admin report lists what people typed)",
    "HelpVoteNotHelpful": "a help article was voted not helpful",
    "PaymentChargeMismatch": "a provider charge did not match its payment (amount, currency, reference)",
}


def emit(name: str, value: float = 1, unit: Unit = "Count") -> None:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name}: declare it in METRICS")
    stage = get_settings().stage
    if stage == "local":
        return  # no CloudWatch here: keep `make run`'s console for the logs
    record = emf(name, value, unit, stage)
    write_line(json.dumps(record, separators=(",", ":")))


def emf(name: str, value: float, unit: Unit, stage: str) -> dict[str, object]:
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": [["Stage"]], "Metrics": [{"Name": name, "Unit": unit}]}
            ],
        },
        "Stage": stage,
        name: value,
    }
