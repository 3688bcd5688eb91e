"""The HTTP edge: the only part of chalicelib that knows about Chalice and status codes.

- `responses`: domain errors → JSON error responses (the one mapping), success helpers, and the
  middleware that puts Chalice's own errors (405, 415, 500) in the same JSON shape.
- `validation`: request bodies and path ids, checked against allow-lists (pydantic, extra=forbid).
"""
