"""Every write on a workspace's Salesforce connection, one function each (HackSoft-style services).

Each owns what must go with its write, so no caller can forget it:
- anything that changes what the sidebar would show bumps the cache generation (cached lookups
  carry it in their keys and become unreachable at once);
- anything an admin should be able to trace leaves an audit event (B5).

Names (docs/architecture.md, "Naming writes"): ``set_`` an admin's setting, ``record_`` a fact
Salesforce or a call reported, ``mark_`` a state the connection enters, ``drop_`` what leaves.

Conditional writes (``connected_at`` in the filter) only touch the connection the caller read:
never one that was disconnected or reconnected meanwhile.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ops import metrics

from .describe import field_meta_from_describe
from .errors import AlreadyConnected
from .models import (
    SalesforceConnection,
    SalesforceEvent,
    SalesforceReplayPosition,
    default_field_meta,
    default_fields,
)

logger = logging.getLogger(__name__)
Kind = SalesforceEvent.Kind
Status = SalesforceConnection.Status


def record_event(*, connection: SalesforceConnection, kind: Kind, actor=None, detail: str = ""):
    """B5: who did what to the connection, and when."""
    return SalesforceEvent.objects.create(
        workspace_id=connection.workspace_id,
        connection=connection,
        kind=kind,
        actor=actor,
        detail=detail[:500],
    )


def _changed(connection: SalesforceConnection, kind: Kind, *, actor=None, detail: str) -> None:
    """What the sidebar would show changed: cached answers go, and the change is audited."""
    drop_cached_answers(connection)
    record_event(connection=connection, kind=kind, actor=actor, detail=detail)


def drop_cached_answers(connection: SalesforceConnection) -> None:
    """Every cached Salesforce answer of this connection becomes unreachable."""
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        cache_generation=F("cache_generation") + 1
    )
    connection.refresh_from_db(fields=["cache_generation"])


# --- tokens (S15, T1, T2, T5) -----------------------------------------------------------------
def record_refreshed_tokens(
    connection: SalesforceConnection,
    *,
    connected_at: datetime | None,
    access_token: str,
    refresh_token: str,
    instance_url: str = "",
) -> bool:
    """T1: both tokens and the refresh time in ONE conditional write. False if it matched none.

    E5: a My Domain change moves the org's instance; every token answer names the current one
    (already checked to be a Salesforce address), so it replaces the stored one in the same write.
    """
    now = timezone.now()
    fields: dict[str, Any] = {
        "access_token": access_token,  # both encrypted by the field
        "refresh_token": refresh_token,  # the rotated one, or the same when not rotated
        "last_refreshed_at": now,
    }
    if instance_url:
        fields["instance_url"] = instance_url
    saved = SalesforceConnection.objects.filter(
        pk=connection.pk, status=Status.CONNECTED, connected_at=connected_at
    ).update(**fields)
    if saved:
        moved = instance_url and instance_url != connection.instance_url
        for name, value in fields.items():
            setattr(connection, name, value)
        if moved:
            logger.info("Salesforce connection %s: the instance moved (My Domain)", connection.pk)
    return bool(saved)


def mark_reconnect_needed(
    connection: SalesforceConnection, *, reason: str, detail: str, actor=None
) -> bool:
    """Salesforce no longer accepts this connection's tokens: admins must reconnect (S15, B5).

    The refresh token stays, so Disconnect can still try to revoke it (T6). True if it changed.
    """
    updated = SalesforceConnection.objects.filter(
        pk=connection.pk, status=Status.CONNECTED, connected_at=connection.connected_at
    ).update(
        status=Status.RECONNECT_NEEDED,
        access_token="",
        reconnect_reason=reason,
        reconnect_detail=detail[:500],
    )
    connection.status, connection.access_token = Status.RECONNECT_NEEDED, ""
    connection.reconnect_reason, connection.reconnect_detail = reason, detail[:500]
    if updated:
        metrics.reconnect_needed(reason)
        drop_cached_answers(connection)
        record_event(connection=connection, kind=Kind.RECONNECT_NEEDED, actor=actor, detail=detail)
        logger.warning("Salesforce connection %s needs reconnecting (%s)", connection.pk, reason)
        from .notify import reconnect_needed  # E8: Owners and Managers hear of it, once

        reconnect_needed(connection)
    return bool(updated)


# --- fields (S6) ------------------------------------------------------------------------------
@transaction.atomic
def set_fields(
    connection: SalesforceConnection, *, paths: list[str], field_meta: dict, actor
) -> None:
    """The admin's choice of sidebar fields, in order."""
    before = list(connection.field_names)
    connection.field_names = list(paths)
    connection.field_meta = field_meta
    connection.dropped_fields = []
    connection.save(update_fields=["field_names", "field_meta", "dropped_fields"])
    _changed(
        connection,
        Kind.FIELDS_CHANGED,
        actor=actor,
        detail=f"{', '.join(before)} → {', '.join(paths)}",
    )


@transaction.atomic
def set_account_fields(
    connection: SalesforceConnection, *, paths: list[str], field_meta: dict, actor
) -> None:
    """E3: the Account fields shown for a matched person account, in order (kept apart from
    the Contact fields: business contacts never show them)."""
    before = list(connection.account_fields)
    if before == list(paths):
        return
    connection.account_fields = list(paths)
    connection.account_field_meta = field_meta
    connection.save(update_fields=["account_fields", "account_field_meta"])
    _changed(
        connection,
        Kind.FIELDS_CHANGED,
        actor=actor,
        detail=f"Person account fields: {', '.join(before) or 'none'} → "
        f"{', '.join(paths) or 'none'}",
    )


def _set(connection: SalesforceConnection, name: str, value, *, kind: Kind, actor, detail) -> bool:
    """One setting of the connection, audited, effective at once. True if it changed."""
    if getattr(connection, name) == value:
        return False
    setattr(connection, name, value)
    connection.save(update_fields=[name])
    _changed(connection, kind, actor=actor, detail=detail)
    return True


def set_phone_matching(connection: SalesforceConnection, *, mode: str, actor) -> bool:
    """P2: exact or any format; takes effect at once (new cache generation). True if changed."""
    mode = SalesforceConnection.PhoneMatching(mode)
    before = connection.get_phone_matching_display()
    detail = f"{before} → {mode.label}"
    return _set(
        connection, "phone_matching", mode, kind=Kind.PHONE_MATCHING, actor=actor, detail=detail
    )


def set_lead_matching(connection: SalesforceConnection, *, on: bool, actor) -> bool:
    """R3: also look for a Lead when no Contact matches; audited, at once. True if changed."""
    detail = "Leads are looked up when no Contact matches" if on else "Contacts only"
    return _set(connection, "match_leads", on, kind=Kind.LEAD_MATCHING, actor=actor, detail=detail)


def set_live_updates(connection: SalesforceConnection, *, on: bool, actor) -> bool:
    """F2: Change Data Capture events invalidate the sidebar's cache; audited. True if changed.

    Either way the cache starts over (new generation): entries stored under the other rule
    (900 s with a listener, 60 s without) must not outlive the switch.
    """
    detail = (
        "Live updates on: Salesforce's change events refresh the sidebar within seconds"
        if on
        else f"Live updates off: an open sidebar re-reads Salesforce once its copy is {settings.SALESFORCE_CACHE_SECONDS} s old"
    )
    return _set(connection, "live_updates", on, kind=Kind.LIVE_UPDATES, actor=actor, detail=detail)


@transaction.atomic
def set_settings(
    connection: SalesforceConnection,
    *,
    phone_matching: str,
    match_leads: bool,
    live_updates: bool | None,
    actor,
) -> list[str]:
    """M1: the Manage page's one form: every setting the admin changed, saved together.

    ``live_updates`` is None when the form did not show the switch (not connected). Returns the
    names of the settings that changed (each audited by its own setter).
    """
    changed = []
    if set_phone_matching(connection, mode=phone_matching, actor=actor):
        changed.append("phone matching")
    if set_lead_matching(connection, on=match_leads, actor=actor):
        changed.append("Lead matching")
    if live_updates is not None and set_live_updates(connection, on=live_updates, actor=actor):
        changed.append("live updates")
    return changed


def record_replay_position(
    connection_id: int,
    topic: str,
    *,
    replay_id: bytes,
    last_event_at: datetime | None = None,
    received_at: datetime | None = None,
) -> None:
    """F2: the listener processed ``topic`` up to ``replay_id`` (after invalidating for it)."""
    defaults: dict[str, Any] = {"replay_id": replay_id, "updated_at": timezone.now()}
    if last_event_at is not None:
        defaults["last_event_at"] = last_event_at
    if received_at is not None:
        defaults["last_received_at"] = received_at
    # No update_or_create: its read-then-write transaction is what SQLite refuses under load.
    rows = SalesforceReplayPosition.objects.filter(connection_id=connection_id, topic=topic)
    if not rows.update(**defaults):
        try:
            SalesforceReplayPosition.objects.create(
                connection_id=connection_id, topic=topic, **defaults
            )
        except IntegrityError:  # created meanwhile (a lease handover): update it
            rows.update(**defaults)


def drop_replay_position(connection_id: int, topic: str) -> None:
    """F2: Salesforce refused the stored replay id (older than its retention): start over."""
    SalesforceReplayPosition.objects.filter(connection_id=connection_id, topic=topic).delete()


def set_related_lists(connection: SalesforceConnection, *, names: list[str], actor) -> None:
    """R2: the admin's related lists (a list chosen again is no longer noted as dropped)."""
    before = list(connection.related_lists)
    connection.related_lists = list(names)
    connection.dropped_related = [n for n in connection.dropped_related if n not in names]
    connection.save(update_fields=["related_lists", "dropped_related"])
    if before != connection.related_lists:
        _changed(
            connection,
            Kind.FIELDS_CHANGED,
            actor=actor,
            detail=f"related lists: {', '.join(before) or 'none'} → {', '.join(names) or 'none'}",
        )


def drop_related_list(connection: SalesforceConnection, name: str, reason: str) -> None:
    """R2: Salesforce refused a related list (the user cannot see its object): it goes."""
    connection.related_lists = [n for n in connection.related_lists if n != name]
    connection.dropped_related = sorted({*connection.dropped_related, name})
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        related_lists=connection.related_lists, dropped_related=connection.dropped_related
    )
    _changed(connection, Kind.FIELD_DROPPED, detail=f"Related list {name} removed: {reason}")


def drop_fields(connection: SalesforceConnection, doomed: list[str]) -> None:
    """Fields Salesforce no longer knows leave the sidebar; admins see a note."""
    connection.field_names = [p for p in connection.field_names if p not in doomed]
    connection.dropped_fields = sorted(set(connection.dropped_fields) | set(doomed))
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        field_names=connection.field_names, dropped_fields=connection.dropped_fields
    )
    _changed(
        connection,
        Kind.FIELD_DROPPED,
        detail=f"Salesforce no longer knows {', '.join(doomed)}; removed from the sidebar.",
    )


# --- the org's configuration (issue 24: E1, E2, E3) ------------------------------------------
def record_org_profile(connection: SalesforceConnection, *, profile) -> bool:
    """What describe says of the org (currencies, encryption, person accounts). True if changed.

    A change changes the lookup query, so cached answers go (new generation) and it is audited.
    """
    values = {
        "multi_currency": profile.multi_currency,
        "person_accounts": profile.person_accounts,
        "match_field_info": profile.match_field_info,
    }
    if profile.person_record_type is not None:  # E3: None = not read this time
        values["person_record_type_id"] = profile.person_record_type
    changed = {k: v for k, v in values.items() if getattr(connection, k) != v}
    if not changed:
        return False
    for name, value in changed.items():
        setattr(connection, name, value)
    SalesforceConnection.objects.filter(pk=connection.pk).update(**changed)
    _changed(
        connection,
        Kind.FIELDS_CHANGED,
        detail="Salesforce's describe changed: " + ", ".join(sorted(changed)),
    )
    return True


# --- degraded (E8) ----------------------------------------------------------------------------
def mark_degraded(connection: SalesforceConnection, *, at, what: str) -> None:
    """Lookups started failing: the connection is Degraded from the first failure (audited)."""
    if connection.pk is None or connection.degraded_since is not None:
        return
    if SalesforceConnection.objects.filter(pk=connection.pk, degraded_since__isnull=True).update(
        degraded_since=at
    ):
        connection.degraded_since = at
        record_event(connection=connection, kind=Kind.DEGRADED, detail=what)


def mark_recovered(connection: SalesforceConnection) -> None:
    """A call worked again: no longer Degraded (audited with how long it lasted)."""
    if connection.pk is None or connection.degraded_since is None:
        return
    since = connection.degraded_since
    if SalesforceConnection.objects.filter(pk=connection.pk, degraded_since__isnull=False).update(
        degraded_since=None
    ):
        minutes = max(0, int((timezone.now() - since).total_seconds() // 60))
        record_event(
            connection=connection,
            kind=Kind.RECOVERED,
            detail=f"Salesforce answered again after {minutes} min of failures.",
        )
    connection.degraded_since = None


# --- health (B3) ------------------------------------------------------------------------------
def record_health(connection: SalesforceConnection, **fields: Any) -> None:
    """API usage, last success, last error: one UPDATE (this runs on every Salesforce call)."""
    if not fields:
        return
    if "last_error" in fields:
        fields["last_error"] = fields["last_error"][:300]
    if connection.pk is not None:
        SalesforceConnection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)


# --- connect and disconnect (S3, S4, S14) -----------------------------------------------------
def record_connect_failure(*, workspace, actor, reason: str) -> SalesforceEvent:
    """U5: a connect that failed after consent (or was denied) leaves a trace in the first tab:
    an Activity entry, and the connection's "Last error" when there is a connection."""
    connection = SalesforceConnection.objects.filter(workspace=workspace).first()
    if connection is not None:
        record_health(
            connection, last_error=f"Connect failed: {reason}", last_error_at=timezone.now()
        )
    return SalesforceEvent.objects.create(
        workspace=workspace,
        connection=connection,
        kind=Kind.CONNECT_FAILED,
        actor=actor,
        detail=reason[:500],
    )


@transaction.atomic
def record_connected(
    *,
    workspace,
    actor,
    login_url: str,
    tokens,
    identity: dict,
    org_id: str,
    org_name: str,
    currency: str,
    describe: dict | None,
    health: dict[str, Any],
    profile=None,
    auth: dict | None = None,
) -> SalesforceConnection:
    """The connect's save (S3, S4, T4, E4), verified tokens only: one transaction, the row locked.

    A reconnect keeps the row and its field set (reset when the org is another one); nothing
    cached for the old tokens is reachable after it, and replay positions go too (the org may be
    another one, and the cache starts over anyway). Audited as connected or reconnected.
    """
    connection = (
        SalesforceConnection.objects.select_for_update().filter(workspace=workspace).first()
    )
    if connection is not None and connection.status == Status.CONNECTED:
        raise AlreadyConnected()  # someone connected while this person was at Salesforce
    reconnect = connection is not None and bool(connection.org_id)
    if connection is None:
        connection = SalesforceConnection(workspace=workspace)
    notes = []
    if reconnect and connection.org_id != org_id:
        connection.field_names = default_fields()
        connection.field_meta = default_field_meta()
        connection.dropped_fields = []
        notes.append(f"a different org than before ({connection.org_id}): field set reset")
    if describe is not None:
        connection.field_meta = {
            **(connection.field_meta or {}),
            **field_meta_from_describe(describe, list(connection.field_names)),
        }
    now = timezone.now()
    connection.status = Status.CONNECTED
    connection.login_url = login_url
    connection.org_id = org_id
    connection.org_name = org_name
    connection.currency = currency
    if profile is not None:
        connection.multi_currency = profile.multi_currency
        connection.person_accounts = profile.person_accounts
        connection.match_field_info = profile.match_field_info
        connection.person_record_type_id = profile.person_record_type or ""
    connection.instance_url = tokens.instance_url
    connection.identity_url = tokens.identity_url
    connection.sf_user_id = str(identity.get("user_id") or "")
    connection.sf_username = str(identity.get("username") or "")
    connection.access_token = tokens.access_token
    connection.refresh_token = tokens.refresh_token
    connection.connected_by = actor
    connection.connected_at = now
    connection.last_refreshed_at = now
    connection.reconnect_reason, connection.reconnect_detail = "", ""
    connection.reconnect_notified_at = connection.degraded_since = None  # E8: a new incident
    # E4: how it was connected; the app's key and secret only for the client credentials flow.
    auth = auth or {}
    connection.auth_flow = auth.get("flow", SalesforceConnection.AuthFlow.WEB_SERVER)
    connection.app_client_id = auth.get("client_id", "")
    connection.app_client_secret = auth.get("client_secret", "")
    connection.disconnected_at = None
    connection.last_error, connection.last_error_at = "", None
    for name in ("api_usage_used", "api_usage_max", "api_usage_at", "last_success_at"):
        if health.get(name) is not None:
            setattr(connection, name, health[name])
    connection.save()
    detail = f"{org_name or org_id} ({org_id}) as {connection.sf_username}"
    if notes:
        detail += "; " + "; ".join(notes)
    SalesforceReplayPosition.objects.filter(connection=connection).delete()
    _changed(
        connection, Kind.RECONNECTED if reconnect else Kind.CONNECTED, actor=actor, detail=detail
    )
    logger.info("Salesforce connected for workspace %s (org %s)", workspace.pk, org_id)
    return connection


@transaction.atomic
def drop_tokens(
    connection: SalesforceConnection, *, actor, revoked: bool, revoke_error: str
) -> None:
    """Disconnect (S14): the tokens go, the row, its fields and the audit trail stay."""
    connection.status = Status.DISCONNECTED
    connection.access_token = ""
    connection.refresh_token = ""
    connection.disconnected_at = timezone.now()
    connection.reconnect_reason, connection.reconnect_detail = "", ""
    connection.app_client_secret = ""  # E4: an integration user's secret goes with the tokens
    connection.save(
        update_fields=[
            "status",
            "access_token",
            "refresh_token",
            "app_client_secret",
            "disconnected_at",
            "reconnect_reason",
            "reconnect_detail",
        ]
    )
    _changed(
        connection,
        Kind.DISCONNECTED,
        actor=actor,
        detail=f"{connection.org_name or connection.org_id} ({connection.org_id})",
    )
    if not revoked:
        record_event(
            connection=connection,
            kind=Kind.REVOKE_FAILED,
            actor=actor,
            detail=f"{revoke_error} The tokens were deleted here; revoke the app's access "
            "in Salesforce (Setup > Connected Apps OAuth Usage) to be sure.",
        )


# --- agent tools (issue 23: A5, A6) -------------------------------------------------------------
def set_activity_logging(connection: SalesforceConnection, *, on: bool, actor) -> bool:
    """A5: agents may log conversations as Tasks (the one write to Salesforce); audited."""
    detail = (
        "Log to Salesforce on: agents can log a conversation as a completed Task"
        if on
        else "Log to Salesforce off: the product only reads Salesforce"
    )
    if connection.log_activities == on:
        return False
    connection.log_activities = on
    connection.save(update_fields=["log_activities"])
    record_event(connection=connection, kind=Kind.ACTIVITY_LOGGING, actor=actor, detail=detail)
    return True


def set_owner_routing(
    connection: SalesforceConnection,
    *,
    on: bool,
    priority_field: str,
    priority_value: str,
    actor,
) -> bool:
    """A6: route new conversations by the Contact Owner's email; a picklist value marks them
    "Priority". Audited; the lookup then brings Owner.Email (a new cache generation)."""
    before = (
        connection.route_by_owner,
        connection.priority_field,
        connection.priority_value,
    )
    after = (on, priority_field if on else "", priority_value if on else "")
    if before == after:
        return False
    connection.route_by_owner, connection.priority_field, connection.priority_value = after
    if on and not before[0]:
        connection.routing_since = timezone.now()  # only conversations from now on are routed
    connection.save(
        update_fields=["route_by_owner", "priority_field", "priority_value", "routing_since"]
    )
    rule = f"; Priority when {priority_field} = {priority_value}" if on and priority_field else ""
    _changed(
        connection,
        Kind.ROUTING,
        actor=actor,
        detail=("Routing by Salesforce owner on" + rule)
        if on
        else "Routing by Salesforce owner off",
    )
    return True
