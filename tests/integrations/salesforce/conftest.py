"""The Salesforce integration tests' helpers and names, importable as ``.conftest`` here.

They live in tests/salesforce_support.py and salesforce_emulator/demo_names.py (the root
conftest uses them too, and must not import from a nested conftest); this module re-exports
them for the tests of this folder.
"""

from salesforce_emulator.demo_names import ACME_ADMIN, ACME_ORG_ID, INITECH_USER, NOAPI_USER
from tests.salesforce_support import CALLBACK, connect_workspace, consent

__all__ = [
    "ACME_ADMIN",
    "ACME_ORG_ID",
    "CALLBACK",
    "INITECH_USER",
    "NOAPI_USER",
    "connect_workspace",
    "consent",
]
