"""Registries: the integrations listed on the Integrations page (W3) and the sidebar panels.

A second integration is a new package that registers itself here from its ``AppConfig.ready``;
nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class IntegrationStatus:
    label: str  # "Connected", "Not connected", "Reconnect needed"
    tone: str  # "ok", "muted", "warn", "error": a CSS modifier
    detail: str = ""  # what is wrong and since when (issue 24, E8: "Degraded")


@dataclass(frozen=True)
class Integration:
    key: str
    name: str
    description: str
    manage_url_name: str  # reversed with the workspace slug
    status: Callable  # (workspace) -> IntegrationStatus
    urls: str = ""  # module mounted at /w/<slug>/settings/integrations/<key>/
    public_urls: str = ""  # module mounted at /integrations/<key>/ (e.g. an OAuth callback)


@dataclass(frozen=True)
class SidebarPanel:
    key: str
    title: str
    order: int
    render: Callable[[HttpRequest, object], HttpResponse]  # (request, contact)


@dataclass(frozen=True)
class ContactListBadge:
    """Marks on the Contacts list, loaded lazily per page from ``url_name`` (slug argument)."""

    key: str
    url_name: str
    # U3: whether the workspace has this column at all (e.g. only while Salesforce is connected).
    active: Callable[[object], bool] = lambda workspace: True


_integrations: dict[str, Integration] = {}
_panels: dict[str, SidebarPanel] = {}
_badges: dict[str, ContactListBadge] = {}


def register_integration(integration: Integration) -> None:
    _integrations[integration.key] = integration


def register_panel(panel: SidebarPanel) -> None:
    _panels[panel.key] = panel


def register_badge(badge: ContactListBadge) -> None:
    _badges[badge.key] = badge


def badges() -> list[ContactListBadge]:
    return sorted(_badges.values(), key=lambda b: b.key)


def integrations() -> list[Integration]:
    return sorted(_integrations.values(), key=lambda i: i.name)


def panels() -> list[SidebarPanel]:
    return sorted(_panels.values(), key=lambda p: (p.order, p.key))


def get_panel(key: str) -> SidebarPanel | None:
    return _panels.get(key)
