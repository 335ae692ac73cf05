"""The request id (V3): one id per web request, accepted from ``X-Request-ID`` or made here.

It lives in a context variable, so every log line written while the request runs carries it
(``ops.logs.RequestIdFilter``), including the lines of the Salesforce calls it causes; the
webhook outbox row stores it, so the delivery (header) and the worker's lines carry it too.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# What we accept from a client or proxy: short, printable, no spaces (it lands in log lines).
_ACCEPTED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

_current: ContextVar[str] = ContextVar("request_id", default="")


def current() -> str:
    """The request id of the work running now ("" outside a request or a delivery)."""
    return _current.get()


def new_id() -> str:
    return uuid.uuid4().hex


def accepted(value: str | None) -> str:
    """``value`` when it is an acceptable request id, else ""."""
    return value if value and _ACCEPTED.fullmatch(value) else ""


@contextlib.contextmanager
def bound(request_id: str) -> Iterator[str]:
    """Run a block under ``request_id`` (a web request, a webhook delivery)."""
    token = _current.set(request_id)
    try:
        yield request_id
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    """First in the chain: every later middleware's and view's log lines carry the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = accepted(request.META.get(META_KEY)) or new_id()
        request.request_id = request_id
        with bound(request_id):
            response = self.get_response(request)
        response[HEADER] = request_id
        return response
