"""Lint the mobile contract with the tools the mobile teams use, and fail on any error or warning.

    python -m devtools.contract_lint [--verbose]

1. Redocly CLI, `recommended` ruleset (mobile_contract/tooling/.redocly.yaml).
2. Spectral, `spectral:oas` (mobile_contract/tooling/.spectral.yaml).
3. A generated client: openapi-typescript's types of openapi.yaml, with tooling/contract-check.ts
   beside them, type-checked by `tsc --noEmit --strict`.
4. The push payload schemas (mobile_contract/push/*.schema.json) against their JSON Schema
   meta-schema, every `$ref` between them resolved.

The npm tools are the exact versions pinned in mobile_contract/tooling/package.json and its
package-lock.json, installed with `npm ci` into mobile_contract/tooling/node_modules (ignored by
git) only when the lock changed since the last install (a stamp in node_modules holds its hash).
Prints one line per tool; exits 1 if any reported an error or a warning (the details follow).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "mobile_contract"
SPEC = CONTRACT / "openapi.yaml"
PUSH = CONTRACT / "push"
TOOLING = CONTRACT / "tooling"
MODULES = TOOLING / "node_modules"
BIN = MODULES / ".bin"
STAMP = MODULES / ".contract-lint-lock.sha256"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


@dataclass
class Result:
    tool: str
    errors: int
    warnings: int
    seconds: float
    details: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.warnings == 0

    def line(self) -> str:
        verdict = "ok    " if self.ok else "FAILED"
        extra = f"; {self.note}" if self.note else ""
        return (
            f"{verdict} {self.tool:<34} {self.errors} errors, {self.warnings} warnings"
            f"{extra} ({self.seconds:.1f} s)"
        )


def _run(command: list[str], *, cwd: Path = TOOLING) -> subprocess.CompletedProcess[str]:
    # NO_COLOR / FORCE_COLOR=0: plain text to parse and to print.
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def lock_hash() -> str:
    return hashlib.sha256((TOOLING / "package-lock.json").read_bytes()).hexdigest()


def ensure_tools() -> str:
    """`npm ci` from the lock unless node_modules was installed from this very lock; what was done."""
    wanted = lock_hash()
    if STAMP.is_file() and STAMP.read_text().strip() == wanted:
        return "cached"
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(
            "contract_lint: npm is not installed (Debian: `sudo apt-get install npm`, as `make system-deps` does)."
        )
    # --ignore-scripts: none of these tools needs an install script, and none gets to run one.
    done = _run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
    if done.returncode != 0:
        sys.exit(f"contract_lint: npm ci failed:\n{done.stdout}{done.stderr}")
    STAMP.write_text(wanted + "\n")
    return "installed (npm ci)"


def redocly() -> Result:
    started = time.monotonic()
    done = _run([str(BIN / "redocly"), "lint", "--config", ".redocly.yaml", "--format", "json", str(SPEC)])
    try:
        report = json.loads(done.stdout)
        totals = report["totals"]
    except (ValueError, KeyError):
        return Result(
            "redocly lint (recommended)", 1, 0, time.monotonic() - started, done.stdout + done.stderr
        )
    details = "\n".join(
        f"{p['severity']}: {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
        for p in report.get("problems", [])
    )
    return Result(
        "redocly lint (recommended)",
        int(totals["errors"]),
        int(totals["warnings"]),
        time.monotonic() - started,
        details,
        note=f"{totals.get('ignored', 0)} ignored" if totals.get("ignored") else "",
    )


# Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
_SEVERITY = {0: "error", 1: "warning", 2: "info", 3: "hint"}


def spectral() -> Result:
    started = time.monotonic()
    done = _run(
        [
            str(BIN / "spectral"),
            "lint",
            "--ruleset",
            ".spectral.yaml",
            "--format",
            "json",
            "--quiet",
            str(SPEC),
        ]
    )
    # --quiet leaves only the JSON report; the exit status is 1 whenever there are errors.
    try:
        results = json.loads(done.stdout or "[]")
    except ValueError:
        return Result(
            "spectral lint (spectral:oas)", 1, 0, time.monotonic() - started, done.stdout + done.stderr
        )
    errors = sum(1 for r in results if r["severity"] == 0)
    # Informations and hints count as warnings: the bar is a clean report.
    warnings = len(results) - errors
    details = "\n".join(
        f"{_SEVERITY.get(r['severity'], r['severity'])}: {r['code']}: {r['message']} at "
        f"{'/'.join(map(str, r['path']))} (line {r['range']['start']['line'] + 1})"
        for r in results
    )
    return Result("spectral lint (spectral:oas)", errors, warnings, time.monotonic() - started, details)


def typescript_client() -> Result:
    """openapi-typescript's output, checked by tsc --strict with contract-check.ts beside it."""
    started = time.monotonic()
    tool = "openapi-typescript + tsc --strict"
    with tempfile.TemporaryDirectory(prefix="contract-client-") as scratch:
        out = Path(scratch)
        generated = _run([str(BIN / "openapi-typescript"), str(SPEC), "--output", str(out / "schema.d.ts")])
        # Besides its two progress lines (✨ the version, 🚀 input → output) it prints only what is
        # wrong (⚠️ warnings, ✘ errors): any other line counts as a warning.
        problems = [
            line
            for line in (generated.stdout + generated.stderr).splitlines()
            if line.strip() and not line.lstrip().startswith(("✨", "🚀"))
        ]
        if generated.returncode != 0 or not (out / "schema.d.ts").is_file():
            return Result(tool, 1, 0, time.monotonic() - started, generated.stdout + generated.stderr)
        if problems:
            return Result(tool, 0, len(problems), time.monotonic() - started, "\n".join(problems))
        shutil.copy(TOOLING / "contract-check.ts", out / "contract-check.ts")
        checked = _run(
            [
                str(BIN / "tsc"),
                "--noEmit",
                "--strict",
                str(out / "schema.d.ts"),
                str(out / "contract-check.ts"),
            ]
        )
        errors = [line for line in checked.stdout.splitlines() if "error TS" in line]
        if checked.returncode != 0 and not errors:
            errors = [checked.stdout + checked.stderr]
        return Result(tool, len(errors), 0, time.monotonic() - started, "\n".join(errors))


def push_schemas() -> Result:
    """Every push schema is a valid JSON Schema 2020-12 (checked against its meta-schema), with its
    own `$id`, and every `$ref` it holds resolves among them."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.exceptions import Unresolvable

    started = time.monotonic()
    problems: list[str] = []
    schemas = {path.name: json.loads(path.read_text()) for path in sorted(PUSH.glob("*.schema.json"))}
    ids = [schema.get("$id") for schema in schemas.values()]
    if len(set(ids)) != len(ids) or None in ids:
        problems.append("every push schema needs its own $id")
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values() if "$id" in schema
    )
    for name, schema in schemas.items():
        try:
            # The app's side validates with 2020-12 (tests/support/push_contract.py): so must they say.
            if schema.get("$schema") != DRAFT:
                problems.append(f"{name}: $schema must be {DRAFT}")
                continue
            jsonschema.Draft202012Validator.check_schema(schema)
            resolver = registry.resolver(base_uri=schema.get("$id", ""))
            for ref in _refs(schema):
                resolver.lookup(ref)
        except jsonschema.SchemaError as error:
            problems.append(f"{name}: {error.message} at {'/'.join(map(str, error.path))}")
        except Unresolvable as error:
            problems.append(f"{name}: unresolvable $ref {error}")
    if not schemas:
        problems.append(f"no push schema in {PUSH}")
    return Result(
        f"push schemas ({len(schemas)}, meta-schema)",
        len(problems),
        0,
        time.monotonic() - started,
        "\n".join(problems),
    )


def _refs(node: object) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                found.append(item["$ref"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


CHECKS: tuple[Callable[[], Result], ...] = (redocly, spectral, typescript_client, push_schemas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", action="store_true", help="print every tool's findings, even when clean")
    args = parser.parse_args(argv)
    started = time.monotonic()
    installed = ensure_tools()
    print(
        f"tools  {installed} from mobile_contract/tooling/package-lock.json ({time.monotonic() - started:.1f} s)"
    )
    results = [check() for check in CHECKS]
    for result in results:
        print(result.line())
    for result in results:
        if result.details and (args.verbose or not result.ok):
            print(f"\n--- {result.tool}\n{result.details}")
    failed = [r for r in results if not r.ok]
    print(f"contract lint: {'FAILED' if failed else 'clean'} in {time.monotonic() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
