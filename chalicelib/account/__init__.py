"""The customer's account: catalogue, lines, usage (ingestion and views), plan changes.

- `catalog`: plans and options, editable by admins.
- `lines`: a customer's lines (admin side) and the line view.
- `cycles`: billing-cycle arithmetic and the usage figures (used, remaining, projections).
- `ingestion`: usage records from the mediation system (SQS) → exactly-once daily and cycle totals,
  and the threshold / pace alerts.
- `profile`: `GET /me` (one Query) and `PATCH /me`.
- `plan_change`: a preview that shows what is gained and lost, the request, and its application.
"""
