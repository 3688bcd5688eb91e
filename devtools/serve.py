"""`chalice local`, plus the API Gateway behaviours of infra/ (see devtools/gateway.py), plus the
browser demo page at /demo/passkeys.html (development only: it is not a route of the app).

    python -m devtools.serve --port 8000 [--stage local]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from chalice import local
from chalice.cli.factory import CLIFactory

from devtools import gateway
from devtools.dynamodb_local import ROOT

WEB = ROOT / "devtools" / "web"


class DemoPageHandler(local.ChaliceRequestHandler):
    """Serves devtools/web/ under /demo/, so the page shares the API's origin (the WebAuthn origin)."""

    def do_GET(self) -> None:  # noqa: N802 - the name BaseHTTPRequestHandler dispatches to
        if not self.path.startswith("/demo/"):
            return super().do_GET()
        page = (WEB / self.path.removeprefix("/demo/").split("?")[0]).resolve()
        if page.parent != WEB or not page.is_file():
            self.send_error(404)
            return None
        body = page.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--stage",
        default="local",
        help="local: only the global settings of .chalice/config.json (a deployed stage refuses local stand-ins)",
    )
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    gateway.install()
    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=args.stage)
    app_obj = config.chalice_app
    local.CustomLocalChalice.__bases__ = (local.LocalChalice, app_obj.__class__)
    app_obj.__class__ = local.CustomLocalChalice  # as chalice.local.create_local_server does
    server = local.LocalDevServer(app_obj, config, args.host, args.port, handler_cls=DemoPageHandler)
    print(f"Browser demo: http://localhost:{args.port}/demo/passkeys.html")
    server.serve_forever()


if __name__ == "__main__":
    main()
