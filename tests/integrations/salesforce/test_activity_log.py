"""A5: Log to Salesforce: one completed Task per conversation, updated later, exactly once.

Against the live emulator over HTTP: its writes log and its Task table are the ground truth.
"""

from __future__ import annotations

import pytest
import requests
from django.urls import reverse

from inbox.models import Message
from integrations.salesforce import services
from integrations.salesforce.activity import log_conversation
from integrations.salesforce.models import (
    SalesforceActivityLog,
    SalesforceConnection,
    SalesforceEvent,
)
from tests.conftest import client_for, run_threads

from .test_sidebar import HTMX

JANE = "0035g00000Con01AAB"
CASE = "5005g00000Cas01AAB"
pytestmark = pytest.mark.django_db


def tasks_in_salesforce(sf, connection, marker: str) -> list[dict]:
    """Salesforce's own view: the Tasks whose Subject carries the marker (a fresh API call)."""
    response = requests.get(
        f"{connection.instance_url}/services/data/v62.0/query",
        params={
            "q": f"SELECT Id, Subject, Description, Status, WhoId, WhatId FROM Task "
            f"WHERE Subject LIKE '%{marker}%'"
        },
        headers={"Authorization": f"Bearer {connection.access_token}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()["records"]


def task_posts(sf) -> list[dict]:
    return [w for w in sf.writes() if w["sobject"] == "Task" and w["method"] == "POST"]


def log_url(conversation) -> str:
    return reverse("integrations:salesforce:log", args=["acme", conversation.pk])


@pytest.fixture
def logging_on(connection, owner):
    services.set_activity_logging(connection, on=True, actor=owner)
    return connection


def test_a5_off_by_default_and_switched_on_by_admins_audited(
    client, owner, agent, connection, conversation
):
    assert connection.log_activities is False
    client_for(client, agent)
    off = client.post(log_url(conversation), headers=HTMX).content.decode()
    assert "Log to Salesforce is off for this workspace" in off
    assert not SalesforceActivityLog.objects.exists()
    switch = reverse("integrations:salesforce:activity_logging", args=["acme"])
    assert client.post(switch, {"log_activities": "on"}).status_code == 403
    client_for(client, owner)
    assert client.post(switch, {"log_activities": "on"}).status_code == 302
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.log_activities is True
    assert row.events.filter(kind=SalesforceEvent.Kind.ACTIVITY_LOGGING, actor=owner).exists()


def test_a5_log_creates_one_completed_task_then_update_appends(
    client, agent, logging_on, conversation, sf
):
    client_for(client, agent)
    panel = client.get(
        reverse("contacts:panel", args=["acme", conversation.contact.pk, "salesforce"]),
        {"conversation": conversation.pk},
        headers=HTMX,
    ).content.decode()
    assert "Log to Salesforce" in panel and f'value="{CASE}"' in panel  # an open Case to pick
    html = client.post(log_url(conversation), {"what_id": CASE}, headers=HTMX).content.decode()
    log = SalesforceActivityLog.objects.get(conversation=conversation)
    assert "Logged by agent@acme.test" in html and "View task" in html
    assert f"/lightning/r/Task/{log.task_id}/view" in html
    (task,) = tasks_in_salesforce(sf, logging_on, log.marker)
    assert task["Id"] == log.task_id and task["Status"] == "Completed"
    assert (task["WhoId"], task["WhatId"]) == (JANE, CASE)
    assert "Where is it?" in task["Description"] and "Order late" in task["Subject"]

    Message.objects.create(
        conversation=conversation, direction=Message.Direction.OUT, body="Shipped today"
    )
    html = client.post(log_url(conversation), headers=HTMX).content.decode()
    assert "Log updated." in html
    (task,) = tasks_in_salesforce(sf, logging_on, log.marker)
    assert "Where is it?" in task["Description"] and "Shipped today" in task["Description"]
    assert len(task_posts(sf)) == 1  # the update is a PATCH of the same Task
    # A repeated click with nothing new costs no write
    html = client.post(log_url(conversation), headers=HTMX).content.decode()
    assert "already holds every message" in html
    assert len([w for w in sf.writes() if w["sobject"] == "Task"]) == 2


def test_a5_repeated_click_after_success_never_creates_a_second_task(
    agent, logging_on, conversation, sf
):
    for _ in range(3):
        log_conversation(connection=logging_on, conversation=conversation, actor=agent, who_id=JANE)
    log = SalesforceActivityLog.objects.get(conversation=conversation)
    assert len(tasks_in_salesforce(sf, logging_on, log.marker)) == 1
    assert len(task_posts(sf)) == 1


@pytest.mark.django_db(transaction=True)
def test_a5_fifty_concurrent_clicks_make_one_task(agent, logging_on, conversation, sf):
    def click(i):
        return log_conversation(
            connection=SalesforceConnection.objects.get(pk=logging_on.pk),
            conversation=type(conversation).objects.get(pk=conversation.pk),
            actor=agent,
            who_id=JANE,
        ).state

    states, failures = run_threads(50, click)
    assert failures == []
    log = SalesforceActivityLog.objects.get(conversation=conversation)
    assert len(tasks_in_salesforce(sf, logging_on, log.marker)) == 1
    assert len(task_posts(sf)) == 1
    assert states.count("logged") == 1
    assert set(states) <= {"logged", "busy", "up_to_date"}


def test_a5_timeout_after_save_finds_the_task_by_marker(agent, logging_on, conversation, sf):
    # Salesforce saves the Task, then answers after the client gave up (SALESFORCE_TIMEOUT 3 s)
    sf.set_fault("hang_after_write", value=4)
    outcome = log_conversation(
        connection=logging_on, conversation=conversation, actor=agent, who_id=JANE
    )
    sf.set_fault("hang_after_write", value=None)
    assert outcome.state == "logged"
    log = SalesforceActivityLog.objects.get(conversation=conversation)
    (task,) = tasks_in_salesforce(sf, logging_on, log.marker)
    assert task["Id"] == log.task_id
    assert len(task_posts(sf)) == 1  # found by its marker, not created again
    lookups = [e for e in sf.request_log() if "/query" in e["path"] and "FROM Task" in e["query"]]
    assert lookups and log.marker in lookups[0]["query"]


def test_a5_unfinished_attempt_is_looked_up_before_creating(agent, logging_on, conversation, sf):
    # A worker died after Salesforce saved: the row has its marker, no task id, an old claim
    row = SalesforceActivityLog.objects.create(
        workspace=conversation.workspace, conversation=conversation, marker="TI-DEAD000001"
    )
    SalesforceActivityLog.objects.filter(pk=row.pk).update(attempts=1)
    created = requests.post(
        f"{logging_on.instance_url}/services/data/v62.0/sobjects/Task",
        json={"Subject": "Conversation: Order late [TI-DEAD000001]", "WhoId": JANE},
        headers={"Authorization": f"Bearer {logging_on.access_token}"},
        timeout=5,
    ).json()["id"]
    outcome = log_conversation(
        connection=logging_on, conversation=conversation, actor=agent, who_id=JANE
    )
    assert outcome.state == "updated"
    assert SalesforceActivityLog.objects.get(pk=row.pk).task_id == created
    assert len(task_posts(sf)) == 1  # only the one made before


def test_a5_no_edit_tasks_permission_gets_an_actionable_sentence(
    client, agent, logging_on, conversation, sf
):
    sf.set_fault("no_edit_tasks", username="admin@acme-corp.example")
    client_for(client, agent)
    html = client.post(log_url(conversation), headers=HTMX).content.decode()
    assert "admin@acme-corp.example" in html and "“Edit Tasks” permission" in html
    assert task_posts(sf) == []
    log = SalesforceActivityLog.objects.get(conversation=conversation)
    assert log.status == SalesforceActivityLog.Status.FAILED and log.task_id == ""
    assert "Log to Salesforce" in html  # the button stays: once fixed, the agent tries again


def test_a5_other_workspace_cannot_log(client, outsider, logging_on, conversation):
    client_for(client, outsider)
    assert client.post(log_url(conversation), headers=HTMX).status_code == 404


def test_a5_logs_to_the_linked_record(client, agent, logging_on, acme, sf):
    from contacts.models import Contact
    from inbox.models import Conversation
    from integrations.salesforce.links import link_contact

    frank = "0035g00000Con06AAB"  # matches support@fabrikam.example, but is not the newest
    fabrikam = Contact.objects.create(
        workspace=acme, name="Fabrikam", email="support@fabrikam.example"
    )
    link_contact(
        connection=logging_on, contact=fabrikam, record_id=frank, record_name="F", actor=agent
    )
    conv = Conversation.objects.create(workspace=acme, contact=fabrikam, subject="Help")
    Message.objects.create(conversation=conv, direction=Message.Direction.IN, body="Hi")
    client_for(client, agent)
    client.post(log_url(conv), headers=HTMX)
    log = SalesforceActivityLog.objects.get(conversation=conv)
    (task,) = tasks_in_salesforce(sf, logging_on, log.marker)
    assert task["WhoId"] == frank
