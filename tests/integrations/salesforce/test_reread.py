"""M2 (issue 26): with live updates off, an open Salesforce panel re-reads once its copy is older
than the cache window, as the Live updates switch's text says."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import results, services
from tests.conftest import client_for
from tests.salesforce_support import lookup_cache_key

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
JANE_ID = "0035g00000Con01AAB"
JANE_EMAIL = "jane.cooper@northwind.example"


@pytest.fixture
def jane(acme):
    return Contact.objects.create(workspace=acme, name="Jane Cooper", email=JANE_EMAIL)


def _panel(client, contact) -> str:
    url = reverse("contacts:panel", args=["acme", contact.pk, "salesforce"])
    return client.get(url, headers=HTMX).content.decode()


def _reread(html: str) -> tuple[int, str, str] | None:
    tag = re.search(r'<div class="sf-live sf-reread"[^>]*>', html)
    if not tag:
        return None
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))
    return int(attrs["data-reread-seconds"]), attrs["hx-get"], attrs["hx-trigger"]


def _age_cached_copy(connection, seconds: int) -> str:
    key = lookup_cache_key(connection, "lookup", JANE_EMAIL, "")
    result = cache.get(key)
    assert isinstance(result, results.LookupResult)
    older = result.fetched_at - timedelta(seconds=seconds)
    cache.set(key, dataclasses.replace(result, fetched_at=older, asked_at=older), 3600)
    return key


def test_m2_an_open_panel_rereads_once_its_copy_is_older_than_the_cache_window(
    client, agent, connection, jane, sf, settings
):
    assert not connection.live_updates
    client_for(client, agent)
    seconds, url, trigger = _reread(_panel(client, jane))
    # A fresh copy: the re-read comes just after the cache window (60 s) has passed.
    assert seconds == settings.SALESFORCE_CACHE_SECONDS + 2
    assert trigger == f"every {seconds}s"
    assert url == reverse("contacts:panel", args=["acme", jane.pk, "salesforce"])
    # A copy already 50 s old: only the rest of the window is waited.
    key = _age_cached_copy(connection, 50)
    seconds, _, _ = _reread(_panel(client, jane))
    assert 11 <= seconds <= 12
    # When it fires, the copy has left the cache (its 60 s are over): Salesforce is read again.
    sf.update_record("Contact", JANE_ID, Title="Chief Operating Officer")
    assert "Chief Operating Officer" not in _panel(client, jane)  # still the cached copy
    cache.delete(key)  # what the cache's own 60 s timeout does
    sf.reset_log()
    html = client.get(url, headers=HTMX).content.decode()
    assert "Chief Operating Officer" in html
    assert len([e for e in sf.request_log() if "/query" in e["path"]]) == 1
    assert _reread(html)[0] == settings.SALESFORCE_CACHE_SECONDS + 2  # and again next window


def test_m2_no_reread_timer_with_live_updates_on(client, agent, connection, jane, sf):
    services.set_live_updates(connection, on=True, actor=None)
    client_for(client, agent)
    html = _panel(client, jane)
    assert _reread(html) is None
    assert "every 3s" in html  # F5's change check instead


def test_m2_the_switch_says_what_happens_when_off(client, owner, connection, settings):
    client_for(client, owner)
    page = client.get("/w/acme/settings/integrations/salesforce/").content.decode()
    assert "With live updates off, an open sidebar re-reads Salesforce each time its copy" in page
    connection.live_updates = True
    connection.save()
    response = client.post(
        "/w/acme/settings/integrations/salesforce/live-updates/", {}, follow=True
    )
    assert (
        "an open sidebar re-reads Salesforce once its copy is "
        f"{settings.SALESFORCE_CACHE_SECONDS} s old" in response.content.decode()
    )
