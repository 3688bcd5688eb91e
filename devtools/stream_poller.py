"""What Lambda's event source mapping does in AWS, done locally: read the table's stream on
DynamoDB Local and hand each batch, shaped as Lambda's DynamoDB event, to the app's stream handler.
Records the handler reports as failed (partial batch response) are handed again, up to
`max_retries` times, as `ReportBatchItemFailures` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import boto3

Handler = Callable[[dict[str, Any], Any], dict[str, Any] | None]


class StreamPoller:
    def __init__(
        self,
        *,
        endpoint: str,
        table_name: str,
        handler: Handler,
        region: str = "eu-west-3",
        batch_size: int = 100,
        max_retries: int = 3,
    ) -> None:
        self._streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name=region)
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
        self._arn = ddb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self._handler = handler
        self._batch = batch_size
        self._max_retries = max_retries
        self._iterators: dict[str, str | None] = {}
        self.handled = 0
        self.failed_for_good: list[dict[str, Any]] = []
        # Start from now: what happened before this poller existed is not replayed.
        for shard in self._shards():
            self._iterators[shard] = self._iterator(shard, "LATEST")

    def _shards(self) -> list[str]:
        return [
            s["ShardId"]
            for s in self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        ]

    def _iterator(self, shard: str, kind: Literal["LATEST", "TRIM_HORIZON"]) -> str:
        return self._streams.get_shard_iterator(StreamArn=self._arn, ShardId=shard, ShardIteratorType=kind)[
            "ShardIterator"
        ]

    def poll_once(self) -> int:
        """Read what is new on every shard and hand it over; returns how many records were read."""
        for shard in self._shards():
            if shard not in self._iterators:
                self._iterators[shard] = self._iterator(shard, "TRIM_HORIZON")  # a shard born since
        read = 0
        for shard, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            response = self._streams.get_records(ShardIterator=iterator, Limit=self._batch)
            self._iterators[shard] = response.get("NextShardIterator")
            records = [_lambda_record(r, self._arn) for r in response["Records"]]
            if records:
                read += len(records)
                self._deliver(records)
        return read

    def drain(self, *, settle_s: float = 0.05, max_rounds: int = 1000) -> int:
        """Poll until nothing new arrives (handlers may write more records, e.g. an alert's item)."""
        total = 0
        for _ in range(max_rounds):
            got = self.poll_once()
            total += got
            if got == 0:
                time.sleep(settle_s)
                if self.poll_once() == 0:
                    return total
        return total

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        attempt = 0
        while records:
            result = self._handler({"Records": records}, None) or {}
            self.handled += len(records)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            if not failed:
                return
            attempt += 1
            # Lambda retries from the first failed record on: the ones after it come again too.
            first = min(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] in failed)
            records = records[first:]
            if attempt > self._max_retries:
                self.failed_for_good.extend(records)
                return
            time.sleep(min(2.0, 0.1 * 2**attempt))


def _lambda_record(record: Any, arn: str) -> dict[str, Any]:
    """boto3's stream record → the JSON a Lambda function receives."""
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = created.timestamp()
    shaped = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", "eu-west-3"),
        "dynamodb": body,
        "eventSourceARN": arn,
    }
    if "userIdentity" in record:
        shaped["userIdentity"] = record["userIdentity"]
    return shaped
