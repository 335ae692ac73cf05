"""Hardening tests (issue 6) reuse the Salesforce integration's live-emulator fixtures."""

from tests.integrations.salesforce.conftest import connection, emulator, sf  # noqa: F401
