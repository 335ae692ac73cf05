"""Drive the connect flow through the product's own views (and the emulator's consent pages)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.urls import reverse

from salesforce_emulator.demo_names import ACME_ADMIN
from tests.salesforce_support import consent

CALLBACK_PATH = "/integrations/salesforce/callback/"


def manage_url(slug: str = "acme") -> str:
    return reverse("integrations:salesforce:manage", args=[slug])


def connect_url(slug: str = "acme") -> str:
    return reverse("integrations:salesforce:connect", args=[slug])


def disconnect_url(slug: str = "acme") -> str:
    return reverse("integrations:salesforce:disconnect", args=[slug])


def start(client, slug: str = "acme", login_choice: str | None = None, **data) -> str:
    """POST Connect; return the authorize URL the product redirected to."""
    data = {"login_choice": login_choice or settings.SALESFORCE_LOGIN_URL, **data}
    response = client.post(connect_url(slug), data)
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def callback(client, params: dict):
    return client.get(CALLBACK_PATH, {k: v for k, v in params.items() if not k.startswith("_")})


def connect_via_views(client, slug: str = "acme", *, username: str = ACME_ADMIN):
    """The whole flow as an admin's browser does it; return the callback response."""
    authorize_url = start(client, slug)
    return callback(client, consent(authorize_url, username=username))
