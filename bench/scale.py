"""Scale in simulation: a burst of bidders on one offer over DynamoDB Local, with every write counted
per partition key, to show how the offer's hot keys spread (infra/README.md "Scale").

Each bidder sends the placement's own transaction (`bids.new_bid` + `bids.write_placement`: the
shard's gate checked, the bid saved, the bidder's placements counted); a share of them change their
bid once. The passkey step before it reads and writes only the bidder's own keys (their challenge,
passkey, card, line), so it is left out. Two layouts run on the same burst: `before` (main before
this change: 8 shards, one rank index partition per offer) and `after` (16 shards, the rank index
sharded alike). Every TransactWriteItems is counted as it leaves pynamodb: per partition key and
per item, 2 WCU per written or checked item (a transactional write of an item under 1 KB), and per
GSI1 partition key 1 WCU for each index entry written, 1 more for the old entry a change deletes.

DynamoDB Local neither throttles nor meters, and its throughput here is this machine's: the run
gives the shares (which key takes what part of the writes), and the paper's peak rate
(`PEAK_PLACEMENTS_PER_S`) turns each share into WCU/s per key at 100,000 bidders.
`python -m bench.scale` runs it alone (its own DynamoDB Local) and stores it under `scale` in
bench/results.json; `make bench` runs it with the others.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The paper's assumptions (infra/README.md "Scale"): 100,000 bidders, 30 % bid in the last minute,
# 1.5 placements each on average (half change once), 40 % of those placements in the last 10 s.
PAPER_BIDDERS = 100_000
PEAK_PLACEMENTS_PER_S = PAPER_BIDDERS * 0.30 * 1.5 * 0.40 / 10  # 1,800
PARTITION_WCU = 1000  # per partition (and per item) and per second, base table and GSI alike
TRANSACTIONAL_WCU = 2  # per item of at most 1 KB in TransactWriteItems
RESULTS = Path(__file__).resolve().parent / "results.json"


class WriteCounter:
    """WCU per partition key, per item, per GSI1 partition key, from the requests pynamodb sends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.partitions: Counter[str] = Counter()
        self.items: Counter[tuple[str, str]] = Counter()
        self.index: Counter[str] = Counter()
        self.indexed: dict[tuple[str, str], str] = {}  # an item's current GSI1 key
        self.transactions = 0

    def see(self, operation: str, kwargs: dict[str, Any]) -> None:
        if operation != "TransactWriteItems":
            return
        with self.lock:
            self.transactions += 1
            for entry in kwargs["TransactItems"]:
                ((action, body),) = entry.items()
                key = body.get("Key") or {k: body["Item"][k] for k in ("PK", "SK")}
                pk, sk = key["PK"]["S"], key["SK"]["S"]
                self.partitions[pk] += TRANSACTIONAL_WCU
                self.items[(pk, sk)] += TRANSACTIONAL_WCU
                gsi = body.get("Item", {}).get("GSI1PK", {}).get("S") if action == "Put" else None
                if gsi is not None:
                    old = self.indexed.get((pk, sk))
                    if old is not None:  # the rank key moved: the old entry is deleted
                        self.index[old] += 1
                    self.index[gsi] += 1
                    self.indexed[(pk, sk)] = gsi


@contextmanager
def counting() -> Iterator[WriteCounter]:
    """Wrap pynamodb's one door to DynamoDB (as bench/common.count_dynamodb_calls does)."""
    from pynamodb.connection.base import Connection

    counter = WriteCounter()
    original = Connection.dispatch

    def dispatch(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        counter.see(operation_name, operation_kwargs)
        return original(self, operation_name, operation_kwargs)

    Connection.dispatch = dispatch  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        Connection.dispatch = original  # type: ignore[method-assign]


def _spread(counts: Counter[str], prefix: str) -> dict[str, Any]:
    """How the writes of the keys starting with `prefix` spread, and what the hottest takes at the
    paper's peak (its WCU per placement here times the peak placements per second)."""
    chosen = {k: v for k, v in counts.items() if k.startswith(prefix)}
    if not chosen:
        return {"keys": 0}
    total, hottest = sum(chosen.values()), max(chosen.values())
    return {
        "keys": len(chosen),
        "wcu": total,
        "max_wcu": hottest,
        "mean_wcu": round(total / len(chosen), 1),
        "max_over_mean": round(hottest / (total / len(chosen)), 2),
        "hottest_share": round(hottest / total, 3),
    }


def _at_peak(wcu: float, placements: int) -> dict[str, Any]:
    rate = wcu / placements * PEAK_PLACEMENTS_PER_S
    return {"wcu_per_s": round(rate), "share_of_limit": round(rate / PARTITION_WCU, 2)}


def _burst(layout: str, *, shards: int, rank_sharded: bool, bidders: int, changers: float) -> dict[str, Any]:
    from chalicelib.bidding import bids, offers

    offers.SHARDS = shards
    now = datetime.now(UTC)
    offer_id = f"off_scale{layout}{int(time.time())}"
    offers.create_offer(
        offers.CreateOfferEvent.model_validate(
            {
                "offer_id": offer_id,
                "title": {"fr": "Échelle", "en": "Scale"},
                "description": {"fr": "Échelle", "en": "Scale"},
                "inventory": 100,
                "currency": "EUR",
                "min_bid": 100,
                "max_bid": 100_000,
                "increment": 100,
                "opens_at": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "closes_at": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "grant": {"kind": "option", "entry_id": "data-pass-10", "days": 30},
                # The rank index spread over the shards (offers.RANK_SHARD_FROM) or one key.
                "expected_bidders": 100_000 if rank_sharded else 1_000,
            }
        )
    )
    offer = offers.get_offer(offer_id, consistent=True)
    changing = int(bidders * changers)
    # Every bidder once, then `changing` of them again (a higher bid): 1 + changers placements each.
    placements = [(n, 1) for n in range(bidders)] + [(n, 2) for n in range(changing)]

    def place(job: tuple[int, int]) -> None:
        n, attempt = job
        customer = f"cus_scale{n:06d}"
        bid = bids.new_bid(
            offer,
            customer_id=customer,
            amount=100 * (1 + (n * 7919 + attempt * 104729) % 1000),
            method_id="pm_0000000000000000",
            challenge_id=f"chl_{n:026d}{attempt:06d}",
            line_id=None,
        )
        bids.write_placement(offer, customer, bid)

    with counting() as seen, ThreadPoolExecutor(16) as pool:
        started = time.perf_counter()
        list(pool.map(place, placements[:bidders]))  # first bids before their changes
        list(pool.map(place, placements[bidders:]))
        seconds = time.perf_counter() - started
    count = len(placements)
    base = _spread(seen.partitions, f"OFFER#{offer_id}#S#")
    index = _spread(seen.index, f"BIDS#{offer_id}")
    gates = Counter({pk: wcu for (pk, sk), wcu in seen.items.items() if sk == "GATE"})
    gate = _spread(gates, f"OFFER#{offer_id}#S#")
    per_customer = _spread(seen.partitions, "RATE#bid_placements#")
    return {
        "shards": shards,
        "rank_index_sharded": rank_sharded,
        "placements": count,
        "transactions": seen.transactions,
        "seconds": round(seconds, 2),
        "placements_per_s_here": round(count / seconds, 1),
        "bid_partitions": base,
        "rank_index_partitions": index,
        "gate_items": gate,
        "placement_counters": {k: per_customer[k] for k in ("keys", "max_wcu")},
        "at_paper_peak": {
            "hottest_bid_partition": _at_peak(base["max_wcu"], count),
            "hottest_rank_index_partition": _at_peak(index["max_wcu"], count),
            "hottest_gate_item": _at_peak(gate["max_wcu"], count),
        },
    }


def run(*, bidders: int = 2000, changers: float = 0.5) -> dict[str, Any]:
    import app
    from chalicelib.bidding import offers

    catalogue = Path(__file__).resolve().parents[1] / "infra" / "admin-events" / "admin_upsert_catalog.json"
    app.admin_upsert_catalog(json.loads(catalogue.read_text()), None)  # the grant names an entry of it
    shards = offers.SHARDS
    try:
        before = _burst("b", shards=8, rank_sharded=False, bidders=bidders, changers=changers)
        after = _burst("a", shards=16, rank_sharded=True, bidders=bidders, changers=changers)
    finally:
        offers.SHARDS = shards
    return {
        "how": (
            "threads sending the placement transaction (bids.write_placement) over DynamoDB Local; "
            "WCU counted per key from each request (2 per transactional item, 1 per GSI entry written "
            "or deleted); at_paper_peak = the hottest key's WCU per placement here x the paper's peak"
        ),
        "bidders": bidders,
        "changing_once": changers,
        "paper": {"bidders": PAPER_BIDDERS, "peak_placements_per_s": PEAK_PLACEMENTS_PER_S},
        "partition_limit_wcu_per_s": PARTITION_WCU,
        "before": before,
        "after": after,
    }


def main() -> None:
    import logging

    from bench.common import machine, start_stack

    logging.getLogger("selfcare").setLevel(logging.WARNING)
    ddb = start_stack()
    try:
        report = run()
    finally:
        ddb.terminate()
    report["machine"] = machine()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["scale"] = report
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
