"""Leaving, and one's own data: the customer's data export and marketing consent."""
