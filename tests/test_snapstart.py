"""SnapStart: the after-restore hook does its job when called (no Lambda runtime needed), is
registered with the runtime's module when there is one, and the template snapshots the API's
functions only, served through their alias."""

from __future__ import annotations

import copy
import json
import random
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from chalicelib.auth import keys
from chalicelib.billing.gateway import get_gateway, install_gateway
from chalicelib.help.store import index_store
from chalicelib.observability import snapstart
from chalicelib.store import objects
from devtools.package import adjust, inputs_digest

ROOT = Path(__file__).resolve().parent.parent


def test_each_restored_container_draws_its_own_random_numbers() -> None:
    """Two containers restored from one snapshot start from the same `random` state. Mutation:
    drop `random.seed()` from after_restore → both draw the same number."""
    snapshot = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot)
        snapstart.after_restore()
        draws.append(random.random())
    assert draws[0] != draws[1]


def test_keys_and_cached_clients_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key rings are read again, and the S3 clients and the payment gateway are built again,
    at next use. Mutations: drop keys.reload() → no second read of the rings; drop a cache_clear or
    install_gateway(None) → the same object comes back."""
    reads: list[str] = []
    for ring, what in ((keys._ring, "signing"), (keys._public, "verification")):

        def counted(load: Any = ring._load, what: str = what) -> Any:
            reads.append(what)
            return load()

        monkeypatch.setattr(ring, "_load", counted)
    keys.reload()
    keys.key_ring(), keys.public_keys()  # loaded, as by a first request (before the snapshot)
    store = index_store()
    client = objects.s3_client(None, "eu-west-3")
    previous = install_gateway(None)
    try:
        gateway = get_gateway()
        snapstart.after_restore()
        keys.key_ring(), keys.public_keys()
        assert reads == ["signing", "verification"] * 2
        assert index_store() is not store
        assert objects.s3_client(None, "eu-west-3") is not client
        assert get_gateway() is not gateway
    finally:
        install_gateway(previous)


def test_the_hooks_are_registered_with_the_runtimes_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """In Lambda, `snapshot_restore_py` receives before_snapshot and after_restore; elsewhere
    nothing is registered and the import still works. Mutation: `REGISTERED = False` without
    calling register(), or register() not registering either hook → fails."""
    registered: list[Any] = []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = lambda hook: registered.append(("before", hook))  # type: ignore[attr-defined]
    runtime.register_after_restore = lambda hook: registered.append(("after", hook))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    assert snapstart.register() is True
    assert registered == [("before", snapstart.before_snapshot), ("after", snapstart.after_restore)]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # absent: ImportError
    assert snapstart.register() is False
    assert snapstart.REGISTERED is False  # this process has no Lambda runtime


def _template() -> dict[str, Any]:
    integration = (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/{}/invocations"
    )
    source = {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*"}
    return {
        "Resources": {
            "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.12"}},
            "AccessToken": {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.12"}},
            "DailyBilling": {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.12"}},
            "RestAPI": {
                "Type": "AWS::Serverless::Api",
                "Properties": {
                    "DefinitionBody": {
                        "paths": {
                            "/me": {
                                "get": {
                                    "x-amazon-apigateway-integration": {
                                        "uri": {"Fn::Sub": integration.replace("{}", "${APIHandler.Arn}")}
                                    }
                                }
                            }
                        },
                        "x-amazon-apigateway-authorizer": {
                            "authorizerUri": {"Fn::Sub": integration.replace("{}", "${AccessToken.Arn}")}
                        },
                    }
                },
            },
            "APIHandlerInvokePermission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {"FunctionName": {"Ref": "APIHandler"}, "SourceArn": source},
            },
            "AccessTokenInvokePermission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {"FunctionName": {"Fn::GetAtt": ["AccessToken", "Arn"]}, "SourceArn": source},
            },
        }
    }


def test_the_api_functions_snapshot_published_versions_and_the_api_calls_their_alias() -> None:
    """Mutations: leave out AutoPublishAlias, SnapStart on the schedules, or keep the integration
    on `${APIHandler.Arn}` (API Gateway would call $LATEST, which SnapStart never snapshots) or
    the permission on the unqualified function (API Gateway could not invoke the alias)."""
    adjusted = adjust(copy.deepcopy(_template()), "prod")["Resources"]
    for name in ("APIHandler", "AccessToken"):
        assert adjusted[name]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        assert adjusted[name]["Properties"]["AutoPublishAlias"] == "live"
        assert adjusted[f"{name}InvokePermission"]["Properties"]["FunctionName"] == {
            "Ref": f"{name}Aliaslive"
        }
    assert "SnapStart" not in adjusted["DailyBilling"]["Properties"]
    assert "AutoPublishAlias" not in adjusted["DailyBilling"]["Properties"]
    body = json.dumps(adjusted["RestAPI"]["Properties"]["DefinitionBody"])
    assert "${APIHandlerAliaslive}" in body and "${AccessTokenAliaslive}" in body
    assert ".Arn}" not in body


def test_the_built_template_serves_the_api_through_the_alias() -> None:
    """The real template (dist/prod, when built): no integration or permission is left on an
    unqualified API function."""
    built = ROOT / "dist" / "prod" / "sam.json"
    try:
        current = json.loads((built.parent / "build.json").read_text())["inputs"] == inputs_digest()
    except (OSError, ValueError, KeyError):
        current = False
    if not current or not built.is_file():
        pytest.skip("dist/prod is not built from this tree (make package STAGE=prod)")
    template = json.loads(built.read_text())
    text = json.dumps(template["Resources"]["RestAPI"])
    assert "${APIHandler.Arn}" not in text and "${AccessToken.Arn}" not in text
    assert template["Resources"]["APIHandler"]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
