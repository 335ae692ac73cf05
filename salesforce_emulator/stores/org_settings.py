"""Per-org switches for how an enterprise org is configured (issue 24, E9).

Each org starts from its data file entry's ``settings`` (all optional) and can be switched at run
time (``POST /__emulator__/org-settings``); ``reset`` restores the data file's values.

=======================  ======================================================================
``multi_currency``       bool: records carry ``CurrencyIsoCode`` and describe lists it
``currencies``           ISO codes the org has enabled (the first is the corporate currency)
``encryption``           ``{"Email": scheme, ...}`` on Contact/Lead fields; scheme one of
                         ``probabilistic`` (not filterable), ``deterministic_case_sensitive``,
                         ``deterministic_case_insensitive``
``person_accounts``      bool: Account/Contact have ``IsPersonAccount`` (and Account the
                         person fields, RecordType ``IsPersonType``, two Account record
                         types); Account inserts may create person accounts (E3, rest.py)
``instance_url``         the org's instance after a My Domain change ("" = the listener's)
=======================  ======================================================================
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import EmulatorError
from .base import Lock, Store

SCHEMES = (
    "probabilistic",
    "deterministic_case_sensitive",
    "deterministic_case_insensitive",
)
DEFAULTS: dict[str, Any] = {
    "multi_currency": False,
    "currencies": ["USD"],
    "encryption": {},
    "person_accounts": False,
    "instance_url": "",
}


class OrgSettingsStore(Store):
    def __init__(self, lock: Lock) -> None:
        super().__init__(lock)
        self.by_org: dict[str, dict[str, Any]] = {}

    def load(self, orgs: list[dict[str, Any]]) -> None:
        with self.lock:
            self.by_org = {}
            for org in orgs:
                self.by_org[org["id"]] = copy.deepcopy(DEFAULTS)
                self.update(org["id"], **(org.get("settings") or {}))

    def get(self, org_id: str | None) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.by_org.get(org_id or "", DEFAULTS))

    def value(self, org_id: str | None, key: str) -> Any:
        with self.lock:
            return self.by_org.get(org_id or "", DEFAULTS)[key]

    def update(self, org_id: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            current = self.by_org.get(org_id)
            if current is None:
                raise EmulatorError(f"unknown org {org_id!r}")
            for key, value in changes.items():
                if key not in DEFAULTS:
                    raise EmulatorError(f"unknown org setting {key!r}")
                if key == "encryption":
                    value = dict(value or {})
                    bad = [s for s in value.values() if s not in SCHEMES]
                    if bad:
                        raise EmulatorError(f"unknown encryption scheme {bad[0]!r}")
                if key == "currencies":
                    value = [str(c).upper() for c in value] or ["USD"]
                current[key] = value
            return copy.deepcopy(current)

    def scheme(self, org_id: str | None, field: str) -> str:
        """The encryption scheme of a Contact/Lead field ("" = not encrypted)."""
        return self.value(org_id, "encryption").get(field, "")
