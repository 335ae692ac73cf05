"""Shared HTTP helpers: JSON responses in Salesforce's content type, bearer tokens, identity URLs."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

JSON_TYPE = "application/json;charset=UTF-8"
HTML_TYPE = "text/html;charset=UTF-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type=JSON_TYPE,
        headers=headers or {},
    )


def html_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type=HTML_TYPE)


def bearer_token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return request.args.get("oauth_token", "")


def set_context(request: Request, org_id: str | None, user_id: str | None) -> None:
    """Attribute the request to an org and user for the request log."""
    request.environ["sfemu.org_id"] = org_id
    request.environ["sfemu.user_id"] = user_id


def log_fields(request: Request, **fields: Any) -> None:
    """Extra fields for this request's request-log entry (never token values or secrets)."""
    request.environ.setdefault("sfemu.log", {}).update(fields)
