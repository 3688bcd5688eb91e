"""The API's cold start does not pay for modules only some functions need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFERRED = (
    "webauthn",
    "firebase_admin",
    "email_validator",
    "stripe",
    "chalicelib.customers.admin",
    "chalicelib.auth.ceremonies",
    "tantivy",
    "chalicelib.help.indexing",
)


def test_import_app_leaves_heavy_modules_for_the_functions_that_need_them():
    code = f"import sys, app; print(','.join(m for m in {DEFERRED!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""
