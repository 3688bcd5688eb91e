"""The built packages, dist/<stage>/ (sam.json, deployment.zip), as `make package` writes them.

`make test` builds both stages before the suite, and these tests use them as they are. Run on its
own (pytest tests/deploy), a package that is missing or was built from other sources than the
working tree's (dist/<stage>/build.json) is built again first: the dependencies are cached in
.local/lambda-build/, so that takes seconds, not minutes, after the first time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.package import inputs_digest

ROOT = Path(__file__).resolve().parent.parent.parent
STAGES = ("dev", "prod")


def _current(out: Path, *, need_bytecode: bool) -> bool:
    try:
        build = json.loads((out / "build.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        (out / "sam.json").is_file()
        and (out / "deployment.zip").is_file()
        and build.get("inputs") == inputs_digest()
        and (build.get("bytecode") or not need_bytecode)
    )


@pytest.fixture(scope="session")
def packages() -> dict[str, Path]:
    built = {}
    for stage in STAGES:
        out = ROOT / "dist" / stage
        if not _current(out, need_bytecode=bool(os.environ.get("LAMBDA_PYTHON"))):
            subprocess.run(
                [sys.executable, "-m", "devtools.package", "--stage", stage],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        built[stage] = out
    return built


@pytest.fixture(scope="session")
def templates(packages: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {stage: json.loads((out / "sam.json").read_text()) for stage, out in packages.items()}
