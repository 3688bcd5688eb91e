"""The package's bytecode is what the runtime uses: a cold start, and the first sign-in and push,
compile no module from source (`/var/task` is read-only: Lambda would compile them again at every
cold start, about 0.7 s). Run with the runtime's Python (3.12) on the unpacked, read-only zip, with
`-v`: the import system says, for each module, whether its code object came from a .pyc or from
the .py. Our code's bytecode is in `__pycache__` beside its source; a requirement's module ships
as its bytecode alone (`<module>.pyc`, devtools/package.py's sourceless()), which Python loads
without looking for a source.

Mutation: make devtools/package.py's compile_bytecode a no-op (or drop `__pycache__` from the zip)
→ every module is compiled from source and this fails.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.deploy.conftest import STAGES
from tests.deploy.test_lambda_package import lambda_python

FIRST_USE = "import app, chalicelib.auth.ceremonies; from firebase_admin import messaging"


@pytest.mark.parametrize("stage", STAGES)
def test_a_cold_start_sign_in_and_push_compile_nothing_from_source(
    packages: dict[str, Path], stage: str
) -> None:
    python = lambda_python()
    assert json.loads((packages[stage] / "build.json").read_text())["bytecode"], "built without LAMBDA_PYTHON"
    with tempfile.TemporaryDirectory(prefix=f"selfcare-bytecode-{stage}-") as tmp:
        task = Path(tmp) / "task"
        with zipfile.ZipFile(packages[stage] / "deployment.zip") as bundle:
            bundle.extractall(task)
        subprocess.run(["chmod", "-R", "a-w", str(task)], check=True)
        try:
            found = subprocess.run(
                [
                    python,
                    "-I",
                    "-S",
                    "-B",
                    "-v",
                    "-c",
                    f"import sys; sys.path.insert(0, {str(task)!r}); {FIRST_USE}",
                ],
                cwd=task,
                env={"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "eu-west-3", "HOME": tmp},
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(task)], check=True)
    assert found.returncode == 0, found.stderr[-3000:]
    # "# code object from '<...>.pyc'" (bytecode) or "# code object from <...>.py" (compiled now)
    loaded = [m.strip("'") for m in re.findall(r"^# code object from (.+)$", found.stderr, re.MULTILINE)]
    in_package = [path for path in loaded if path.startswith(str(task))]
    compiled_now = [path for path in in_package if path.endswith(".py")]
    assert not compiled_now, f"{len(compiled_now)} modules compiled from source: {compiled_now[:10]}"
    used = {Path(path).relative_to(task).as_posix() for path in in_package}
    assert {
        "__pycache__/app.cpython-312.pyc",
        "chalicelib/auth/__pycache__/ceremonies.cpython-312.pyc",
        "webauthn/__init__.pyc",
        "firebase_admin/messaging.pyc",
    } <= used
    assert len(used) > 300, len(used)  # not vacuous: the whole import graph came from bytecode


@pytest.mark.parametrize("stage", STAGES)
def test_every_shipped_pyc_is_the_runtimes_unchecked_bytecode(packages: dict[str, Path], stage: str) -> None:
    """Each .pyc in the zip starts with the runtime's magic number (Python 3.12's bytecode: any other
    is refused, and a requirement's module that has no source beside its .pyc would not import at
    all) and the unchecked-hash flag (never compared with a source or a file time). Mutation: compile
    with the virtualenv's Python 3.11 (devtools/package.py's compile_bytecode) → wrong magic; drop
    `--invalidation-mode unchecked-hash` → timestamp flags."""
    found = subprocess.run(
        [lambda_python(), "-I", "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    )
    magic = bytes.fromhex(found.stdout.strip())
    with zipfile.ZipFile(packages[stage] / "deployment.zip") as bundle:
        headers = {n: bundle.read(n)[:8] for n in bundle.namelist() if n.endswith(".pyc")}
    assert len(headers) > 500, len(headers)
    wrong = {
        n: h.hex() for n, h in headers.items() if h[:4] != magic or struct.unpack("<I", h[4:])[0] != 0b01
    }
    assert not wrong, (
        f"{len(wrong)} .pyc not Python 3.12's unchecked-hash bytecode: {dict(list(wrong.items())[:5])}"
    )
