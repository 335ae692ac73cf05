"""A webhook receiver on loopback and Acme's endpoint pointing at it (V3: the delivery's
request id). Kept here rather than imported from tests/api: conftests import up the tree only."""

from tests.webhook_support import endpoint, receiver  # noqa: F401 - fixtures
