"""Upgrade bidding (sealed-bid auctions for limited upgrades).

- `clearing`: the published rule that picks and charges the winners, as pure, resumable steps.
"""
