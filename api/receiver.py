"""A tiny webhook receiver: prints each signed reply (O7), and the load bench's flaky receiver (O8).

    python -m api.receiver --port 8025 --secret-file var/demo_webhook_secret

Standalone (standard library only, no Django): it shows what a real receiver does. It checks the
``X-Inbox-Signature`` (HMAC-SHA256 of ``"<timestamp>.<delivery id>.<body>"``), rejects a timestamp
more than 5 minutes away (replays), and drops repeats by ``X-Inbox-Delivery`` (deliveries are at
least once; the id is signed, so a replay under a new id fails the signature).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPLAY_WINDOW_SECONDS = 300


def signature_ok(
    secret: str, timestamp: str, delivery_id: str, body: bytes, signature: str
) -> bool:
    try:
        if abs(time.time() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
            return False
    except (TypeError, ValueError):
        return False
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest("v2=" + expected, signature or "")


class State:
    def __init__(self, secret: str, fail_rate: float, quiet: bool):
        self.secret = secret
        self.fail_rate = fail_rate
        self.quiet = quiet
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.requests = 0
        self.failed_on_purpose = 0
        self.repeats = 0
        self.bad_signatures = 0

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": self.requests,
                "unique_deliveries": len(self.seen),
                "repeats_dropped": self.repeats,
                "failed_on_purpose": self.failed_on_purpose,
                "bad_signatures": self.bad_signatures,
                "delivery_ids": sorted(self.seen),
            }


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/stats":
                self._answer(200, json.dumps(state.stats()).encode())
            else:
                self._answer(404)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.requests += 1
                if state.fail_rate and random.random() < state.fail_rate:
                    state.failed_on_purpose += 1
                    fail = True
                else:
                    fail = False
            if fail:
                self._answer(503)
                return
            delivery = self.headers.get("X-Inbox-Delivery", "")
            if not delivery or not signature_ok(
                state.secret,
                self.headers.get("X-Inbox-Timestamp", ""),
                delivery,
                body,
                self.headers.get("X-Inbox-Signature", ""),
            ):
                with state.lock:
                    state.bad_signatures += 1
                self._answer(401)
                return
            with state.lock:
                repeat = delivery in state.seen
                state.seen.add(delivery)
                if repeat:
                    state.repeats += 1
            if not repeat and not state.quiet:
                payload = json.loads(body)
                contact = payload["contact"]
                print(
                    f"[{payload['conversation']['channel'] or 'no channel'}] to "
                    f"{contact['name']} <{contact['email'] or contact['phone']}>: "
                    f"{payload['message']['text']}  (delivery {delivery})",
                    flush=True,
                )
            self._answer(200)

        def log_message(self, *args):
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print signed Team Inbox webhook deliveries.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--secret", help="The workspace's signing secret (whsec_...).")
    parser.add_argument("--secret-file", help="A file holding the signing secret.")
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="Answer 503 to this share of requests."
    )
    parser.add_argument("--quiet", action="store_true", help="Print nothing per delivery.")
    args = parser.parse_args(argv)
    secret = args.secret or (Path(args.secret_file).read_text().strip() if args.secret_file else "")
    if not secret:
        parser.error("give --secret or --secret-file")
    state = State(secret, args.fail_rate, args.quiet)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(state))
    print(f"Webhook receiver on http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(json.dumps({k: v for k, v in state.stats().items() if k != "delivery_ids"}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
