"""Buying options, top-ups and bolt-ons in the app, and removing a recurring option: the line's
catalogue, a preview bound to one price, then a passkey-confirmed change (service.py)."""
