"""The small stores ``State`` is composed of; each takes the one lock ``State`` owns.

=====================  ==========================================================================
``clock.Clock``        the emulator's clock (wall time plus ``advance``)
``apps.AppStore``      Connected Apps: callback URLs, secrets, per-app token policy
``directory``          orgs and users as loaded (``Directory``)
``records``            sObject rows per org, record ids, create/update/delete (``RecordStore``)
``faults``             standing faults: global, per org, per user (``FaultStore``)
``usage``              API calls used and allowed per org (``UsageStore``)
``authorizations``     pending authorize requests and authorization codes
``tokens``             token families, refresh tokens, access tokens (``TokenStore``)
``logs``               the request log and the REST writes log (``LogStore``)
``events``             Change Data Capture: entity selection, event log, retention, delivery
                       allocation, keepalive interval (``EventStore``; the Pub/Sub API reads it)
``org_settings``       per-org enterprise switches: currencies, encryption, person accounts,
                       My Domain move (``OrgSettingsStore``)
=====================  ==========================================================================

Every public method takes the lock, so the threaded listeners can call them concurrently; the lock
is re-entrant, so a method that calls another store's (a refresh grant reading a fault) stays atomic.
"""

from .apps import AppStore
from .authorizations import AuthorizationStore
from .clock import Clock
from .directory import Directory
from .events import EventStore
from .faults import FAULT_KINDS, FaultStore
from .logs import LogStore
from .org_settings import OrgSettingsStore
from .records import RecordStore
from .tokens import TokenStore
from .usage import UsageStore

__all__ = [
    "FAULT_KINDS",
    "AppStore",
    "AuthorizationStore",
    "Clock",
    "Directory",
    "EventStore",
    "FaultStore",
    "LogStore",
    "OrgSettingsStore",
    "RecordStore",
    "TokenStore",
    "UsageStore",
]
