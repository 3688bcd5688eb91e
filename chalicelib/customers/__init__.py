"""Customers: the admin side (create a customer, issue activation codes)."""
