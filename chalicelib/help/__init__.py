"""Self-help: help articles managed by admins, searched and read by anyone, with actions filled with
the signed-in customer's own objects, votes, and the measure of what finds nothing.

- `content` (admins): sections, drafts, immutable published versions; every change rebuilds the
  search index (`indexing`), stored as one object (`store`) named by a pointer item (`registry`).
- `searcher`: each container loads the index once and re-checks the pointer at most every
  `HELP_INDEX_REFRESH_SECONDS`; `public` answers the routes; `actions` fills deep links with the
  customer's bills and lines; `stats` counts searches, opens and votes per day without personal
  data; `report` reads them back for admins.
"""
