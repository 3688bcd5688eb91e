"""Cold start: the import of `app` in a fresh interpreter, against `import boto3` alone, and what a
sign-in function additionally pays for webauthn (imported on first use, not by `import app`)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "import boto3": "import boto3",
    "import app": "import app",
    "import app + webauthn (first sign-in)": "import app; import chalicelib.auth.ceremonies",
    "import app + firebase_admin.messaging (first push)": "import app; import firebase_admin; from firebase_admin import messaging",
}


def _once(code: str) -> float:
    script = f"import time; t=time.perf_counter(); {code}; print((time.perf_counter()-t)*1000)"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=os.environ, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def run(repeat: int = 15) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, code in CASES.items():
        _once(code)  # warm the file system cache
        samples = [_once(code) for _ in range(repeat)]
        results[name] = {"median_ms": round(statistics.median(samples), 1), "n": repeat}
    base = results["import boto3"]["median_ms"]
    results["app_over_boto3_ratio"] = round(results["import app"]["median_ms"] / base, 2) if base else None
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, app; print(sorted(m for m in ('webauthn', 'firebase_admin') if m in sys.modules))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ,
        check=True,
    )
    results["heavy_modules_loaded_by_import_app"] = loaded.stdout.strip()
    return results
