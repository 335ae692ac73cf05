"""The webhook receiver fixtures of tests/api, for the delivery's request id (V3)."""

from tests.webhook_support import endpoint, receiver  # noqa: F401 - fixtures
