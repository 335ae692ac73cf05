"""The only code that talks to Salesforce's REST API (simple-salesforce).

One client per connection. Every call: a timeout, the instance URL's own scheme and port
(see transport.py), one refresh-and-retry on INVALID_SESSION_ID shared by concurrent requests
(tokens.py),
Salesforce's errors mapped to the product's few exceptions, and the org's API usage recorded.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from django.conf import settings
from django.utils import timezone
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError as LibrarySalesforceError,
)
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from ops import metrics

from . import services, tokens
from .errors import (
    ApiAccessRequired,
    InvalidField,
    QueryFailed,
    RateLimited,
    ReconnectNeeded,
    SalesforceError,
    Unavailable,
)
from .models import SalesforceConnection
from .transport import InstanceSession

logger = logging.getLogger(__name__)
T = TypeVar("T")

API_DISABLED_CODES = {"API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"}
_INVALID_FIELD = re.compile(r"No such column '([^']+)'")
_INVALID_RELATIONSHIP = re.compile(r"Didn't understand relationship '([^']+)'")
_ENTITY = re.compile(r"on entity '([^']+)'")
_UNSUPPORTED_TYPE = re.compile(r"sObject type '([^']+)' is not supported")


_sessions = threading.local()


def _session(instance_url: str, timeout: tuple[float, float]) -> InstanceSession:
    """One HTTP session per thread and instance: keep-alive connections are reused across calls."""
    by_key = getattr(_sessions, "by_key", None)
    if by_key is None:
        by_key = _sessions.by_key = {}
    key = (instance_url, timeout)
    if key not in by_key:
        by_key[key] = InstanceSession(instance_url, timeout=timeout)
    return by_key[key]


def _error_code(exc: LibrarySalesforceError) -> tuple[str, str]:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode", ""), content[0].get("message", "")
    return "", ""


# --- Salesforce's and the network's failures -> the product's errors ---------------------
def _product_error(exc: Exception) -> SalesforceError:
    """The product's error for a failed call (the order matters: subclasses first)."""
    if isinstance(exc, SalesforceRefusedRequest):
        return _refused(exc)
    if isinstance(exc, SalesforceMalformedRequest):
        return _malformed(exc)
    if isinstance(exc, LibrarySalesforceError):
        return _not_answering(exc)
    return _network_error(exc)


def _refused(exc: SalesforceRefusedRequest) -> SalesforceError:
    """HTTP 403: the API is off for the org or the user, the daily limit, or another refusal."""
    code, _ = _error_code(exc)
    if code in API_DISABLED_CODES:
        return ApiAccessRequired(detail=code)
    if code == "REQUEST_LIMIT_EXCEEDED":
        return RateLimited(detail=code)
    return QueryFailed("Salesforce refused the request.", detail=code or "HTTP 403")


def _malformed(exc: SalesforceMalformedRequest) -> SalesforceError:
    """HTTP 400: a field, relationship or object the user cannot see, or another bad query."""
    return _bad_query(*_error_code(exc))


def _bad_query(code: str, message: str) -> SalesforceError:
    """A 400's code and message as the product's error: :class:`InvalidField` or QueryFailed."""
    invalid = _invalid_field(code, message) if code in ("INVALID_FIELD", "INVALID_TYPE") else None
    return invalid or QueryFailed(detail=code or "HTTP 400")


def _invalid_field(code: str, message: str) -> InvalidField | None:
    """Which field, relationship (a subquery's too) or object the message names, if any."""
    if relationship := _INVALID_RELATIONSHIP.search(message):
        return InvalidField(relationship.group(1), relationship=True, detail=code)
    if unsupported := _UNSUPPORTED_TYPE.search(message):
        return InvalidField("", entity=unsupported.group(1), detail=code)
    field, entity = _INVALID_FIELD.search(message), _ENTITY.search(message)
    if field or code == "INVALID_FIELD":
        return InvalidField(
            field.group(1) if field else "",
            entity=entity.group(1) if entity else "",
            detail=code,
        )
    return None


def subrequest_answer(answer: dict | None) -> dict:
    """One Composite subrequest's body (E3), or the error its status and body name, as a call
    of its own would have raised it."""
    status = (answer or {}).get("httpStatusCode") or 0
    body = (answer or {}).get("body")
    if 200 <= status < 300 and isinstance(body, dict):
        return body
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    code, message = str(first.get("errorCode") or ""), str(first.get("message") or "")
    if code in API_DISABLED_CODES:
        raise ApiAccessRequired(detail=code)
    if code == "REQUEST_LIMIT_EXCEEDED":
        raise RateLimited(detail=code)
    if status == 400:
        raise _bad_query(code, message)
    raise Unavailable("Salesforce is not answering right now.", detail=code or f"HTTP {status}")


def _not_answering(exc: LibrarySalesforceError) -> Unavailable:
    """Any other Salesforce error (5xx, 404 ...)."""
    code, _ = _error_code(exc)
    status = getattr(exc, "status", "?")
    # U2: in the agent's words; the HTTP status stays in the detail (health line, logs).
    return Unavailable("Salesforce is not answering right now.", detail=code or f"HTTP {status}")


def _network_error(exc: Exception) -> Unavailable:
    """A timeout, no connection, or a body that is not JSON."""
    if isinstance(exc, requests.Timeout):
        return Unavailable(
            "Salesforce is not answering right now "
            f"(no answer within {settings.SALESFORCE_TIMEOUT:g} seconds).",
            detail="timeout",
        )
    if isinstance(exc, requests.ConnectionError):
        return Unavailable("Salesforce could not be reached right now.", detail="connection")
    if isinstance(exc, ValueError):  # requests' JSONDecodeError is a ValueError too
        return Unavailable(
            "Salesforce sent an answer that could not be read.", detail="malformed_body"
        )
    return Unavailable("Salesforce could not be reached right now.", detail=type(exc).__name__)


class SalesforceClient:
    """REST access for one connection. Raises only :class:`SalesforceError` subclasses.

    ``SalesforceClient(connection)`` renews an expired session through tokens.py (which saves
    the new tokens) and records health on the connection (services.py).
    ``SalesforceClient.unsaved(...)`` is for tokens not stored yet (the connect's verification):
    no renewal, and the health it sees is kept in ``.health`` for the save.
    """

    def __init__(self, connection: SalesforceConnection) -> None:
        if not connection.is_connected:
            raise (
                ReconnectNeeded()
                if connection.status == connection.Status.RECONNECT_NEEDED
                else (Unavailable("Salesforce is not connected.", detail="not_connected"))
            )
        self.connection = connection
        self.instance_url = connection.instance_url
        self._token = connection.access_token
        self.health: dict[str, Any] = {}
        self.timeout = (settings.SALESFORCE_CONNECT_TIMEOUT, settings.SALESFORCE_TIMEOUT)

    @classmethod
    def unsaved(cls, *, instance_url: str, access_token: str) -> SalesforceClient:
        client = cls.__new__(cls)
        client.connection = None
        client.instance_url, client._token, client.health = instance_url, access_token, {}
        client.timeout = (settings.SALESFORCE_CONNECT_TIMEOUT, settings.SALESFORCE_TIMEOUT)
        return client

    # --- public calls --------------------------------------------------------------------
    def query(self, soql: str) -> dict:
        return self._call(lambda sf: sf.query(soql), "query")

    def composite(self, subrequests: list[dict]) -> dict:
        """ONE Composite request (E7): up to 25 subrequests, counted as one API call."""
        body = {"allOrNone": False, "compositeRequest": subrequests}
        return self._call(lambda sf: sf.restful("composite", method="POST", json=body), "composite")

    def tooling_query(self, soql: str) -> dict:
        """A Tooling API query (E7: PlatformEventChannelMember)."""
        return self._call(
            lambda sf: sf.restful("tooling/query", params={"q": soql}), "tooling_query"
        )

    def search(self, sosl: str) -> dict:
        """A SOSL search (E2, A3): ``{"searchRecords": [...]}``."""
        return self._call(lambda sf: sf.search(sosl), "search")

    def describe_contact(self) -> dict:
        return self._call(lambda sf: sf.Contact.describe(), "describe")

    def describe(self, sobject: str) -> dict:
        """One object's describe (E1, E3: Opportunity, Account)."""
        return self._call(lambda sf: getattr(sf, sobject).describe(), "describe")

    def create(self, sobject: str, fields: dict) -> str:
        """A5: create one record; returns its id. The only writes are the agent tools' Tasks."""
        return self._call(lambda sf: getattr(sf, sobject).create(fields), "create")["id"]

    def update(self, sobject: str, record_id: str, fields: dict) -> None:
        """A5: update one record (204)."""
        self._call(lambda sf: getattr(sf, sobject).update(record_id, fields), "update")

    # --- machinery -----------------------------------------------------------------------
    def _salesforce(self, access_token: str) -> Salesforce:
        return Salesforce(
            instance_url=self.instance_url,
            session_id=access_token,
            version=settings.SALESFORCE_API_VERSION,
            session=_session(self.instance_url, self.timeout),
        )

    def _call(self, request: Callable[[Salesforce], T], operation: str) -> T:
        # An expired session is renewed and the call retried. The token saved by another
        # request may itself have expired since, so the renewal may run twice; each time
        # tokens.py sends a refresh grant only when the stored token is the one that failed.
        token = self._token
        try:
            for attempt in range(3):
                sf = self._salesforce(token)
                try:
                    with metrics.salesforce_call(operation):  # V2, V3: counted and logged
                        result = self._send(sf, request)
                    break
                except SalesforceExpiredSession as exc:
                    if attempt == 2 or self.connection is None:
                        raise Unavailable(
                            "Salesforce rejected a freshly renewed session.",
                            detail="INVALID_SESSION_ID",
                        ) from exc
                    token = self._token = tokens.current_access_token(self.connection, stale=token)
                    # E5: the renewal may have named a new instance (a My Domain change).
                    self.instance_url = self.connection.instance_url
        except SalesforceError as exc:
            self._record_failure(exc)
            raise
        self._record_success(sf)
        return result

    def _send(self, sf: Salesforce, request: Callable[[Salesforce], T]) -> T:
        """One HTTP call; Salesforce's and the network's failures become the product's errors."""
        try:
            return request(sf)
        except SalesforceExpiredSession:
            raise  # _call renews the session and retries
        except (LibrarySalesforceError, requests.RequestException, ValueError) as exc:
            if isinstance(exc, SalesforceRefusedRequest):
                self._record_usage(sf)  # a refusal still reports the org's API usage (B3)
            raise _product_error(exc) from exc

    # --- health (B3) --------------------------------------------------------------------
    @staticmethod
    def _usage_fields(sf: Salesforce) -> dict[str, Any]:
        usage = getattr(sf, "api_usage", {}) or {}
        api = usage.get("api-usage")
        if api is None:
            return {}
        return {
            "api_usage_used": api.used,
            "api_usage_max": api.total,
            "api_usage_at": timezone.now(),
        }

    def _save_health(self, fields: dict[str, Any]) -> dict[str, Any]:
        self.health.update(fields)
        if self.connection is not None:
            services.record_health(self.connection, **fields)
        return fields

    def _record_usage(self, sf: Salesforce) -> dict[str, Any]:
        return self._save_health(self._usage_fields(sf))

    def _record_success(self, sf: Salesforce) -> None:
        # One UPDATE for usage and success: this runs on every cold lookup.
        self._save_health({**self._usage_fields(sf), "last_success_at": timezone.now()})
        if self.connection is not None:
            services.mark_recovered(self.connection)  # E8: no longer Degraded

    def _record_failure(self, exc: SalesforceError) -> None:
        text = f"{exc.user_message} [{exc.detail}]" if exc.detail else exc.user_message
        now = timezone.now()
        self._save_health({"last_error_at": now, "last_error": text[:300]})
        if self.connection is not None and not isinstance(exc, ReconnectNeeded):
            services.mark_degraded(self.connection, at=now, what=text[:300])  # E8
        logger.warning(
            "Salesforce call failed for connection %s: %s (%s)",
            self.connection.pk if self.connection else "(not saved)",
            exc.code,
            exc.detail,
        )
