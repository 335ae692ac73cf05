"""The webhook receiver fixtures of tests/api, for the delivery's request id (V3)."""

from tests.api.conftest import endpoint, receiver  # noqa: F401 - fixtures
