"""The product's own Salesforce errors: each carries a message an agent or admin can act on."""

from __future__ import annotations


class SalesforceError(Exception):
    """Base: ``user_message`` is safe to render (never a token, a URL with a query, or a trace)."""

    code = "error"
    user_message = "Salesforce could not be read."

    @property
    def agent_message(self) -> str:
        """What an Agent is told (E8): the same, unless the fix is an admin's job."""
        return self.user_message

    def __init__(self, user_message: str | None = None, *, detail: str = "") -> None:
        if user_message:
            self.user_message = user_message
        self.detail = detail  # for logs and the health line: an error code, never a secret
        super().__init__(self.user_message)


class NotConfigured(SalesforceError):
    code = "not_configured"
    user_message = (
        "Salesforce is not configured on this server: set SALESFORCE_CLIENT_ID and "
        "SALESFORCE_CLIENT_SECRET."
    )


class ApiAccessRequired(SalesforceError):
    """S5: the org or the authorising user has no API access."""

    code = "api_access_required"
    title = "Salesforce API access required"
    user_message = (
        "Salesforce API access required. Ask your Salesforce admin to use an edition with API "
        "access (Enterprise, Unlimited, Developer or Performance) and to give the connecting "
        "user a profile or permission set with the “API Enabled” permission, then reconnect."
    )
    agent_message = (
        "Salesforce API access required. Salesforce data is not available until it is given; "
        "a workspace Owner or Manager has been told what to change."
    )


class ReconnectNeeded(SalesforceError):
    """S15: Salesforce rejected the refresh token; an admin must connect again."""

    code = "reconnect_needed"
    user_message = "Salesforce needs to be reconnected by a workspace Owner or Manager."


class RateLimited(SalesforceError):
    code = "rate_limited"
    user_message = (
        "Salesforce's daily API limit for this org has been reached (REQUEST_LIMIT_EXCEEDED). "
        "Data will show again when the limit resets."
    )


class Unavailable(SalesforceError):
    """Timeouts, connection failures, 5xx answers and unreadable bodies."""

    code = "unavailable"
    user_message = "Salesforce is not answering right now."


class InvalidField(SalesforceError):
    """S6, R2: Salesforce refused a chosen field, a relationship, or an object the user can't see."""

    code = "invalid_field"
    user_message = "A chosen Salesforce field no longer exists."

    def __init__(
        self, field: str, *, relationship: bool = False, entity: str = "", **kwargs
    ) -> None:
        self.field = field
        self.relationship = relationship  # True: ``field`` names a relationship ("Region__r")
        self.entity = entity  # the object Salesforce named ("Case" in a subquery), if any
        super().__init__(f"Salesforce no longer knows the field {field}.", **kwargs)


class QueryFailed(SalesforceError):
    code = "query_failed"
    user_message = "Salesforce refused the lookup query."


class OAuthFailed(SalesforceError):
    """The connect flow failed: denied, bad state, code exchange refused."""

    code = "oauth_failed"
    user_message = "Connecting Salesforce did not complete."


class StateRejected(OAuthFailed):
    """The callback's ``state`` is missing, unknown, used, expired or someone else's."""

    code = "state_rejected"

    @property
    def status_code(self) -> int:
        return 403 if self.detail in ("foreign_state", "not_admin") else 400


class AlreadyConnected(SalesforceError):
    """S4: a workspace holds at most one connection."""

    code = "already_connected"
    user_message = (
        "Salesforce is already connected for this workspace. Disconnect it first to connect "
        "another org."
    )
