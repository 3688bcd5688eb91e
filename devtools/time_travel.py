"""Time passing, for the tests and benchmarks of bidding: an offer whose closing time (and its
gates') becomes now, as the clock would make it, without waiting days."""

from __future__ import annotations


def close_now(offer_id: str) -> None:
    from chalicelib.bidding.offers import shard_pks
    from chalicelib.common.clock import iso_ms, now
    from chalicelib.store.models import Offer, OfferGate

    moment = iso_ms(now())
    offer = Offer.get(f"OFFER#{offer_id}", "OFFER", consistent_read=True)
    offer.update(actions=[Offer.closes_at.set(moment), Offer.GSI1SK.set(f"{moment}#{offer_id}")])
    for pk in shard_pks(offer_id, int(offer.shards)):
        OfferGate(pk, "GATE").update(actions=[OfferGate.closes_at.set(moment)])
