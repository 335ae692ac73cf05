from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.encryption import EncryptedTextField
from workspace.models import Workspace

from .related import RELATED

DEFAULT_FIELDS = [
    "Name",
    "Email",
    "Phone",
    "MobilePhone",
    "Title",
    "Account.Name",
    "LeadSource",
    "Owner.Name",
    "LastModifiedDate",
]

# Labels for the default fields until the org's describe has been read.
DEFAULT_FIELD_META = {
    "Name": {"label": "Full Name", "type": "string"},
    "Email": {"label": "Email", "type": "email"},
    "Phone": {"label": "Business Phone", "type": "phone"},
    "MobilePhone": {"label": "Mobile Phone", "type": "phone"},
    "Title": {"label": "Title", "type": "string"},
    "Account.Name": {"label": "Account Name", "type": "string"},
    "LeadSource": {"label": "Lead Source", "type": "picklist"},
    "Owner.Name": {"label": "Contact Owner", "type": "string"},
    "LastModifiedDate": {"label": "Last Modified Date", "type": "datetime"},
}


# R1: related lists in the Contact lookup, by child relationship name, with their objects.
RELATED_LISTS = {
    name: {"label": related.label, "objects": related.objects} for name, related in RELATED.items()
}


def default_related_lists() -> list[str]:
    return list(RELATED_LISTS)


def default_fields() -> list[str]:
    return list(DEFAULT_FIELDS)


def default_field_meta() -> dict:
    return {k: dict(v) for k, v in DEFAULT_FIELD_META.items()}


class SalesforceConnection(models.Model):
    """The workspace's one Salesforce org (S4). Disconnect keeps the row, its fields and audit."""

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        RECONNECT_NEEDED = "reconnect_needed", "Reconnect needed"
        DISCONNECTED = "disconnected", "Not connected"

    class PhoneMatching(models.TextChoices):
        """P2: how a contact's phone is compared with Salesforce's Phone and MobilePhone."""

        EXACT = "exact", "Exact (character for character)"
        ANY_FORMAT = "any_format", "Same number in any format"

    class ReconnectReason(models.TextChoices):
        """Why Salesforce stopped accepting this connection (T2, T4, T5); shown to admins."""

        REFRESH_REJECTED = "refresh_rejected", "Salesforce refused the stored refresh token"
        APPROVAL_LIMIT = "approval_limit", "Replaced by a newer approval of the same user"

    class AuthFlow(models.TextChoices):
        """E4: a person's browser consent, or the org's integration user (client credentials)."""

        WEB_SERVER = "web_server", "Browser consent (OAuth web server flow)"
        CLIENT_CREDENTIALS = "client_credentials", "Integration user (client credentials flow)"

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="salesforce_connection"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DISCONNECTED)
    login_url = models.URLField(max_length=255)
    org_id = models.CharField(max_length=18, blank=True)
    org_name = models.CharField(max_length=255, blank=True)
    instance_url = models.URLField(max_length=255, blank=True)
    identity_url = models.URLField(max_length=255, blank=True)
    sf_user_id = models.CharField(max_length=18, blank=True)
    sf_username = models.CharField(max_length=255, blank=True)
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    # The last time Salesforce issued tokens for this connection (connect or refresh grant):
    # the keep-alive (T3) refreshes connections older than SALESFORCE_KEEPALIVE_DAYS.
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    reconnect_reason = models.CharField(max_length=20, choices=ReconnectReason.choices, blank=True)
    reconnect_detail = models.CharField(max_length=500, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)

    # The Contact fields shown in the sidebar, in order (S6), and what describe said of them.
    field_names = models.JSONField(default=default_fields)
    field_meta = models.JSONField(default=default_field_meta)
    dropped_fields = models.JSONField(default=list, blank=True)  # INVALID_FIELD, auto-dropped
    phone_matching = models.CharField(
        max_length=12, choices=PhoneMatching.choices, default=PhoneMatching.EXACT
    )
    # R1, R2: the related lists shown (child relationship names); those Salesforce refused.
    related_lists = models.JSONField(default=default_related_lists, blank=True)
    # The org's currency (Organization.DefaultCurrencyIsoCode), for Opportunity amounts (R1).
    currency = models.CharField(max_length=3, blank=True)
    dropped_related = models.JSONField(default=list, blank=True)
    # R3: when no Contact matches, also look for a Lead (off: the help page's Contacts-only rule).
    match_leads = models.BooleanField(default=False)
    # F2: Change Data Capture events (Pub/Sub API) invalidate cached lookups within seconds.
    live_updates = models.BooleanField(default=False)
    # A5: agents may log a conversation as a completed Task (off: the product stays read-only).
    log_activities = models.BooleanField(default=False)
    # A6: new conversations are assigned to the teammate who owns the matching Contact; a
    # Contact picklist value (priority_field = priority_value) marks them "Priority".
    route_by_owner = models.BooleanField(default=False)
    routing_since = models.DateTimeField(null=True, blank=True)
    priority_field = models.CharField(max_length=80, blank=True)
    priority_value = models.CharField(max_length=255, blank=True)
    # Bumped on disconnect and field changes: cache keys carry it (the cache can't delete by prefix).
    cache_generation = models.PositiveIntegerField(default=1)

    # Issue 24: how this org is configured, read from describe at connect and by the daily
    # keep-alive run (E1, E2, E3), and how it was connected (E4).
    multi_currency = models.BooleanField(default=False)  # E1: Opportunity has CurrencyIsoCode
    person_accounts = models.BooleanField(default=False)  # E3: Contact has IsPersonAccount
    # E3: the org's person account record type (RecordType.IsPersonType), for "Create in
    # Salesforce"; and the Account fields shown for a matched person account, with their labels.
    person_record_type_id = models.CharField(max_length=18, blank=True)
    account_fields = models.JSONField(default=list, blank=True)
    account_field_meta = models.JSONField(default=dict, blank=True)
    # E2: per match field (Email, Phone, MobilePhone): {"filterable", "encrypted", "scheme"}.
    match_field_info = models.JSONField(default=dict, blank=True)
    auth_flow = models.CharField(
        max_length=20, choices=AuthFlow.choices, default=AuthFlow.WEB_SERVER
    )
    # E4: the admin's own External Client App (client credentials flow); empty otherwise.
    app_client_id = EncryptedTextField(blank=True)
    app_client_secret = EncryptedTextField(blank=True)
    # E8: lookups have been failing since (cleared by the next success); reconnect email sent.
    degraded_since = models.DateTimeField(null=True, blank=True)
    reconnect_notified_at = models.DateTimeField(null=True, blank=True)
    # E7: the last setup check (lines with their status) and when it ran.
    setup_check = models.JSONField(default=dict, blank=True)

    # Health (B3).
    api_usage_used = models.PositiveIntegerField(null=True, blank=True)
    api_usage_max = models.PositiveIntegerField(null=True, blank=True)
    api_usage_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org_id"], name="sf_conn_org")]

    def __str__(self) -> str:
        return f"{self.workspace} → {self.org_name or self.org_id or 'Salesforce'}"

    @property
    def is_connected(self) -> bool:
        return self.status == self.Status.CONNECTED and bool(self.access_token)

    @property
    def api_usage_share(self) -> float | None:
        if self.api_usage_used is None or not self.api_usage_max:
            return None
        return self.api_usage_used / self.api_usage_max

    @property
    def setup_checked_at(self) -> datetime | None:
        """When the setup check (E7) last ran: its stored ISO time, as a datetime."""
        try:
            return datetime.fromisoformat((self.setup_check or {}).get("checked_at") or "")
        except ValueError:
            return None

    def record_view_url(self, record_id: str, sobject: str = "Contact") -> str:
        """View in Salesforce (S10): the Lightning record page on the org's instance."""
        return f"{self.instance_url.rstrip('/')}/lightning/r/{sobject}/{record_id}/view"

    def related_list_url(self, contact_id: str, relationship: str, sobject: str = "Contact") -> str:
        """R1: "N more" opens the Contact's (E3: a person account's) related list in Lightning."""
        base = self.instance_url.rstrip("/")
        return f"{base}/lightning/r/{sobject}/{contact_id}/related/{relationship}/view"

    def new_contact_url(self, *, name: str, email: str, phone: str) -> str:
        """R4: Salesforce's new-Contact page, prefilled (``defaultFieldValues``).

        As Salesforce documents it for links (``defaultFieldValues=Field=value,Field=value``, each
        value URL-encoded as its ``URLENCODE`` does, so a comma or "=" in a value cannot split the
        list).
        """
        first, _, last = name.strip().rpartition(" ")
        values = {"FirstName": first, "LastName": last, "Email": email, "Phone": phone}
        pairs = ",".join(f"{k}={quote(v, safe='')}" for k, v in values.items() if v)
        return f"{self.instance_url.rstrip('/')}/lightning/o/Contact/new?defaultFieldValues={pairs}"

    def new_person_account_url(self, *, name: str, email: str, phone: str) -> str:
        """E3: Salesforce's new-Account page with the org's person record type, prefilled with
        the person fields (an Account's PersonEmail and Phone are its person contact's)."""
        first, _, last = name.strip().rpartition(" ")
        values = {"FirstName": first, "LastName": last, "PersonEmail": email, "Phone": phone}
        pairs = ",".join(f"{k}={quote(v, safe='')}" for k, v in values.items() if v)
        record_type = quote(self.person_record_type_id, safe="")
        return (
            f"{self.instance_url.rstrip('/')}/lightning/o/Account/new?recordTypeId={record_type}"
            f"&defaultFieldValues={pairs}"
        )


class SalesforceEvent(models.Model):
    """Audit trail (B5): who did what to the workspace's Salesforce connection, and when."""

    class Kind(models.TextChoices):
        CONNECTED = "connected", "Connected"
        RECONNECTED = "reconnected", "Reconnected"
        DISCONNECTED = "disconnected", "Disconnected"
        REVOKE_FAILED = "revoke_failed", "Revoke at Salesforce failed"
        FIELDS_CHANGED = "fields_changed", "Fields changed"
        FIELD_DROPPED = "field_dropped", "Field dropped"
        PHONE_MATCHING = "phone_matching", "Phone matching changed"
        LEAD_MATCHING = "lead_matching", "Lead matching changed"
        RECONNECT_NEEDED = "reconnect_needed", "Reconnect needed"
        CONNECT_FAILED = "connect_failed", "Connect failed"
        LIVE_UPDATES = "live_updates", "Live updates changed"
        DEGRADED = "degraded", "Lookups failing"  # E8
        RECOVERED = "recovered", "Lookups working again"  # E8
        SETUP_CHECKED = "setup_checked", "Setup checked"  # E7
        LINKED = "linked", "Record linked"
        UNLINKED = "unlinked", "Record unlinked"
        ACTIVITY_LOGGING = "activity_logging", "Log to Salesforce changed"
        TASK_LOGGED = "task_logged", "Conversation logged"
        ROUTING = "routing", "Routing by owner changed"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="salesforce_events"
    )
    # U5: a failed first connect has no connection yet; its event still belongs to the workspace.
    connection = models.ForeignKey(
        SalesforceConnection,
        on_delete=models.CASCADE,
        related_name="events",
        null=True,
        blank=True,
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="sf_event_ws_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class SalesforceReplayPosition(models.Model):
    """F2: the last Pub/Sub replay id the listener processed, per connection and topic.

    Written only after the events before it invalidated the cache (at-least-once): a restarted
    listener resumes after it (replay preset CUSTOM) and misses nothing Salesforce still keeps.
    """

    connection = models.ForeignKey(
        SalesforceConnection, on_delete=models.CASCADE, related_name="replay_positions"
    )
    topic = models.CharField(max_length=120)  # "/data/ContactChangeEvent"
    replay_id = models.BinaryField(max_length=64)  # opaque bytes, as Salesforce sent them
    # The newest event's commit time (Salesforce's clock) and when the listener got it: the lag.
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_received_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "topic"], name="sf_replay_conn_topic")
        ]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.topic}"


class SalesforceContactLink(models.Model):
    """A2: the Salesforce record an agent picked for a contact; asked for first in the lookup."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.OneToOneField(
        "contacts.Contact", on_delete=models.CASCADE, related_name="salesforce_link"
    )
    record_id = models.CharField(max_length=18)
    sobject = models.CharField(max_length=20, default="Contact")  # Contact or Lead
    record_name = models.CharField(max_length=255, blank=True)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    linked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.contact_id} → {self.sobject} {self.record_id}"


class SalesforceActivityLog(models.Model):
    """A5: the ONE Task a conversation was logged as. The row (with its marker) exists before
    Salesforce is asked, so an answer lost to a timeout is found again by the marker."""

    class Status(models.TextChoices):
        PENDING = "pending", "Sending"
        LOGGED = "logged", "Logged"
        FAILED = "failed", "Failed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    conversation = models.OneToOneField(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="salesforce_log"
    )
    marker = models.CharField(max_length=32, unique=True)  # in the Task's Subject (filterable)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    task_id = models.CharField(max_length=18, blank=True)
    who_id = models.CharField(max_length=18, blank=True)
    what_id = models.CharField(max_length=18, blank=True)
    last_message_id = models.BigIntegerField(null=True, blank=True)  # the newest message sent
    # One caller at a time: a conditional UPDATE claims the row until this moment.
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    logged_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"{self.conversation_id} → Task {self.task_id or self.marker}"


class SalesforceRouting(models.Model):
    """A6: one routing decision per new conversation (the unique key makes it happen once)."""

    conversation = models.OneToOneField(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="salesforce_routing"
    )
    routed_at = models.DateTimeField(default=timezone.now)
    owner_email = models.CharField(max_length=255, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    priority = models.BooleanField(default=False)
    outcome = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.outcome}"
