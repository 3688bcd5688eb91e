"""Make Chalice's local gateway answer like our API Gateway does in AWS.

In AWS, API Gateway itself answers a denied token, a missing token and an unknown route, with the
gateway responses defined in infra/resources.json. Chalice's local gateway has its own bodies for
these; this mirrors ours from that same file, so the app, the tests and `chalice local` see one
contract. It also switches off Nagle's algorithm in the local server: with delayed ACKs it stalls
each keep-alive request by about 40 ms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalice import local

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "resources.json"


def _response_type(error: local.LocalGatewayException) -> str:
    """Which API Gateway response this chalice-local error stands for."""
    kind = str(error.headers.get("x-amzn-ErrorType"))
    if isinstance(error, local.InvalidAuthorizerError):
        return "AUTHORIZER_CONFIGURATION_ERROR"  # the authorizer function failed or answered nothing
    if isinstance(error, local.NotAuthorizedError):
        return "UNAUTHORIZED"  # no Authorization header on a protected route
    if isinstance(error, local.ForbiddenError):
        # chalice local raises ForbiddenError/UnauthorizedException for an unknown route (API
        # Gateway's "Missing Authentication Token") and AccessDeniedException for a denied token.
        return "ACCESS_DENIED" if kind == "AccessDeniedException" else "MISSING_AUTHENTICATION_TOKEN"
    return "DEFAULT_5XX" if error.CODE >= 500 else "DEFAULT_4XX"


def gateway_responses() -> dict[str, dict[str, Any]]:
    resources = json.loads(TEMPLATE.read_text())["Resources"]
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::ApiGateway::GatewayResponse"
    }


def _rewrite(error: local.LocalGatewayException) -> local.LocalGatewayException:
    spec = gateway_responses()[_response_type(error)]
    # Never echo the original body: chalice local puts the Authorization header in some of them.
    message = "Bad request."
    body = spec["ResponseTemplates"]["application/json"].replace(
        "$context.error.messageString", json.dumps(message)
    )
    headers = {"Content-Type": "application/json"}
    for name, value in spec.get("ResponseParameters", {}).items():
        headers[name.rsplit(".", 1)[-1]] = value.strip("'")
    rewritten = type(error)(headers, body.encode())
    rewritten.CODE = int(spec.get("StatusCode", error.CODE))
    return rewritten


def install() -> None:
    if getattr(local.LocalGateway, "_selfcare_installed", False):
        return
    original = local.LocalGateway.handle_request

    def handle_request(self: local.LocalGateway, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except local.LocalGatewayException as error:
            raise _rewrite(error) from None
        except Exception:  # noqa: BLE001 - only the authorizer raises out of the gateway (a route's error is the app's 500)
            failed = local.InvalidAuthorizerError(
                {"x-amzn-ErrorType": "AuthorizerConfigurationException"}, b""
            )
            raise _rewrite(failed) from None

    local.LocalGateway.handle_request = handle_request  # type: ignore[method-assign]
    local.LocalGateway._selfcare_installed = True  # type: ignore[attr-defined]
    local.ChaliceRequestHandler.disable_nagle_algorithm = True

    # http.server answers methods it has no do_X for with its own HTML 501; API Gateway answers
    # them like any unknown route. Route them through the gateway (which finds no route).
    def any_method(self: Any, name: str) -> Any:
        if name.startswith("do_"):
            return self.do_GET  # chalice's one handler for every method it knows (do_POST, do_PUT... alike)
        raise AttributeError(name)

    local.ChaliceRequestHandler.__getattr__ = any_method  # type: ignore[attr-defined]
