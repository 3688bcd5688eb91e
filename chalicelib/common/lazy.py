"""Modules executed at their first use instead of at import.

Why: Lambda runs `import app` on every cold start, and every function of ours imports the same
app.py, with its hundred routes and their services (pydantic schemas, JWT, WebAuthn, Stripe...).
Deferred, a module costs a file lookup at import; its code runs when something first reads one
of its attributes (`views.line_and_cycles(...)`, `from chalicelib.account.views import x`), so a
cold start pays only for what its first request uses.

`from package import module` binds a deferred module without running it; `import a.b.c` and
`from a.b.c import name` run it (the import system reads the module's `__spec__` to check it is
initialised). A deferred module must not be needed for an import side effect (see
chalicelib/startup.py).

Not importlib's LazyLoader: before Python 3.12.3 (Lambda's runtime moves within 3.12, and the tests
run 3.11) it marks a module loaded *before* running it, so a second thread reading an attribute
meanwhile gets an AttributeError (cpython gh-114763). Here one re-entrant lock covers every first run: another
thread waits for the module to be complete, and the running thread itself (a module reading its
own attributes, an import cycle) reads what is already defined, as with an ordinary import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

__all__ = ["DEFERRED", "DeferredModule", "defer", "load_all"]

DEFERRED: list[str] = []  # every module deferred so far, by name (`load_all`)
_FIRST_RUN = threading.RLock()  # one lock for all: two threads' cycles cannot deadlock
_RUNNING: set[str] = set()  # modules whose code is running now (in the thread holding the lock)


class DeferredModule(types.ModuleType):
    """A module whose code has not run yet: the first attribute read runs it, then the module
    becomes an ordinary one (its class is switched once it is complete)."""

    def __getattribute__(self, attr: str) -> Any:
        with _FIRST_RUN:
            if object.__getattribute__(self, "__class__") is DeferredModule:
                spec = object.__getattribute__(self, "__spec__")
                if spec.name in _RUNNING:  # read by its own code, or through a cycle: as it is
                    return object.__getattribute__(self, attr)
                _RUNNING.add(spec.name)
                try:
                    spec.loader.exec_module(self)
                finally:
                    _RUNNING.discard(spec.name)
                object.__setattr__(self, "__class__", types.ModuleType)  # complete: ordinary from now
        return getattr(self, attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        # Run first: the module's code would otherwise overwrite the value when it runs.
        self.__getattribute__("__dict__")
        object.__setattr__(self, attr, value)

    def __delattr__(self, attr: str) -> None:
        self.__getattribute__("__dict__")
        object.__delattr__(self, attr)


def defer(name: str, path: str | None = None) -> None:
    """Register the module `name` as deferred in sys.modules (and on its package), unless it is
    already imported. Its package is imported now (packages' `__init__` files stay light). `path`,
    its file when the caller knows it, saves the search of the package's path (a tenth of a
    millisecond per module, at every cold start)."""
    if name in sys.modules:
        return
    package, _, child = name.rpartition(".")
    if package:
        importlib.import_module(package)
    if path is None:
        spec = importlib.util.find_spec(name)
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    module = importlib.util.module_from_spec(spec)  # its attributes (__spec__, __file__...), no code run
    module.__class__ = DeferredModule
    sys.modules[name] = module
    if package:
        setattr(sys.modules[package], child, module)
    DEFERRED.append(name)


def load_all() -> None:
    """Run every deferred module now (what a SnapStart snapshot should hold: see
    observability/snapstart.py). `import_module` of a module in sys.modules reads its `__spec__`,
    which runs a deferred one; a module already run is only looked up."""
    for name in DEFERRED:
        importlib.import_module(name)
