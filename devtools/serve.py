"""`chalice local`, plus the API Gateway behaviours of infra/ (see devtools/gateway.py).

    python -m devtools.serve --port 8000 [--stage dev]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from chalice.cli import create_local_server
from chalice.cli.factory import CLIFactory

from devtools import gateway
from devtools.dynamodb_local import ROOT


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    gateway.install()
    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    server = create_local_server(factory, args.host, args.port, args.stage)
    server.serve_forever()


if __name__ == "__main__":
    main()
