"""Read the reasons DynamoDB gives when a transaction is cancelled."""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError


def failed_conditions(error: TransactWriteError) -> list[int]:
    """Indexes of the actions whose condition failed, in the order they were added."""
    reasons = error.cancellation_reasons or []
    return [i for i, reason in enumerate(reasons) if reason is not None and reason.code == "ConditionalCheckFailed"]
