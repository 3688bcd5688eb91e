"""What must be redone when Lambda SnapStart resumes a function from its snapshot.

SnapStart (the API handler and the authorizer, see devtools/package.py) snapshots the process after
`import app` and starts every later container from that same memory. Whatever the snapshot holds is
then shared by every container restored from it, and may be stale:

- `random`'s state: every restored container would draw the same numbers. `secrets`, `uuid4` and
  `os.urandom` read the kernel at each call and need nothing (all our tokens, challenges and ids
  come from them); `random` is re-seeded anyway, for any library that uses it (retry jitter).
- keys: the JWT key ring is read again on next use (auth/keys.py `reload`), so a rotation done
  while the snapshot slept is seen at once.
- connections: a pooled connection in the snapshot was opened by another container, long ago;
  the cached clients (case documents' and the help index's S3 clients, the payment gateway) are
  dropped and re-created lazily. DynamoDB's (pynamodb's) needs nothing: `import app` makes no call
  (tests/deploy checks the cold start touches no table), so the snapshot holds no connection.

The Lambda runtime provides `snapshot_restore_py`; it is absent elsewhere, where nothing is
registered and `after_restore` is only called by the tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from chalicelib.auth import keys
from chalicelib.billing.gateway import install_gateway
from chalicelib.help.store import index_store
from chalicelib.store import objects


def after_restore() -> None:
    """Make this container its own again (see the module's docstring)."""
    random.seed()  # from os.urandom: each restored container draws its own numbers
    keys.reload()
    index_store.cache_clear()
    objects.reset()  # the cached S3 clients (cases' documents, data exports)
    install_gateway(None)  # the Stripe client and its HTTP session are built again on first use


def register(hook: Callable[[Callable[[], None]], object] | None = None) -> bool:
    """Register `after_restore` with the runtime's `register_after_restore` (from
    `snapshot_restore_py` when `hook` is not given). False where there is no such module (local
    runs, the tests)."""
    if hook is None:
        try:
            from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
        except ImportError:
            return False
        hook = register_after_restore
    hook(after_restore)
    return True


REGISTERED = register()
