"""The public help routes: no authorizer (anyone may read help), an optional bearer token that
chalicelib.help verifies itself to personalise the answer. Each route hands the request's headers,
query string or body to one service function."""

from __future__ import annotations

from chalice.app import Blueprint, Request, Response

from chalicelib.api import validation
from chalicelib.api.responses import handled, ok
from chalicelib.help import public
from chalicelib.help import requests as help_requests

blueprint = Blueprint(__name__)


def _request() -> tuple[Request, help_requests.Caller]:
    request = blueprint.current_request
    return request, help_requests.caller_from(request.headers)


@blueprint.route("/help/sections", methods=["GET"])
@handled
def help_sections() -> Response:
    request, caller = _request()
    return ok(public.sections(caller, request.query_params))


@blueprint.route("/help/search", methods=["GET"])
@handled
def help_search() -> Response:
    request, caller = _request()
    return ok(public.search(caller, request.query_params))


@blueprint.route("/help/articles/{article_id}", methods=["GET"])
@handled
def help_article(article_id: str) -> Response:
    request, caller = _request()
    return ok(public.article(caller, article_id, request.query_params))


@blueprint.route("/help/articles/{article_id}/votes", methods=["POST"])
@handled
def help_vote(article_id: str) -> Response:
    request, caller = _request()
    return ok(public.vote(caller, article_id, validation.body_bytes(request.raw_body)), status=201)


@blueprint.route("/help/situations/{situation}", methods=["GET"])
@handled
def help_situation(situation: str) -> Response:
    request, caller = _request()
    return ok(public.situation(caller, situation, request.query_params))
