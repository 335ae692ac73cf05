"""V2: Prometheus metrics at /metrics (issue 25): counted where they happen, state read at
scrape time, reachable only from allowed networks or with the token, low cardinality."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from api.models import WebhookDelivery
from api.webhooks import enqueue_reply
from contacts.models import Contact
from integrations.salesforce import live
from integrations.salesforce.errors import ReconnectNeeded
from integrations.salesforce.lookup import find_contact
from integrations.salesforce.models import SalesforceConnection
from salesforce_emulator.demo_names import ACME_ORG_ID
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
JANE = "jane.cooper@northwind.example"
# Every label name /metrics may carry: none names a contact, a workspace or a connection.
ALLOWED_LABELS = {"operation", "outcome", "kind", "result", "reason", "topic", "state", "status"}


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_v2_a_scrape_after_a_lookup_sees_the_call_counted(client, agent, connection, acme, sf):
    jane = Contact.objects.create(workspace=acme, name="Jane Cooper", email=JANE)
    client_for(client, agent)
    panel = reverse("contacts:panel", args=["acme", jane.pk, "salesforce"])
    before = scrape(client)
    assert b"Northwind" in client.get(panel, headers=HTMX).content  # a miss: one query
    assert b"Northwind" in client.get(panel, headers=HTMX).content  # a hit: none
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("teaminbox_salesforce_calls_total", operation="query", outcome="ok") == 1
    assert len([e for e in sf.request_log() if "/query" in e["path"]]) == 1
    assert delta("teaminbox_salesforce_cache_requests_total", result="miss") == 1
    assert delta("teaminbox_salesforce_cache_requests_total", result="hit") == 1
    assert delta("teaminbox_salesforce_lookup_seconds_count", kind="sidebar") == 2
    assert delta("teaminbox_salesforce_lookup_seconds_bucket", kind="sidebar", le="+Inf") == 2


def test_v2_failures_refresh_grants_and_reconnect_needed_are_counted(client, connection, sf):
    before = scrape(client)
    sf.set_fault("http_503", org_id=ACME_ORG_ID)
    with pytest.raises(Exception):  # noqa: B017 - Unavailable; the outcome label is the point
        find_contact(connection, email=JANE)
    sf.clear_faults()
    sf.expire_sessions(ACME_ORG_ID)
    sf.revoke_refresh_tokens(ACME_ORG_ID)
    with pytest.raises(ReconnectNeeded):
        find_contact(connection, email="someone.else@northwind.example")
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("teaminbox_salesforce_calls_total", operation="query", outcome="unavailable") == 1
    assert (
        delta("teaminbox_salesforce_calls_total", operation="query", outcome="session_expired") == 1
    )
    assert delta("teaminbox_salesforce_refresh_grants_total", outcome="reconnect_needed") == 1
    assert delta("teaminbox_salesforce_reconnect_needed_total", reason="refresh_rejected") == 1
    assert value(after, "teaminbox_salesforce_connections", status="reconnect_needed") == 1
    assert value(after, "teaminbox_salesforce_connections", status="connected") == 0


def test_v2_state_read_at_scrape_time(client, connection, conversation, endpoint, settings):
    # A failing connection near its API budget, with live updates on and no listener running.
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        last_success_at=timezone.now() - timedelta(minutes=5),
        last_error_at=timezone.now() - timedelta(minutes=1),
        api_usage_used=8_500,
        api_usage_max=10_000,
        live_updates=True,
    )
    # Two replies waiting, the oldest for 11 minutes.
    first = enqueue_reply(conversation.messages.first())
    WebhookDelivery.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - timedelta(minutes=11)
    )
    samples = scrape(client)
    assert value(samples, "teaminbox_salesforce_connections", status="connected") == 1
    assert value(samples, "teaminbox_salesforce_connections_failing") == 1
    assert value(samples, "teaminbox_salesforce_api_budget_used_ratio_max") == 0.85
    assert value(samples, "teaminbox_salesforce_api_budget_backoff_ratio") == 0.9
    assert value(samples, "teaminbox_salesforce_listener_connections", state="unhealthy") == 1
    assert value(samples, "teaminbox_webhook_outbox_pending") == 1
    assert 655 < value(samples, "teaminbox_webhook_outbox_oldest_age_seconds") < 700

    # The listener beats healthy for the connection; the reply is sent; a success comes.
    live.beat(connection.pk, state=live.State.HEALTHY, topics=live.topics_for(connection))
    WebhookDelivery.objects.update(status=WebhookDelivery.Status.SENT)
    SalesforceConnection.objects.filter(pk=connection.pk).update(last_success_at=timezone.now())
    samples = scrape(client)
    assert value(samples, "teaminbox_salesforce_listener_connections", state="healthy") == 1
    assert value(samples, "teaminbox_salesforce_listener_connections", state="unhealthy") == 0
    assert value(samples, "teaminbox_salesforce_connections_failing") == 0
    assert value(samples, "teaminbox_webhook_outbox_pending") == 0
    assert value(samples, "teaminbox_webhook_outbox_oldest_age_seconds") == 0


def test_v2_deliveries_and_inbound_messages_by_outcome(client, conversation, endpoint, receiver):
    from api.keys import api_key_create
    from api.webhooks import deliver_due

    before = scrape(client)
    enqueue_reply(conversation.messages.first())
    receiver.statuses = [503]
    deliver_due()
    key = api_key_create(workspace=conversation.workspace, name="bridge", created_by=None)
    url = "/api/v1/w/acme/messages"
    body = {"external_id": "m-1", "channel": "sms", "from": {"email": JANE}, "text": "Hi"}
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}
    assert client.post(url, body, content_type="application/json", **auth).status_code == 201
    assert client.post(url, body, content_type="application/json", **auth).status_code == 200
    assert client.post(url, {"x": 1}, content_type="application/json", **auth).status_code == 400
    assert client.post(url, body, content_type="application/json").status_code == 401
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("teaminbox_webhook_deliveries_total", outcome="retry") == 1
    assert delta("teaminbox_webhook_deliveries_total", outcome="sent") == 0
    for outcome in ("created", "duplicate", "invalid", "unauthorized"):
        assert delta("teaminbox_inbound_messages_total", outcome=outcome) == 1, outcome


def test_v2_labels_never_name_a_contact_workspace_or_connection(client, agent, connection, acme):
    jane = Contact.objects.create(workspace=acme, name="Jane Cooper", email=JANE)
    client_for(client, agent)
    client.get(reverse("contacts:panel", args=["acme", jane.pk, "salesforce"]), headers=HTMX)
    response = client.get("/metrics")
    text = response.content.decode()
    names = set()
    for family in text_string_to_metric_families(text):
        if family.name.startswith("teaminbox_"):
            for sample in family.samples:
                names |= set(sample.labels) - {"le"}
    assert names <= ALLOWED_LABELS, names
    assert "acme" not in text and JANE not in text and ACME_ORG_ID not in text


def test_v2_metrics_only_from_allowed_networks_without_a_token(client, settings):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    outside = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert outside.status_code == 403
    assert b"teaminbox" not in outside.content
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert client.get("/metrics").status_code == 403


def test_v2_with_a_token_only_its_bearer_reads_metrics(client, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    missing = client.get("/metrics")
    assert missing.status_code == 401  # even from loopback: the token is the rule now
    assert missing["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-0123456788")
    assert wrong.status_code == 401
    right = client.get(
        "/metrics",
        HTTP_AUTHORIZATION="Bearer scrape-token-0123456789",
        REMOTE_ADDR="198.51.100.7",
    )
    assert right.status_code == 200
    assert b"teaminbox_salesforce_calls_total" in right.content


def test_v2_metrics_off_records_nothing(client, connection, settings, sf):
    settings.METRICS_ENABLED = False
    before = scrape(client)
    find_contact(connection, email=JANE)
    after = scrape(client)
    name = "teaminbox_salesforce_calls_total"
    labels = {"operation": "query", "outcome": "ok"}
    assert value(after, name, **labels) == value(before, name, **labels)


def test_v2_multiprocess_mode_adds_up_processes_and_child_exit_retires_live_gauges(
    tmp_path, monkeypatch, client
):
    """Two processes record into PROMETHEUS_MULTIPROC_DIR (as gunicorn workers, the webhook
    worker and the listener do); /metrics adds them up; gunicorn's child_exit hook drops a dead
    worker's live gauge but keeps its counters."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from ops import gunicorn_conf

    directory = tmp_path / "prom"
    directory.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    code = (
        "import os, django; django.setup(); from ops import metrics; "
        "metrics.webhook_delivery('sent'); metrics.live_connection_opened(); print(os.getpid())"
    )
    root = Path(__file__).resolve().parents[2]
    pids = [
        int(
            subprocess.run(
                [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                check=True,
            ).stdout.split()[-1]
        )
        for _ in range(2)
    ]  # fmt: skip
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    samples = scrape(client)
    assert value(samples, "teaminbox_webhook_deliveries_total", outcome="sent") == 2
    assert value(samples, "teaminbox_live_connections_open") == 2
    gunicorn_conf.child_exit(None, SimpleNamespace(pid=pids[0]))
    samples = scrape(client)
    assert value(samples, "teaminbox_live_connections_open") == 1
    assert value(samples, "teaminbox_webhook_deliveries_total", outcome="sent") == 2


def test_v2_the_worker_and_listener_answer_metrics_on_their_own_port(settings):
    import requests

    from ops import metrics
    from ops.stack import free_port

    settings.OPS_METRICS_PORT = 0
    assert metrics.serve_if_configured() is None
    settings.OPS_METRICS_PORT = free_port()
    settings.OPS_METRICS_ADDRESS = "127.0.0.1"
    server = metrics.serve_if_configured()
    try:
        url = f"http://127.0.0.1:{settings.OPS_METRICS_PORT}/metrics"
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200
        assert "teaminbox_webhook_deliveries_total" in answer.text
        settings.METRICS_TOKEN = "worker-token-42"
        assert requests.get(url, timeout=10).status_code == 403
        good = requests.get(url, headers={"Authorization": "Bearer worker-token-42"}, timeout=10)
        assert good.status_code == 200
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db(transaction=True)
def test_v2_listener_events_and_lag_are_counted(client, sf, connection, settings):
    """A change in Salesforce reaches the listener over gRPC: counted by topic, lag observed."""
    import threading
    import time

    from integrations.salesforce import services
    from integrations.salesforce.listener import Listener
    from ops import heartbeat

    settings.SALESFORCE_PUBSUB_URL = f"http://{sf.pubsub_target}"
    settings.SALESFORCE_LISTENER_HEARTBEAT_SECONDS = 0.5
    settings.OPS_HEARTBEAT_SECONDS = 0  # every step beats (the rate limit is per process)
    heartbeat._last.clear()
    settings.SALESFORCE_LISTENER_LEASE_SECONDS = 2
    sf.set_pubsub_keepalive(0.2)
    SalesforceConnection.objects.filter(pk=connection.pk).update(related_lists=[])
    connection.refresh_from_db()
    services.set_live_updates(connection, on=True, actor=None)
    topic = "/data/ContactChangeEvent"
    name = "teaminbox_salesforce_listener_events_total"
    before = scrape(client)
    listener = Listener(owner="metrics-test")
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not live.healthy(connection) and time.monotonic() < deadline:
            time.sleep(0.05)
        sf.update_record("Contact", "0035g00000Con01AAB", Title="VP Operations")
        while time.monotonic() < deadline:
            if value(scrape(client), name, topic=topic) > value(before, name, topic=topic):
                break
            time.sleep(0.1)
        after = scrape(client)
        # The listener's state per connection, as the scrape reads its heartbeat (a busy box
        # may show a beat late: "starting" or "unhealthy" for a moment).
        state = "teaminbox_salesforce_listener_connections"
        while value(scrape(client), state, state="healthy") != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        healthy = value(scrape(client), state, state="healthy")
    finally:
        listener.stop()
        thread.join(timeout=15)
    assert value(after, name, topic=topic) - value(before, name, topic=topic) == 1
    lag = "teaminbox_salesforce_listener_lag_seconds_count"
    assert value(after, lag) - value(before, lag) == 1
    assert healthy == 1
    heartbeat_age = value(after, "teaminbox_process_heartbeat_age_seconds", kind="listener")
    assert 0 <= heartbeat_age < 10
