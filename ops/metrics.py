"""Prometheus metrics (V2): the registry, the recording helpers, and /metrics.

The product records through the small functions below (one call per outcome, so call sites
stay one line); ``METRICS_ENABLED=0`` turns every one into a no-op (the benchmark's "off").

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` must be set before the processes start (``make
prod`` / ``ops.stack`` do it): every process (web workers, the webhook worker, the listener)
writes its samples to files there and /metrics adds them up (prometheus-client's multiprocess
mode; ``ops/gunicorn.conf.py`` marks dead workers). Without it, each process has its own.

State that lives in the database or the cache (outbox depth, API budget, connections needing a
reconnect, listener health) is read when /metrics is scraped, by the collectors apps register
with :func:`register_source`, so every replica answers the same and nothing drifts.

Labels are low-cardinality by rule: operation, outcome, kind, topic, state. Never a contact,
a workspace or a connection.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric

logger = logging.getLogger("ops.salesforce")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SALESFORCE_CALLS = Counter(
    "teaminbox_salesforce_calls_total",
    "Salesforce REST calls by operation (query, describe, search, composite, tooling_query) and outcome.",
    ["operation", "outcome"],
)
LOOKUP_SECONDS = Histogram(
    "teaminbox_salesforce_lookup_seconds",
    "Time to answer a Salesforce lookup (sidebar or a page of badges), cache hits included.",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
CACHE_REQUESTS = Counter(
    "teaminbox_salesforce_cache_requests_total",
    "Cached Salesforce answers asked for: hit (from the cache), miss (asked Salesforce), "
    "shared (another request's answer, after waiting for it).",
    ["result"],
)
SINGLE_FLIGHT_WAITS = Counter(
    "teaminbox_salesforce_single_flight_waits_total",
    "Requests that waited for another request's identical Salesforce call (single-flight).",
)
REFRESH_GRANTS = Counter(
    "teaminbox_salesforce_refresh_grants_total",
    "OAuth refresh-token grants sent to Salesforce, by outcome.",
    ["outcome"],
)
RECONNECT_NEEDED = Counter(
    "teaminbox_salesforce_reconnect_needed_total",
    "Connections that went from connected to 'reconnect needed', by reason.",
    ["reason"],
)
LISTENER_EVENTS = Counter(
    "teaminbox_salesforce_listener_events_total",
    "Change Data Capture events received by the live-updates listener, by topic.",
    ["topic"],
)
LISTENER_LAG = Histogram(
    "teaminbox_salesforce_listener_lag_seconds",
    "Seconds from a change's commit in Salesforce to the listener receiving it.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
WEBHOOK_DELIVERIES = Counter(
    "teaminbox_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (sent, retry, failed).",
    ["outcome"],
)
INBOUND_MESSAGES = Counter(
    "teaminbox_inbound_messages_total",
    "Inbound API messages by outcome (created, duplicate, invalid, unauthorized, refused).",
    ["outcome"],
)
# The live Inbox (issue 22) increments this when a browser's live connection opens and
# decrements it when it closes: ``live_connection_opened()`` / ``live_connection_closed()``.
LIVE_CONNECTIONS = Gauge(
    "teaminbox_live_connections_open",
    "Live Inbox connections open now (all processes).",
    multiprocess_mode="livesum",
)


def enabled() -> bool:
    return settings.METRICS_ENABLED


# --- recording (one line at each call site) ---------------------------------------------------
@contextlib.contextmanager
def salesforce_call(operation: str) -> Iterator[None]:
    """Count one REST call by its outcome and log it (with the request id, V3): "ok", the
    product error's code, "session_expired" (renewed and retried), or "error"."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except BaseException as exc:
        outcome = getattr(exc, "code", None) or (
            "session_expired" if type(exc).__name__ == "SalesforceExpiredSession" else "error"
        )
        raise
    finally:
        elapsed = time.perf_counter() - started
        if enabled():
            SALESFORCE_CALLS.labels(operation, outcome).inc()
        logger.info(
            "Salesforce %s: %s in %.0f ms",
            operation,
            outcome,
            elapsed * 1000,
            extra={"sf_operation": operation, "sf_outcome": outcome},
        )


@contextlib.contextmanager
def lookup(kind: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        if enabled():
            LOOKUP_SECONDS.labels(kind).observe(time.perf_counter() - started)


def cache_request(result: str) -> None:
    if enabled():
        CACHE_REQUESTS.labels(result).inc()
        if result == "shared":
            SINGLE_FLIGHT_WAITS.inc()


@contextlib.contextmanager
def refresh_grant() -> Iterator[None]:
    outcome = "ok"
    try:
        yield
    except BaseException as exc:
        outcome = getattr(exc, "code", None) or "error"
        raise
    finally:
        if enabled():
            REFRESH_GRANTS.labels(outcome).inc()


def reconnect_needed(reason: str) -> None:
    if enabled():
        RECONNECT_NEEDED.labels(reason or "unknown").inc()


def listener_events(topic: str, count: int, lag_seconds: float | None = None) -> None:
    if enabled() and count:
        LISTENER_EVENTS.labels(topic).inc(count)
        if lag_seconds is not None:
            LISTENER_LAG.observe(max(0.0, lag_seconds))


def webhook_delivery(outcome: str) -> None:
    if enabled():
        WEBHOOK_DELIVERIES.labels(outcome).inc()


def inbound_message(outcome: str) -> None:
    if enabled():
        INBOUND_MESSAGES.labels(outcome).inc()


def live_connection_opened() -> None:
    if enabled():
        LIVE_CONNECTIONS.inc()


def live_connection_closed() -> None:
    if enabled():
        LIVE_CONNECTIONS.dec()


# --- state read at scrape time ----------------------------------------------------------------
_sources: list[Callable[[], Iterable[Metric]]] = []


def register_source(source: Callable[[], Iterable[Metric]]) -> None:
    """An app's scrape-time metrics (from its tables or the cache); called in ``ready()``."""
    if source not in _sources:
        _sources.append(source)


class _Sources:
    def collect(self) -> Iterator[Metric]:
        for source in _sources:
            try:
                yield from source()
            except Exception:  # noqa: BLE001 - a database outage must not fail the scrape
                logger.warning(
                    "Metrics source %s failed", getattr(source, "__name__", source), exc_info=True
                )


def heartbeats() -> Iterator[Metric]:
    """V1's process heartbeats as a gauge: seconds since any worker / listener replica beat
    (+Inf when none ever did)."""
    from prometheus_client.core import GaugeMetricFamily

    from . import heartbeat

    family = GaugeMetricFamily(
        "teaminbox_process_heartbeat_age_seconds",
        "Seconds since any replica of the webhook worker or the listener last beat.",
        labels=["kind"],
    )
    for kind in heartbeat.KINDS:
        state = heartbeat.shared(kind)
        family.add_metric([kind], state["age_seconds"] if state["seen"] else float("inf"))
    yield family


register_source(heartbeats)


def registry() -> CollectorRegistry:
    """What one scrape reports: every process's samples, and the scrape-time state."""
    scrape = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape.register(_Default())
    scrape.register(_Sources())
    return scrape


class _Default:
    """The process's own registry (no multiprocess directory: runserver, tests)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


# --- /metrics ---------------------------------------------------------------------------------
def allowed(request) -> bool:
    return allowed_meta(request.META)


def allowed_meta(meta) -> bool:
    """METRICS_TOKEN set: only its bearer. Otherwise: clients in METRICS_ALLOWED_NETWORKS.
    ``meta``: a request's META, or a WSGI environ (the worker's and listener's own port)."""
    token = settings.METRICS_TOKEN
    if token:
        header = meta.get("HTTP_AUTHORIZATION", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    try:
        address = ipaddress.ip_address(meta.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.METRICS_ALLOWED_NETWORKS
    )


def view(request) -> HttpResponse:
    if not allowed(request):
        response = HttpResponse("Forbidden\n", status=403, content_type="text/plain")
        if settings.METRICS_TOKEN:
            response.status_code = 401
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


# --- the worker's and the listener's own /metrics (a pod of their own) ------------------------
def serve_if_configured():
    """With ``OPS_METRICS_PORT`` set, this process (the webhook worker, the listener) answers
    ``/metrics`` on that port, under the same access rule; the server, or None.

    On one machine they share gunicorn's PROMETHEUS_MULTIPROC_DIR and the web's /metrics
    already shows them; in a pod of their own nothing else would."""
    port = settings.OPS_METRICS_PORT
    if not port:
        return None
    import threading
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import make_wsgi_app

    exporter = make_wsgi_app(registry())

    def guarded(environ, start_response):
        if not allowed_meta(environ):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"Forbidden\n"]
        return exporter(environ, start_response)

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):  # scrapes every few seconds are not news
            pass

    server = make_server(
        settings.OPS_METRICS_ADDRESS, port, guarded, server_class=Server, handler_class=QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
