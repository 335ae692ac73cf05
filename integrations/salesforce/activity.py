"""A5: Log to Salesforce: a conversation becomes ONE completed Task, updated later, exactly once.

Exactly once, whatever happens:
- the attempt is recorded (a row with its marker) BEFORE Salesforce is asked, and the marker is in
  the Task's Subject (Subject is filterable; Description, a long text area, is not);
- one caller at a time per conversation: a conditional UPDATE claims the row for a lease, so a
  repeated click or a second agent gets "being logged" instead of a second POST;
- after a timeout (Salesforce may have saved), and on any later attempt that follows an unfinished
  one, the Task is looked up by its marker before anything is created again.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.db.models import F, Q
from django.utils import timezone
from simple_salesforce.format import format_soql

from . import services
from .client import SalesforceClient
from .errors import QueryFailed, SalesforceError, Unavailable
from .models import SalesforceActivityLog, SalesforceConnection, SalesforceEvent

logger = logging.getLogger(__name__)
Status = SalesforceActivityLog.Status

DESCRIPTION_LIMIT = 32000  # Task.Description, a long text area
SUBJECT_LIMIT = 255
PERMISSION_CODES = {
    "INSUFFICIENT_ACCESS_OR_READONLY",
    "INSUFFICIENT_ACCESS",
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
}


@dataclass(frozen=True)
class LogOutcome:
    """What the agent is told: ``state`` is logged, updated, up_to_date, busy or error."""

    state: str
    message: str
    log: SalesforceActivityLog | None = None


def _lease() -> timedelta:
    """Long enough for create + lookup + one retry, each up to connect + read timeout."""
    per_call = settings.SALESFORCE_CONNECT_TIMEOUT + settings.SALESFORCE_TIMEOUT
    return timedelta(seconds=3 * per_call + 5)


def new_marker() -> str:
    """A short reference for the Task's Subject, unique per conversation."""
    return "TI-" + secrets.token_hex(5).upper()


def _log_row(conversation) -> SalesforceActivityLog:
    row = SalesforceActivityLog.objects.filter(conversation=conversation).first()
    if row is not None:
        return row
    try:
        return SalesforceActivityLog.objects.create(
            workspace_id=conversation.workspace_id, conversation=conversation, marker=new_marker()
        )
    except IntegrityError:  # another click created it first: use theirs
        return SalesforceActivityLog.objects.get(conversation=conversation)


def _claim(row: SalesforceActivityLog) -> bool:
    """True if this caller now owns the row (nobody else holds an unexpired claim)."""
    now = timezone.now()
    return bool(
        SalesforceActivityLog.objects.filter(pk=row.pk)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + _lease(), attempts=F("attempts") + 1)
    )


def transcript(conversation, *, tz) -> tuple[str, int | None]:
    """The conversation as plain text (oldest first) and the id of its newest message."""
    lines, last_id = [], None
    contact_name = conversation.contact.name
    for message in conversation.messages.select_related("author").order_by("created_at", "id"):
        who = contact_name
        if message.direction == "out":
            who = getattr(message.author, "display_name", "") or "Team"
        stamp = timezone.localtime(message.created_at, tz).strftime("%Y-%m-%d %H:%M")
        lines.append(f"[{stamp}] {who}: {message.body}")
        last_id = message.pk
    text = "\n\n".join(lines)
    if len(text) > DESCRIPTION_LIMIT:  # the newest part matters most; the start is cut
        note = "[earlier messages are in the team inbox]\n\n"
        text = note + text[-(DESCRIPTION_LIMIT - len(note)) :]
    return text, last_id


def _subject(conversation, marker: str) -> str:
    tail = f" [{marker}]"
    return f"Conversation: {conversation.subject}"[: SUBJECT_LIMIT - len(tail)] + tail


def _find_by_marker(client: SalesforceClient, marker: str) -> str:
    soql = format_soql("SELECT Id FROM Task WHERE Subject LIKE '%{:like}%' LIMIT 2", f"[{marker}]")
    rows = client.query(soql).get("records", [])
    return rows[0]["Id"] if rows else ""


def _permission_message(connection: SalesforceConnection) -> str:
    return (
        f"Salesforce did not let {connection.sf_username or 'the connected Salesforce user'} "
        "create or edit Tasks. A Salesforce admin can give that user the “Edit Tasks” "
        "permission (profile or permission set); then try again. Nothing was logged."
    )


def _error_message(connection: SalesforceConnection, exc: SalesforceError) -> str:
    if isinstance(exc, QueryFailed) and exc.detail in PERMISSION_CODES:
        return _permission_message(connection)
    if isinstance(exc, QueryFailed):
        return f"Salesforce refused the Task ({exc.detail}). Nothing was logged."
    return f"{exc.user_message} Try again in a moment: it will not be logged twice."


def _create(client, row, fields: dict) -> str:
    """POST the Task; after a timeout, find it by its marker before the one retry."""
    try:
        return client.create("Task", fields)
    except Unavailable:
        found = _find_by_marker(client, row.marker)
        if found:
            return found
        return client.create("Task", fields)


def log_conversation(
    *,
    connection: SalesforceConnection,
    conversation,
    actor,
    who_id: str,
    what_id: str = "",
) -> LogOutcome:
    """Create the conversation's Task, or append the messages since to it (Update log)."""
    row = _log_row(conversation)
    if not _claim(row):
        return LogOutcome("busy", "This conversation is being logged right now.", row)
    row.refresh_from_db()
    tz = conversation.workspace.tzinfo
    text, last_id = transcript(conversation, tz=tz)
    now = timezone.now()
    try:
        client = SalesforceClient(connection)
        task_id = row.task_id
        if not task_id and row.attempts > 1:  # an earlier attempt did not finish: did it save?
            task_id = _find_by_marker(client, row.marker)
            if task_id:
                row.last_message_id = None  # what it holds is unknown: send the whole text
        if task_id:
            if row.last_message_id == last_id and row.status == Status.LOGGED:
                _release(row, task_id=task_id)
                return LogOutcome("up_to_date", "The Task already holds every message.", row)
            client.update("Task", task_id, {"Description": text})
            state = "updated"
        else:
            fields = {
                "Subject": _subject(conversation, row.marker),
                "Description": text,
                "Status": "Completed",
                "ActivityDate": timezone.localdate(now, tz).isoformat(),
                "WhoId": who_id,
            }
            if what_id and not who_id.startswith("00Q"):  # Salesforce: no WhatId with a Lead
                fields["WhatId"] = what_id
            task_id = _create(client, row, fields)
            row.who_id, row.what_id = who_id, fields.get("WhatId", "")
            state = "logged"
    except SalesforceError as exc:
        message = _error_message(connection, exc)
        SalesforceActivityLog.objects.filter(pk=row.pk).update(
            claimed_until=None,
            status=Status.LOGGED if row.task_id else Status.FAILED,
            last_error=f"{exc.code}: {exc.detail}"[:500],
        )
        logger.warning(
            "Log to Salesforce failed for conversation %s: %s (%s)",
            conversation.pk,
            exc.code,
            exc.detail,
        )
        return LogOutcome("error", message, row)
    first = not row.logged_at
    updates = {
        "task_id": task_id,
        "status": Status.LOGGED,
        "who_id": row.who_id,
        "what_id": row.what_id,
        "last_message_id": last_id,
        "updated_at": now,
        "claimed_until": None,
        "last_error": "",
    }
    if first:
        updates |= {"logged_by": actor, "logged_at": now}
    SalesforceActivityLog.objects.filter(pk=row.pk).update(**updates)
    row.refresh_from_db()
    services.record_event(
        connection=connection,
        kind=SalesforceEvent.Kind.TASK_LOGGED,
        actor=actor,
        detail=f"Conversation {conversation.pk} {'logged as' if first else 'updated in'} "
        f"Task {task_id}",
    )
    return LogOutcome(state, "Logged to Salesforce." if first else "Log updated.", row)


def _release(row: SalesforceActivityLog, *, task_id: str) -> None:
    SalesforceActivityLog.objects.filter(pk=row.pk).update(
        claimed_until=None, task_id=task_id, status=Status.LOGGED
    )


def log_for(conversation) -> SalesforceActivityLog | None:
    """The conversation's log row, if it was ever logged or tried."""
    return (
        SalesforceActivityLog.objects.select_related("logged_by")
        .filter(conversation=conversation)
        .first()
    )
