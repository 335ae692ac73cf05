"""Fixtures for the inbound API and webhooks: keys, a webhook receiver on loopback."""

from __future__ import annotations

import pytest

from api.keys import api_key_create
from tests.webhook_support import (  # noqa: F401 - fixtures
    WEBHOOK_SECRET,
    Receiver,
    endpoint,
    receiver,
)


@pytest.fixture
def api_key(acme, owner):
    """A live key for Acme: (ApiKey row, the full secret)."""
    created = api_key_create(workspace=acme, name="Test bridge", created_by=owner)
    return created.api_key, created.secret


@pytest.fixture
def globex_key(globex):
    created = api_key_create(workspace=globex, name="Globex bridge", created_by=None)
    return created.api_key, created.secret
