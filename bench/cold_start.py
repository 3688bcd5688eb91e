"""Cold start as Lambda runs it: the built package (dist/dev/deployment.zip, `make package`) unzipped
into a read-only directory, imported by the runtime's Python (3.12, `LAMBDA_PYTHON`) with no
bytecode writing, the package directory as working directory and first on sys.path (/var/task).

Each case is a whole process, `python -c` from start to end (interpreter start-up included), timed
from outside, several runs interleaved (a drift of the machine touches every case alike); the
median and p90 of each, and each median as a ratio to the floor measured in the same run: the
imports no function can avoid, `import boto3, chalice.app, pynamodb.models`.

Beside them: the same `import app` from the package with its bytecode removed (what the shipped
.pyc save), the modules `import app` loads beyond the floor, ranked by `-X importtime` (what to
make lazy when the ratio grows), and the package's sizes.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devtools.package import RUNTIME_CACHE_TAG, inputs_digest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dist" / "dev"
FLOOR = "floor: import boto3, chalice.app, pynamodb.models"
IMPORT_APP = "import app"
CASES = {
    FLOOR: "import boto3, chalice.app, pynamodb.models",
    IMPORT_APP: "import app",
    # `import a.b.c` runs a deferred module (chalicelib/common/lazy.py): what a route's first
    # request runs, beyond `import app`.
    "import app + a sign-in's modules (first sign-in: webauthn, PyJWT, pydantic)": (
        "import app, chalicelib.api.validation, chalicelib.auth.schemas, chalicelib.auth.passkeys,"
        " chalicelib.auth.tokens"
    ),
    "import app + a push's modules (first push: firebase_admin.messaging)": (
        "import app, chalicelib.notifications.delivery; from firebase_admin import messaging"
    ),
    # What a SnapStart snapshot holds (its before-snapshot hook): every module run.
    "import app + every module (lazy.load_all, the SnapStart snapshot)": (
        "import app; from chalicelib.common import lazy; lazy.load_all()"
    ),
}
WITHOUT_BYTECODE = {
    "floor, no bytecode in the package": CASES[FLOOR],
    "import app, no bytecode in the package": "import app",
}
GOAL_RATIO = 1.2  # issue 17: `import app` at most 1.2x the floor


def lambda_python() -> str:
    """The runtime's Python (make exports LAMBDA_PYTHON), checked to be 3.12."""
    python = os.environ.get("LAMBDA_PYTHON")
    if not python:
        raise SystemExit(
            "LAMBDA_PYTHON is not set: the cold start is measured with Python 3.12 (make bench sets it)"
        )
    tag = subprocess.run(
        [python, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if tag != RUNTIME_CACHE_TAG:
        raise SystemExit(f"LAMBDA_PYTHON={python} is not a Python 3.12 ({tag or 'does not run'})")
    return python


def built_package() -> Path:
    """dist/dev, built again when missing, without bytecode, or from other sources than the tree's."""
    try:
        build = json.loads((PACKAGE / "build.json").read_text())
    except (OSError, ValueError):
        build = {}
    if build.get("inputs") != inputs_digest() or not build.get("bytecode"):
        subprocess.run(
            [sys.executable, "-m", "devtools.package", "--stage", "dev"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return PACKAGE / "deployment.zip"


@contextmanager
def unpacked(zip_path: Path, *, bytecode: bool) -> Iterator[Path]:
    """The package as /var/task: unzipped, read-only (so nothing could be cached there either)."""
    with tempfile.TemporaryDirectory(prefix="selfcare-cold-") as tmp:
        task = Path(tmp) / "task"
        with zipfile.ZipFile(zip_path) as bundle:
            bundle.extractall(task)
        if not bytecode:
            for cache in list(task.rglob("__pycache__")):
                shutil.rmtree(cache)
        subprocess.run(["chmod", "-R", "a-w", str(task)], check=True)
        try:
            yield task
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(task)], check=True)


def command(python: str, task: Path, code: str, *flags: str) -> list[str]:
    """`python -c`, as Lambda's bootstrap would import the handler: the task root first on sys.path
    (-S: none of this machine's site-packages to hide a module missing from the package)."""
    return [
        python,
        "-S",
        "-X",
        "frozen_modules=on",
        *flags,
        "-c",
        f"import sys; sys.path.insert(0, {str(task)!r}); {code}",
    ]


def environment() -> dict[str, str]:
    """No bytecode writing, and nothing of this shell's Python settings (PYTHONPATH...)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return {**keep, "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "eu-west-3"}


def _once(argv: list[str], task: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=task, env=environment(), check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def _summary(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1),
        "n": len(ordered),
    }


def measure(python: str, cases: dict[str, tuple[Path, str]], repeat: int) -> dict[str, dict[str, Any]]:
    """Every case `repeat` times, interleaved, after one warm-up each (the file system's cache)."""
    argv = {name: command(python, task, code) for name, (task, code) in cases.items()}
    for name, (task, _) in cases.items():
        _once(argv[name], task)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, (task, _) in cases.items():
            samples[name].append(_once(argv[name], task))
    return {name: _summary(values) for name, values in samples.items()}


def importtime_beyond_floor(python: str, task: Path, top: int = 15) -> list[dict[str, Any]]:
    """The modules `import app` loads that the floor does not, by their own import time (`-X
    importtime`, self µs): where to look when `import app` grows."""

    def loaded(code: str) -> dict[str, int]:
        out = subprocess.run(
            command(python, task, code, "-X", "importtime"),
            cwd=task,
            env=environment(),
            capture_output=True,
            text=True,
            check=True,
        )
        own: dict[str, int] = {}
        for line in out.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "self [us]" not in line:
                self_us, _, name = line.removeprefix("import time:").split("|")
                own[name.strip()] = int(self_us)
        return own

    floor = loaded(CASES[FLOOR])
    beyond = {name: us for name, us in loaded(IMPORT_APP).items() if name not in floor}
    ranked = sorted(beyond.items(), key=lambda item: -item[1])[:top]
    return [{"module": name, "self_ms": round(us / 1000, 1)} for name, us in ranked] + [
        {
            "module": f"(all {len(beyond)} modules beyond the floor)",
            "self_ms": round(sum(beyond.values()) / 1000, 1),
        }
    ]


def package_kind(name: str) -> str:
    """What a file of the zip is, for its share of the size: `native` (compiled extensions and the
    libraries they load), `bytecode` (.pyc), `source` (.py), `other` (data, metadata, licences)."""
    file = name.rsplit("/", 1)[-1]
    if file.endswith(".so") or ".so." in file:
        return "native"
    return {".pyc": "bytecode", ".py": "source"}.get(Path(file).suffix, "other")


def package_sizes(zip_path: Path) -> dict[str, Any]:
    zipped = zip_path.stat().st_size
    by_kind = dict.fromkeys(("native", "bytecode", "source", "other"), 0)
    with zipfile.ZipFile(zip_path) as bundle:
        unzipped = sum(info.file_size for info in bundle.infolist())
        files = len(bundle.infolist())
        for info in bundle.infolist():
            by_kind[package_kind(info.filename)] += info.compress_size
    return {
        "zipped_mb": round(zipped / 1e6, 1),
        "unzipped_mb": round(unzipped / 1e6, 1),
        "files": files,
        # Compressed, as the zip holds each kind; the rest of the zip is its headers and directory.
        "zipped_mb_by_kind": {kind: round(size / 1e6, 2) for kind, size in by_kind.items()}
        | {"zip_headers": round((zipped - sum(by_kind.values())) / 1e6, 2)},
    }


def source_only_package(dist: Path) -> Path:
    """dist/dev as `make package` builds it without LAMBDA_PYTHON: every module as source, nothing
    compiled. (The built package's requirements ship as bytecode alone, without their source: its
    __pycache__ removed, they would still be bytecode.)"""
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_PYTHON"}
    subprocess.run(
        [sys.executable, "-m", "devtools.package", "--stage", "dev", "--dist", str(dist)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return dist / "dev" / "deployment.zip"


def run(repeat: int = 15) -> dict[str, Any]:
    python = lambda_python()
    zip_path = built_package()
    with (
        tempfile.TemporaryDirectory(prefix="selfcare-source-only-") as bare_dist,
        unpacked(zip_path, bytecode=True) as task,
        unpacked(source_only_package(Path(bare_dist)), bytecode=True) as bare,
    ):
        cases = {name: (task, code) for name, code in CASES.items()}
        cases |= {name: (bare, code) for name, code in WITHOUT_BYTECODE.items()}
        results: dict[str, Any] = measure(python, cases, repeat)
        floor = results[FLOOR]["median_ms"]
        for name in CASES:
            results[name]["ratio_to_floor"] = round(results[name]["median_ms"] / floor, 2)
        for name in WITHOUT_BYTECODE:
            results[name]["ratio_to_floor"] = round(results[name]["median_ms"] / floor, 2)
        results["goal_import_app_ratio"] = GOAL_RATIO
        results["goal_met"] = results[IMPORT_APP]["ratio_to_floor"] <= GOAL_RATIO
        results["importtime_beyond_floor_top15"] = importtime_beyond_floor(python, task)
    results["how"] = (
        "dist/dev/deployment.zip unzipped, read-only; Python "
        + subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        + ", -S -X frozen_modules=on, PYTHONDONTWRITEBYTECODE=1, cwd and sys.path[0] the package;"
        " wall time of the whole process, runs interleaved"
    )
    return results


def package() -> dict[str, Any]:
    """The `package` block of bench/results.json: dist/dev/deployment.zip's sizes."""
    return package_sizes(built_package())


if __name__ == "__main__":
    print(
        json.dumps(
            {"cold_start": run(repeat=int(sys.argv[1]) if len(sys.argv) > 1 else 15), "package": package()},
            indent=2,
        )
    )
