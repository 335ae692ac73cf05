"""Q6 (issue 20): the sidebar is opt-in, the settings pages share one base template, and the
Salesforce script lives with the integration."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)


def _template_files() -> list[Path]:
    dirs = [ROOT / "templates", *ROOT.glob("*/templates"), *ROOT.glob("*/*/templates")]
    return [p for d in dirs for p in d.rglob("*.html")]


def test_q6_only_pages_with_a_contact_have_the_sidebar(client, owner, acme, contact, conversation):
    client_for(client, owner)
    with_sidebar = [
        reverse("contacts:detail", args=[acme.slug, contact.pk]),
        reverse("inbox:detail", args=[acme.slug, conversation.pk]),
    ]
    without = [
        reverse("contacts:list", args=[acme.slug]),
        reverse("inbox:list", args=[acme.slug]),
        reverse("workspace:members", args=[acme.slug]),
        reverse("integrations:list", args=[acme.slug]),
        reverse("api:settings", args=[acme.slug]),
        reverse("contacts:edit", args=[acme.slug, contact.pk]),
    ]
    for url in with_sidebar:
        html = client.get(url).content.decode()
        assert 'id="contact-sidebar"' in html, url
        assert 'class="sidebar-toggle"' in html, url
        assert 'id="panel-salesforce"' in html, url
        assert "no-sidebar" not in html, url
    for url in without:
        html = client.get(url).content.decode()
        assert 'id="contact-sidebar"' not in html, url
        assert "sidebar-toggle" not in html, url
        assert 'class="layout no-sidebar"' in html, url


def test_q6_no_template_blanks_the_sidebar():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _template_files()
        if "sidebar_column" in p.read_text() or "no-sidebar{% endblock" in p.read_text()
    ]
    assert offenders == []


def test_q6_settings_pages_share_one_base_template(client, owner, acme):
    client_for(client, owner)
    pages = {
        "general": reverse("workspace:general", args=[acme.slug]),
        "members": reverse("workspace:members", args=[acme.slug]),
        "integrations": reverse("integrations:list", args=[acme.slug]),
        "api": reverse("api:settings", args=[acme.slug]),
        "salesforce": reverse("integrations:salesforce:manage", args=[acme.slug]),
    }
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        used = [t.name for t in response.templates]
        assert "workspace/settings_base.html" in used, name
        html = response.content.decode()
        assert html.count("<h1>Workspace settings</h1>") == 1, name
        assert html.count('aria-label="Workspace settings"') == 1, name
    # The header is written once: no settings page repeats it.
    repeats = [
        str(p.relative_to(ROOT))
        for p in _template_files()
        if "<h1>Workspace settings</h1>" in p.read_text() and p.name != "settings_base.html"
    ]
    assert repeats == []


def test_q6_the_salesforce_script_lives_with_the_integration(client, owner, acme, contact):
    app_js = Path(finders.find("js/app.js")).read_text()
    assert "salesforce-open" not in app_js
    assert "window.open" not in app_js
    connect_js = finders.find("salesforce/connect.js")
    assert connect_js is not None
    assert str(ROOT / "integrations" / "salesforce" / "static") in connect_js
    assert "salesforce-open" in Path(connect_js).read_text()
    client_for(client, owner)
    manage = client.get(reverse("integrations:salesforce:manage", args=[acme.slug]))
    assert "/static/salesforce/connect.js" in manage.content.decode()
    # Pages without Salesforce's connect form do not load it.
    detail = client.get(reverse("contacts:detail", args=[acme.slug, contact.pk]))
    assert "salesforce/connect.js" not in detail.content.decode()
