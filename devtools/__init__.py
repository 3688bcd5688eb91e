"""Local development and test tooling. Never deployed (Chalice ships only app.py and chalicelib/)."""
