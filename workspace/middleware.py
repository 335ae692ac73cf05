"""A database outage shows a friendly 503 page, never a traceback."""

import logging

from django.db import DatabaseError, InterfaceError
from django.shortcuts import render

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (DatabaseError, InterfaceError)):
            logger.error("Database unavailable: %s", type(exception).__name__)
            return render(request, "errors/503.html", status=503)
        return None
