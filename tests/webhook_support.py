"""A webhook receiver on loopback and an endpoint pointing at it: fixtures shared by the API
and operations tests (imported into their conftests)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.models import WebhookEndpoint

WEBHOOK_SECRET = "whsec_test-secret-for-the-suite"


@dataclass
class Receiver:
    """A webhook receiver on a free loopback port; ``statuses`` scripts its answers."""

    url: str = ""
    requests: list = field(default_factory=list)
    statuses: list = field(default_factory=list)
    default_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else self.default_status

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = state.next_status()
            with state.lock:
                state.requests.append(
                    {"headers": dict(self.headers), "body": body, "status": status}
                )
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
    return WebhookEndpoint.objects.create(workspace=acme, url=receiver.url, secret=WEBHOOK_SECRET)
