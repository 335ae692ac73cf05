"""A webhook receiver on loopback and Acme's endpoint pointing at it (V3: the delivery's
request id). Kept here rather than imported from tests/api: conftests import up the tree only."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.models import WebhookEndpoint


class Receiver:
    def __init__(self) -> None:
        self.url = ""
        self.requests: list[dict] = []
        self.statuses: list[int] = []


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = state.statuses.pop(0) if state.statuses else 200
            state.requests.append({"headers": dict(self.headers), "body": body, "status": status})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(acme, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    return WebhookEndpoint.objects.create(
        workspace=acme, url=receiver.url, secret="whsec_ops-tests-secret"
    )
