"""What `import app` does before anything else of ours (app.py imports this module first).

1. Every service module is deferred (chalicelib/common/lazy.py): the modules of the capability
   packages (account, auth, billing, ...) and the edge's parsers (confirmed, validation, admin:
   pydantic), so that a cold start runs only the code its first request needs. Issue 17 measured
   `import app` at 1.7x the floor of boto3 + Chalice + pynamodb with everything imported eagerly.
2. Every item kind is registered now, not deferred: a Query of a whole partition meets items of
   every capability, and pynamodb refuses a discriminator whose model class was never defined.

Nothing deferred may be needed for an import side effect: the SnapStart hook (observability/),
the store, the logging and configuration stay eager (they are not in a capability package).
"""

from __future__ import annotations

import os

import chalicelib
from chalicelib.common.lazy import defer
from chalicelib.store.kinds import register_item_kinds

# Packages of ours that are not capabilities: imported as usual.
EAGER_PACKAGES = frozenset({"api", "common", "observability", "store"})
# Modules of a capability that stay eager: its item kinds (registered at start-up, see 2. above) and
# its error messages' translations (plain data, read by the edge for every error it answers).
EAGER_MODULES = frozenset({"__init__", "models", "messages"})
# Modules of the edge layer that build pydantic schemas: deferred like the services they call.
DEFERRED_EDGE = ("chalicelib.api.admin", "chalicelib.api.confirmed", "chalicelib.api.validation")


def service_modules() -> list[tuple[str, str]]:
    """Every module of every capability package but EAGER_MODULES, by name and file (from the files:
    the package's tree is the list, so a new service module is deferred without being named here)."""
    root = chalicelib.__path__[0]
    found = []
    for package in sorted(os.listdir(root)):
        folder = os.path.join(root, package)
        if package in EAGER_PACKAGES or not os.path.isfile(os.path.join(folder, "__init__.py")):
            continue
        files = set(os.listdir(folder))
        for file in sorted(files):
            module, extension = os.path.splitext(file)
            # A module's source, or its bytecode alone where it ships without (ours ship with it).
            sourceless = extension == ".pyc" and f"{module}.py" not in files
            if (extension == ".py" or sourceless) and module not in EAGER_MODULES:
                found.append((f"chalicelib.{package}.{module}", os.path.join(folder, file)))
    return found


for _edge in DEFERRED_EDGE:
    defer(_edge)
for _name, _path in service_modules():
    defer(_name, _path)
register_item_kinds()
