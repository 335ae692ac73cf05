"""V3: structured logs with a request id, carried into Salesforce calls and webhook deliveries;
no token or secret in any line (issue 25)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re

import pytest
from django.urls import reverse

from api.models import WebhookDelivery
from api.webhooks import deliver_due
from contacts.models import Contact
from integrations.salesforce.models import SalesforceConnection
from ops import requestid
from ops.logs import JsonFormatter, RequestIdFilter, logging_config
from salesforce_emulator.demo_names import ACME_ORG_ID
from tests.conftest import client_for
from tests.integrations.salesforce.flow import connect_via_views

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
JANE = "jane.cooper@northwind.example"


@contextlib.contextmanager
def json_log(level=logging.INFO):
    """The production handler (LOG_FORMAT=json: JsonFormatter + RequestIdFilter) on the root
    logger, writing to a buffer; yields a function returning the parsed lines."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_v3_settings_choose_json_lines_with_the_request_id_filter():
    config = logging_config(log_format="json", level="INFO")
    handler = config["handlers"]["console"]
    assert config["formatters"][handler["formatter"]]["()"] == "ops.logs.JsonFormatter"
    assert handler["filters"] == ["request_id"]
    plain = logging_config(log_format="plain", level="INFO")
    assert "%(request_id)s" in plain["formatters"]["plain"]["format"]
    # The oauthlib loggers print token bodies at DEBUG: pinned at INFO whatever LOG_LEVEL says.
    debug = logging_config(log_format="json", level="DEBUG")
    assert debug["loggers"]["oauthlib"]["level"] == "INFO"
    assert debug["loggers"]["requests_oauthlib"]["level"] == "INFO"


def test_v3_request_id_is_taken_from_the_header_or_made(client):
    given = client.get("/signin/", HTTP_X_REQUEST_ID="lb-7f3a9c.1")
    assert given["X-Request-ID"] == "lb-7f3a9c.1"
    made = client.get("/signin/")
    assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])
    other = client.get("/signin/")
    assert other["X-Request-ID"] != made["X-Request-ID"]
    # Spaces, newlines or an endless value could forge or flood log lines: a new id instead.
    for bad in ("two words", "x" * 129, "a\nb"):
        answer = client.get("/signin/", HTTP_X_REQUEST_ID=bad)
        assert re.fullmatch(r"[0-9a-f]{32}", answer["X-Request-ID"]), bad


def test_v3_every_line_of_a_lookup_is_json_with_its_request_id_salesforce_calls_included(
    client, agent, connection, acme, sf
):
    jane = Contact.objects.create(workspace=acme, name="Jane Cooper", email=JANE)
    client_for(client, agent)
    panel = reverse("contacts:panel", args=["acme", jane.pk, "salesforce"])
    sf.expire_sessions(ACME_ORG_ID)  # the lookup renews the session: more lines, one request
    with json_log() as lines:
        response = client.get(panel, headers={**HTMX, "X-Request-ID": "req-sidebar-25"})
        outside = logging.getLogger("tests.ops").info("outside any request")
    assert response.status_code == 200
    assert outside is None
    logged = lines()
    product = [
        line
        for line in logged
        if not line["logger"].startswith(("salesforce_emulator", "werkzeug"))
    ]
    calls = [line for line in product if line["logger"] == "ops.salesforce"]
    # The expired session, then the retried query, then nothing else from Salesforce.
    assert [(c["sf_operation"], c["sf_outcome"]) for c in calls] == [
        ("query", "session_expired"),
        ("query", "ok"),
    ]
    assert any("refreshed" in line["message"] for line in product)
    for line in product[:-1]:
        assert set(line) >= {"time", "level", "logger", "message", "request_id"}
        assert line["request_id"] == "req-sidebar-25", line
    assert product[-1]["message"] == "outside any request"
    assert product[-1]["request_id"] == "-"


def test_v3_a_reply_carries_its_request_id_to_the_delivery_header_and_the_worker_log(
    client, agent, conversation, endpoint, receiver
):
    client_for(client, agent)
    reply = reverse("inbox:reply", args=["acme", conversation.pk])
    answer = client.post(reply, {"body": "On its way!"}, HTTP_X_REQUEST_ID="req-reply-25")
    assert answer.status_code in (200, 302)
    delivery = WebhookDelivery.objects.get(message__conversation=conversation)
    assert delivery.request_id == "req-reply-25"
    with json_log() as lines:
        assert deliver_due() == 1
    assert receiver.requests[0]["headers"]["X-Request-ID"] == "req-reply-25"
    worker = [line for line in lines() if line["logger"] == "api.webhooks"]
    assert worker and all(line["request_id"] == "req-reply-25" for line in worker)
    assert "attempt 1: sent" in worker[-1]["message"]


def test_v3_a_delivery_without_a_request_gets_an_id_of_its_own(conversation, endpoint, receiver):
    from api.webhooks import enqueue_reply

    message = conversation.messages.first()
    assert requestid.current() == ""
    delivery = enqueue_reply(message)
    assert delivery.request_id == ""
    with json_log() as lines:
        deliver_due()
    worker = [line for line in lines() if line["logger"] == "api.webhooks"]
    assert re.fullmatch(r"[0-9a-f]{32}", worker[0]["request_id"])
    assert "X-Request-ID" not in receiver.requests[0]["headers"]


def test_v3_no_token_or_secret_in_any_json_line_through_connect_refresh_lookup(
    client, sf, owner, agent, acme, settings
):
    """Everything at DEBUG through the production JSON handler (the oauthlib loggers keep the
    INFO floor settings give them), then every line scanned for every secret seen."""
    jane = Contact.objects.create(workspace=acme, name="Jane Cooper", email=JANE)
    secrets: dict[str, str] = {
        "client secret": sf.client_secret,
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY[0],
    }

    def remember():
        conn = SalesforceConnection.objects.get(workspace=acme)
        secrets[f"access …{conn.access_token[-6:]}"] = conn.access_token
        secrets[f"refresh …{conn.refresh_token[-6:]}"] = conn.refresh_token

    with json_log(logging.DEBUG) as lines:
        client_for(client, owner)
        assert connect_via_views(client).status_code == 302  # code exchange, identity, verify
        remember()
        agent_client = client.__class__()
        client_for(agent_client, agent)
        panel = reverse("contacts:panel", args=["acme", jane.pk, "salesforce"])
        assert b"Northwind" in agent_client.get(panel, headers=HTMX).content  # a lookup
        sf.expire_sessions(ACME_ORG_ID)
        assert b"Northwind" in agent_client.get(panel + "?refresh=1", headers=HTMX).content
        remember()  # the refreshed (and, with rotation, rotated) tokens
    text = "\n".join(json.dumps(line) for line in lines())
    assert len(secrets) == 7  # client secret, keys, 2 access and 2 refresh tokens
    assert "Salesforce query: ok" in text and "refreshed" in text  # the capture saw it all
    leaks = [name for name, value in secrets.items() if value in text]
    assert leaks == []
