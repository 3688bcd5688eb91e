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

And what the snapshot should hold: `import app` defers the service modules (chalicelib/startup.py)
so that functions without SnapStart start fast; a snapshot taken then would leave every restored
container to import them at its first request. `before_snapshot` runs them all first (what AWS
calls priming), so a restored container starts with every module and schema already built.

The Lambda runtime provides `snapshot_restore_py`; it is absent elsewhere, where nothing is
registered and the hooks are only called by the tests.
"""

from __future__ import annotations

import random
from types import ModuleType

# Modules, not their functions: these are deferred, and `from module import name` would run them
# at `import app` (see chalicelib/common/lazy.py).
from chalicelib.auth import keys
from chalicelib.billing import gateway
from chalicelib.common import lazy
from chalicelib.help import store as help_store
from chalicelib.store import objects


def before_snapshot() -> None:
    """Run every deferred module, so the snapshot holds them (see the module's docstring)."""
    lazy.load_all()


def after_restore() -> None:
    """Make this container its own again (see the module's docstring)."""
    random.seed()  # from os.urandom: each restored container draws its own numbers
    keys.reload()
    help_store.index_store.cache_clear()
    objects.reset()  # the cached S3 clients (cases' documents, data exports)
    gateway.install_gateway(None)  # the Stripe client and its HTTP session are built again on first use


def register(runtime: ModuleType | None = None) -> bool:
    """Register both hooks with the runtime's `snapshot_restore_py` (imported when `runtime` is not
    given). False where there is no such module (local runs, the tests)."""
    if runtime is None:
        try:
            import snapshot_restore_py  # type: ignore[import-not-found]
        except ImportError:
            return False
        runtime = snapshot_restore_py
    runtime.register_before_snapshot(before_snapshot)
    runtime.register_after_restore(after_restore)
    return True


REGISTERED = register()
