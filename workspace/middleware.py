"""A database outage shows a friendly 503 page, never a traceback."""

import logging

from django.db import DatabaseError, InterfaceError
from django.http import HttpResponse
from django.template.loader import render_to_string

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
        if isinstance(exception, (DatabaseError, InterfaceError)):
            logger.error("Database unavailable: %s", type(exception).__name__)
            return database_unavailable_response()
        return None
