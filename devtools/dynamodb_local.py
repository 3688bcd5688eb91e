"""Amazon's DynamoDB Local, as shipped in the npm package amplify-dynamodb-simulator.

python -m devtools.dynamodb_local fetch            # into .local/dynamodb-local/ (once)
python -m devtools.dynamodb_local start --port N   # foreground, data in .local/dynamodb-data/
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
EMULATOR = LOCAL / "dynamodb-local"
DATA = LOCAL / "dynamodb-data"
NPM_PACKAGE = "amplify-dynamodb-simulator@2.9.30"


def fetch() -> Path:
    jar = EMULATOR / "DynamoDBLocal.jar"
    if jar.exists():
        return EMULATOR
    LOCAL.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=LOCAL) as tmp:
        subprocess.run(
            ["npm", "pack", NPM_PACKAGE, "--silent", "--pack-destination", tmp],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(tmp, members=members, filter="data")
        staged = Path(tmp) / "package" / "emulator"
        if EMULATOR.exists():
            shutil.rmtree(EMULATOR)
        shutil.move(str(staged), EMULATOR)
    return EMULATOR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port: int, *, in_memory: bool) -> list[str]:
    storage = ["-inMemory"] if in_memory else ["-dbPath", str(DATA)]
    return [
        "java",
        "-Djava.library.path=DynamoDBLocal_lib",
        "-jar",
        "DynamoDBLocal.jar",
        "-port",
        str(port),
        *storage,
    ]


def wait_ready(endpoint: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers (400 to a bare GET): it is up
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"DynamoDB Local did not start at {endpoint}") from None
            time.sleep(0.2)


def start(port: int, *, in_memory: bool) -> subprocess.Popen[bytes]:
    """Start in the background; the caller stops it (`proc.terminate()`)."""
    fetch()
    if not in_memory:
        DATA.mkdir(parents=True, exist_ok=True)
    with open(LOCAL / f"dynamodb-local-{port}.log", "wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen(
            command(port, in_memory=in_memory), cwd=EMULATOR, stdout=log, stderr=subprocess.STDOUT
        )
    wait_ready(f"http://127.0.0.1:{port}")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["fetch", "start"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("DYNAMODB_PORT", 8001)))
    parser.add_argument("--in-memory", action="store_true")
    args = parser.parse_args()
    fetch()
    if args.action == "start":
        DATA.mkdir(parents=True, exist_ok=True)
        os.chdir(EMULATOR)
        os.execvp("java", command(args.port, in_memory=args.in_memory))  # noqa: S606 - our fixed command


if __name__ == "__main__":
    main()
