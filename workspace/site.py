"""The product's public address (H3): every link that leaves the request (emails, the OAuth
callback) starts with ``SITE_URL``, never with the request's Host header, which a client chooses
(ALLOWED_HOSTS narrows it; a wildcard would hand it to an attacker)."""

from __future__ import annotations

from django.conf import settings

LOCAL_SITE_URL = "http://127.0.0.1:8000"


def site_url(request=None) -> str:
    """``SITE_URL``; without it (allowed only with DEBUG) the request's own address, or the
    local run's address for a command."""
    if settings.SITE_URL:
        return settings.SITE_URL
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return LOCAL_SITE_URL
