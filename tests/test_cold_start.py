"""`import app` (every cold start) runs only the wiring; each service runs at its first use.

chalicelib/startup.py defers every module of the capability packages (and the edge's pydantic
parsers): `import app` must then load neither pydantic, PyJWT, WebAuthn, Firebase, Stripe nor
tantivy, and run none of those modules; what the first request of a route needs is run then, and
`lazy.load_all` (SnapStart's before-snapshot hook) runs every one of them.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chalicelib.common import lazy

ROOT = Path(__file__).resolve().parent.parent
# (cryptography is not here: botocore's urllib3 probes for it, in the floor of every function.)
THIRD_PARTY = (
    "pydantic",
    "jwt",
    "webauthn",
    "firebase_admin",
    "email_validator",
    "stripe",
    "tantivy",
    "babel",
)
# What `import app` may run of ours beyond the packages' __init__ files and the top-level modules
# (startup, config, errors): the wiring, the edge's light modules, common helpers, logging, the
# store, and every capability's models (each item kind must be registered) and messages.
RUN_AT_IMPORT = ("chalicelib.api.", "chalicelib.common.", "chalicelib.observability.", "chalicelib.store.")


def _in_fresh_process(code: str) -> dict[str, list[str]]:
    script = (
        "import json, sys, types\n"
        f"{code}\n"
        "ran = sorted(n for n, m in sys.modules.items() if (n == 'app' or n.startswith('chalicelib'))"
        " and type(m) is types.ModuleType)\n"  # a deferred module is a lazy.DeferredModule until it runs
        "print(json.dumps({'ran': ran, 'loaded': sorted(sys.modules)}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _allowed(name: str) -> bool:
    return (
        name == "app"
        or name.count(".") <= 1
        or name.endswith((".models", ".messages"))
        or name.startswith(RUN_AT_IMPORT)
    )


def test_import_app_runs_no_service_and_loads_no_heavy_library() -> None:
    """Mutation: drop `from chalicelib import startup` from app.py, or a `from <service> import
    name` in an edge module (it runs the service at import) → fails."""
    result = _in_fresh_process("import app")
    assert not [m for m in THIRD_PARTY if m in result["loaded"]]
    ran_beyond = [n for n in result["ran"] if not _allowed(n)]
    assert ran_beyond == [], ran_beyond
    assert "chalicelib.billing.payments" in result["loaded"]  # deferred: there, not run
    assert "chalicelib.billing.payments" not in result["ran"]


def test_the_edge_parsers_are_deferred_too() -> None:
    """confirmed.py, validation.py and admin.py build pydantic models: deferred like the services.
    Mutation: remove one from DEFERRED_EDGE and import it by name in app.py → fails."""
    ran = _in_fresh_process("import app")["ran"]
    assert not {"chalicelib.api.confirmed", "chalicelib.api.validation", "chalicelib.api.admin"} & set(ran)


def test_load_all_runs_every_deferred_module() -> None:
    """What SnapStart's before-snapshot hook does: afterwards no module of ours is left unrun (and
    each one imports under its deferred name). Mutation: `load_all` skipping a name, or a service
    module that fails when run → fails."""
    result = _in_fresh_process(
        "import app\nfrom chalicelib.common import lazy\nlazy.load_all()\n"
        "assert len(lazy.DEFERRED) > 80, lazy.DEFERRED"
    )
    unrun = [n for n in result["loaded"] if n.startswith("chalicelib") and n not in result["ran"]]
    assert unrun == []
    assert {"pydantic", "jwt", "webauthn"} <= set(result["loaded"])


def test_a_first_request_runs_what_its_route_needs() -> None:
    """Calling a route's service runs its module (and what it imports) on the spot: the deferral
    is invisible to the caller. Mutation: `defer` not arming the load (exec_module skipped) → the
    module stays empty and the call fails."""
    result = _in_fresh_process(
        "import app\nfrom chalicelib.api import validation\n"
        "assert validation.path_id('abc', pattern='^[a-z]+$', what='test') == 'abc'"
    )
    assert "chalicelib.api.validation" in result["ran"]
    assert "pydantic" in result["loaded"]


@pytest.fixture
def deferred(tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """`deferred(source)`: a module of that source in a package of its own, deferred and bound as
    `from package import module` binds it (not run); forgotten afterwards."""
    package = tmp_path / "deferred_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))

    def make(source: str) -> Any:
        (package / "probe.py").write_text(source)
        lazy.defer("deferred_probe.probe")
        module = importlib.import_module("deferred_probe").probe
        assert type(module) is lazy.DeferredModule  # bound, not run
        return module

    yield make
    sys.path.remove(str(tmp_path))
    for name in ("deferred_probe.probe", "deferred_probe"):
        sys.modules.pop(name, None)
    if "deferred_probe.probe" in lazy.DEFERRED:
        lazy.DEFERRED.remove("deferred_probe.probe")


def test_threads_reading_a_module_while_it_first_runs_wait_for_it(deferred: Callable[[str], Any]) -> None:
    """Eight threads read an attribute of a deferred module whose code takes 0.2 s: each gets it,
    none sees the module half-run. Mutation: switch the module's class to ModuleType before running
    its code (what importlib's LazyLoader did before Python 3.12.3) → AttributeError → fails."""
    slow = deferred("import time\nSTARTED = True\ntime.sleep(0.2)\nVALUE = 42\n")
    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(lambda _: slow.VALUE, range(8)))
    assert values == [42] * 8


def test_a_value_set_on_a_deferred_module_before_its_first_read_is_kept(
    deferred: Callable[[str], Any],
) -> None:
    """`offers.SHARDS = 16` before anything read `offers`: the module runs first, then takes the
    value (run after, its own `SHARDS = 8` would silently win). Mutation: drop
    DeferredModule.__setattr__ → 8 → fails."""
    tuned = deferred("SHARDS = 8\n")
    tuned.SHARDS = 16
    assert tuned.SHARDS == 16
    del tuned.SHARDS
    assert not hasattr(tuned, "SHARDS")
