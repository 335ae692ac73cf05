"""M7 (issue 26): the smaller things agents and admins tripped on, in the Salesforce sidebar and
on the Manage page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import pending
from tests.conftest import client_for
from tests.salesforce_support import lookup_cache_key

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def _panel(client, contact) -> str:
    url = reverse("contacts:panel", args=["acme", contact.pk, "salesforce"])
    return client.get(url, headers=HTMX).content.decode()


def test_m7_during_an_outage_the_stale_copy_keeps_its_related_lists(
    client, agent, connection, acme, sf
):
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    fresh = _panel(client, jane)
    assert 'data-list="Cases"' in fresh
    cache.delete(lookup_cache_key(connection, "lookup", jane.email, ""))
    sf.set_fault("http_503", org_id=connection.org_id)
    outage = _panel(client, jane)
    assert "Showing data from" in outage
    assert 'data-list="Cases"' in outage and 'data-list="OpportunityContactRoles"' in outage


def test_m7_the_near_miss_view_in_salesforce_is_a_button_like_the_match(
    client, agent, connection, acme
):
    priya = Contact.objects.create(workspace=acme, name="Priya Shah", phone="+15550102000")
    client_for(client, agent)
    html = _panel(client, priya)
    box = re.search(r'<div class="notice sf-near-miss".*?</div>', html, re.S).group(0)
    assert re.search(r'<a class="button" href="[^"]+" target="_blank"', box)


def test_m7_a_live_change_is_highlighted_by_the_integrations_script():
    script = (
        Path(settings.BASE_DIR) / "integrations/salesforce/static/salesforce/live.js"
    ).read_text()
    assert "sf-changed" in script and "dd[data-field]" in script
    css = (Path(settings.BASE_DIR) / "static/css/app.css").read_text()
    assert ".sf-fields dd.sf-changed" in css


def test_m7_the_waiting_notice_comes_before_the_connect_form_and_reads_well(
    client, owner, acme, sf, monkeypatch
):
    client_for(client, owner)
    manage = reverse("integrations:salesforce:manage", args=["acme"])
    response = client.post(
        reverse("integrations:salesforce:connect", args=["acme"]),
        {"login_choice": settings.SALESFORCE_LOGIN_URL.rstrip("/")},
        headers=HTMX,
    )
    assert response.status_code == 200
    html = client.get(manage).content.decode()
    assert pending.newest_pending(client.session, acme) is not None
    assert html.index('id="sf-pending"') < html.index('id="sf-connect-form"')
    assert "in in" not in html
    assert "sign in and allow access in the Salesforce tab" in html
    assert "connecting again starts a new one" in html
