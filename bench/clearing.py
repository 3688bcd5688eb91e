"""Clearing one offer with 100,000 bids and 500 units, as a ratio to a raw paginated Query of those
bids (boto3, consistent reads, the same 8 shard partitions), with the DynamoDB calls it makes.

Set-up (not timed): the bids are written straight into the table (BatchWriteItem), with payment
methods for the 1,000 highest bidders, one in ten of which the sandbox declines (cascades). Timed:
the clearing proper (claim, close the gates, read the bids, charge the winners in order recording
each outcome, write the result pages, cleared). Telling the bidders is reported apart, as alerts per
second over the first pages: it is a fan-out of inbox writes, like issue 3's.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import calls


def _write(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        request: dict[str, Any] | None = {
            table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        }
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or None


def run(*, bids: int = 100_000, units: int = 500, tell_pages: int = 2) -> dict[str, Any]:
    import boto3

    import app
    from chalicelib.bidding import bids as bids_module
    from chalicelib.bidding import closing, offers
    from chalicelib.common.clock import iso_ms
    from devtools.time_travel import close_now

    client = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    table = os.environ["APP_TABLE_NAME"]
    now = datetime.now(UTC)
    offer_id = f"off_bench{int(time.time())}"
    catalogue = Path(__file__).resolve().parents[1] / "infra" / "admin-events" / "admin_upsert_catalog.json"
    app.admin_upsert_catalog(json.loads(catalogue.read_text()), None)  # the grant names an entry of it
    created = app.admin_create_offer(
        {
            "offer_id": offer_id,
            "title": {"fr": "Banc", "en": "Bench"},
            "description": {"fr": "Banc", "en": "Bench"},
            "inventory": units,
            "currency": "EUR",
            "min_bid": 100,
            "max_bid": 100_000,
            "increment": 100,
            "opens_at": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "closes_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "grant": {"kind": "option", "entry_id": "data-pass-10", "days": 30},
        },
        None,
    )
    assert "error" not in created, created
    # The bids below are written raw, without lines: this bench measures the charging of winners,
    # so the offer is made one from before grants (no grant: charged and told, nothing granted).
    client.update_item(
        TableName=table,
        Key={"PK": {"S": f"OFFER#{offer_id}"}, "SK": {"S": "OFFER"}},
        UpdateExpression="REMOVE #g",
        ExpressionAttributeNames={"#g": "grant"},
    )

    rng = random.Random(7)
    rows, profiles = [], []
    placed = now - timedelta(hours=2)
    for n in range(bids):
        customer = f"cus_bench{n:07d}"
        amount = 100 * rng.randint(1, 1000)
        at = iso_ms(placed + timedelta(milliseconds=rng.randint(0, 3_600_000)))
        bid_id = bids_module.bid_id_for(offer_id, customer)
        rows.append((amount, at, bid_id, customer, offers.shard_of(offer_id, customer)))
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    items = [
        {
            "PK": {"S": shard},
            "SK": {"S": f"BID#{customer}"},
            "type": {"S": "offer_bid"},
            "GSI1PK": {"S": f"BIDS#{offer_id}"},
            "GSI1SK": {"S": bids_module.rank_key(amount, at, bid_id)},
            "bid_id": {"S": bid_id},
            "offer_id": {"S": offer_id},
            "customer_id": {"S": customer},
            "amount": {"N": str(amount)},
            "currency": {"S": "EUR"},
            "method_id": {"S": "pm_" + hashlib.sha256(customer.encode()).hexdigest()[:16]},
            "placed_at": {"S": at},
            "challenge_id": {"S": "chl_" + "0" * 32},
        }
        for amount, at, bid_id, customer, shard in rows
    ]
    for rank, (_, _, _, customer, _) in enumerate(rows[:1000]):
        card = "card_declined" if rank % 10 == 3 else "visa"
        items.append(
            {
                "PK": {"S": f"CUSTOMER#{customer}"},
                "SK": {"S": "PM#" + items[rank]["method_id"]["S"]},
                "type": {"S": "payment_method"},
                "method_id": {"S": items[rank]["method_id"]["S"]},
                "provider_ref": {"S": f"pm_sandbox_{card}_bench"},
                "brand": {"S": "visa"},
                "last4": {"S": "4242"},
                "exp_month": {"N": "12"},
                "exp_year": {"N": "2030"},
                "created_at": {"S": iso_ms(now)},
            }
        )
    for _, _, _, customer, _ in rows[: tell_pages * offers.RESULT_PAGE_SIZE]:
        profiles.append(
            {
                "PK": {"S": f"CUSTOMER#{customer}"},
                "SK": {"S": "PROFILE"},
                "type": {"S": "customer"},
                "customer_id": {"S": customer},
                "customer_number": {"S": customer.upper()},
                "name": {"S": "Bench"},
                "user_handle": {"S": "x"},
                "passkey_count": {"N": "1"},
                "created_at": {"S": iso_ms(now)},
                "language": {"S": "en"},
                "time_zone": {"S": "Europe/Paris"},
            }
        )
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        chunk = 2500
        list(
            pool.map(
                lambda s: _write(client, table, (items + profiles)[s : s + chunk]),
                range(0, len(items) + len(profiles), chunk),
            )
        )
    setup_s = time.perf_counter() - started

    # The baseline: every bid read once, as fast as boto3 pages them.
    started = time.perf_counter()
    raw_items = raw_pages = 0
    for shard in offers.shard_pks(offer_id):
        for page in client.get_paginator("query").paginate(
            TableName=table,
            ConsistentRead=True,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :b)",
            ExpressionAttributeValues={":pk": {"S": shard}, ":b": {"S": "BID#"}},
        ):
            raw_items += page["Count"]
            raw_pages += 1
    raw_s = time.perf_counter() - started
    assert raw_items == bids, raw_items

    close_now(offer_id)  # time passes: the offer closes
    budget = closing.Budget(seconds=3600)
    with calls() as used:
        started = time.perf_counter()
        claimed = closing._claim(offer_id)
        assert claimed is not None
        lease, offer = claimed
        entries = closing._charge_winners(offer, lease, budget, {})
        closing._store_result(offer, lease, entries, cleared=True)
        clearing_s = time.perf_counter() - started
    won = sum(1 for e in entries if e.outcome == "won")
    declined = sum(1 for e in entries if e.outcome == "declined")
    assert won == units, won

    # Telling bidders: the first pages.
    offer = offers.get_offer(offer_id, consistent=True)
    pages_written = int(offer.result_pages or 0)
    offer.result_pages = tell_pages  # only the pages whose bidders have profiles here
    with calls() as told_calls:
        started = time.perf_counter()
        closing._tell_bidders(offer, lease, budget)
        tell_s = time.perf_counter() - started
    told = tell_pages * offers.RESULT_PAGE_SIZE
    return {
        "bids": bids,
        "units": units,
        "won": won,
        "declined_and_cascaded": declined,
        "setup_write_s": round(setup_s, 1),
        "raw_paginated_query_s": round(raw_s, 2),
        "raw_query_pages": raw_pages,
        "clearing_s": round(clearing_s, 2),
        "ratio_to_raw_query": round(clearing_s / raw_s, 2),
        "clearing_dynamodb_calls": dict(used),
        "result_pages_written": pages_written,
        "items_read": bids,
        "telling": {
            "alerts": told,
            "seconds": round(tell_s, 2),
            "alerts_per_s": round(told / tell_s, 1),
            "dynamodb_calls_per_alert": round(sum(told_calls.values()) / told, 2),
        },
    }
