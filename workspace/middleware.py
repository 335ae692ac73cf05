"""Request-wide rules: a friendly 503 when the database is down; session timeouts (T8)."""

import logging
import re
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.db import DatabaseError, DataError, InterfaceError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control

logger = logging.getLogger(__name__)


def database_unavailable_response() -> HttpResponse:
    """The 503 page, rendered WITHOUT the request: its context processors (the signed-in person,
    their workspaces) would query the very database that is down and turn the page into a 500."""
    response = HttpResponse(render_to_string("errors/503.html"), status=503)
    response["Retry-After"] = "30"
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DataError):
            # H2: a value the database cannot hold (a NUL, an out-of-range date) is bad input,
            # not an outage: no 503 with Retry-After for a client or monitor to act on.
            logger.warning("Request refused by the database: %s", type(exception).__name__)
            return HttpResponse(render_to_string("errors/400_unstorable.html"), status=400)
        if isinstance(exception, (DatabaseError, InterfaceError)):
            logger.error("Database unavailable: %s", type(exception).__name__)
            return database_unavailable_response()
        return None


# H7: bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) in UTF-8. A
# right-to-left override in a name ("invoice\u202Efdp.exe") makes the page show text in another
# order than it is stored; right-to-left scripts display correctly without them.
_BIDI_CONTROLS = re.compile(rb"\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


class BidiControlMiddleware:
    """H7: pages never carry bidi control characters, wherever a name (ours, a customer's or
    Salesforce's) is shown: removed from every HTML response, so text shows in stored order."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            not response.streaming
            and response.get("Content-Type", "").startswith("text/html")
            and _BIDI_CONTROLS.search(response.content)
        ):
            response.content = _BIDI_CONTROLS.sub(b"", response.content)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response


class PermissionsPolicyMiddleware:
    """H7: browser features the product never uses are off for it (settings.PERMISSIONS_POLICY)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


def _now() -> float:
    return time.time()


def record_sign_in(sender, request, user, **kwargs) -> None:
    """H6: the session's clocks start at sign-in (``user_logged_in``), not at the first request
    after it: otherwise a session left unused after sign-in would get its timeouts late."""
    if request is not None and hasattr(request, "session"):
        now = _now()
        request.session[SessionTimeoutMiddleware.STARTED] = now
        request.session[SessionTimeoutMiddleware.SEEN] = now


def session_ends_at(session) -> float | None:
    """When this signed-in session ends unless the person makes a request first (T8): the
    earlier of the absolute and the idle timeout, on the ``_now()`` clock; None if unknown.

    A request that holds its response open (the live stream, N1) checks it against
    ``session_over`` instead of passing this middleware again.
    """
    started = session.get(SessionTimeoutMiddleware.STARTED)
    if started is None:
        return None
    seen = session.get(SessionTimeoutMiddleware.SEEN) or started
    return min(started + settings.SESSION_ABSOLUTE_TIMEOUT, seen + settings.SESSION_IDLE_TIMEOUT)


def session_over(ends_at: float | None) -> bool:
    return ends_at is not None and _now() > ends_at


class SessionTimeoutMiddleware:
    """Signed-in sessions end after an absolute and an idle timeout (T8).

    Django's SESSION_COOKIE_AGE alone is neither: the expiry moves each time the session is
    saved. So the session records when the person signed in and when they were last seen;
    ``last_seen`` is written at most once a minute to keep most requests write-free. (The
    packaged alternatives either inject inline scripts, which the strict CSP forbids, or know
    only one of the two timeouts.)
    """

    STARTED, SEEN = "_auth_started_at", "_auth_last_seen_at"
    SEEN_RESOLUTION = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = _now()
            started = request.session.get(self.STARTED)
            seen = request.session.get(self.SEEN) or started
            if started is None:  # signed in before H6 recorded sign-ins: count from now
                request.session[self.STARTED] = request.session[self.SEEN] = now
            elif now - started > settings.SESSION_ABSOLUTE_TIMEOUT:
                return self._sign_out(request, "Your session has ended: please sign in again.")
            elif now - seen > settings.SESSION_IDLE_TIMEOUT:
                return self._sign_out(request, "You were signed out after a period of inactivity.")
            elif now - seen > self.SEEN_RESOLUTION:
                request.session[self.SEEN] = now
        response = self.get_response(request)
        if user is not None and user.is_authenticated:
            # Pages with a person's (and Salesforce's) data never go into a shared or back cache.
            patch_cache_control(response, private=True, no_store=True)
        return response

    @staticmethod
    def _sign_out(request, message: str):
        logout(request)
        messages.info(request, message)
        return redirect_to_login(request.get_full_path())


class MethodNotAllowedPageMiddleware:
    """U7: a GET on a POST-only address (a reply URL opened from history, a bookmarked action)
    gets a page that leads back, not a blank 405.

    The status stays 405 with its ``Allow`` header (docs/decisions.md: 405 for everyone), and the page is
    built from the requested path alone, so it says nothing about whether a workspace exists.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 405
            and request.method == "GET"
            and not response.content
            and not request.path.startswith("/api/")
        ):
            parent = request.path.rstrip("/").rsplit("/", 1)[0] + "/"
            page = HttpResponse(
                render_to_string("errors/405.html", {"back_url": parent}), status=405
            )
            if response.has_header("Allow"):
                page["Allow"] = response["Allow"]
            return page
        return response
