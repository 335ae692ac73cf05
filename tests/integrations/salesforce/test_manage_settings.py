"""M1 (issue 26): the Salesforce Manage page saves every setting the admin changed, in one form."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from tests.conftest import client_for

from .flow import manage_url

pytestmark = pytest.mark.django_db

SETTINGS_URL = reverse("integrations:salesforce:settings", args=["acme"])
Kind = SalesforceEvent.Kind


def _forms(html: str) -> list[str]:
    return re.findall(r"<form\b.*?</form>", html, flags=re.S)


def test_m1_the_manage_page_has_one_form_for_all_its_settings(client, sf, owner, connection):
    client_for(client, owner)
    html = client.get(manage_url()).content.decode()
    settings_forms = [f for f in _forms(html) if 'name="phone_matching"' in f]
    assert len(settings_forms) == 1
    form = settings_forms[0]
    assert f'action="{SETTINGS_URL}"' in form
    for name in ("phone_matching", "match_leads", "live_updates"):
        assert f'name="{name}"' in form
    assert 'data-unsaved="Salesforce settings"' in form
    # No other form on the page saves one of them on its own.
    for form in _forms(html):
        assert "phone-matching/" not in form and "lead-matching/" not in form
        assert "live-updates/" not in form
    assert html.count("Save Salesforce settings") == 1


def test_m1_one_save_keeps_every_change(client, sf, owner, connection):
    """The reported bug: phone matching and Lead matching changed, one button pressed."""
    client_for(client, owner)
    response = client.post(
        SETTINGS_URL,
        {
            "phone_matching": "any_format",
            "match_leads": "on",
            "live_updates_shown": "1",
            "live_updates": "on",
        },
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.phone_matching == SalesforceConnection.PhoneMatching.ANY_FORMAT
    assert connection.match_leads is True
    assert connection.live_updates is True
    kinds = set(
        SalesforceEvent.objects.filter(connection=connection, actor=owner).values_list(
            "kind", flat=True
        )
    )
    assert {Kind.PHONE_MATCHING, Kind.LEAD_MATCHING, Kind.LIVE_UPDATES} <= kinds
    page = client.get(manage_url()).content.decode()
    assert "Saved: phone matching, Lead matching, live updates." in page


def test_m1_unticked_boxes_turn_off_and_a_switch_not_shown_is_left_alone(
    client, sf, owner, connection
):
    connection.match_leads = True
    connection.live_updates = True
    connection.save()
    client_for(client, owner)
    client.post(SETTINGS_URL, {"phone_matching": "exact"})
    connection.refresh_from_db()
    assert connection.match_leads is False  # an unticked box is "off"
    assert connection.live_updates is True  # the switch was not on the form: unchanged
    client.post(SETTINGS_URL, {"phone_matching": "exact", "live_updates_shown": "1"})
    connection.refresh_from_db()
    assert connection.live_updates is False


def test_m1_a_bad_phone_mode_saves_nothing(client, sf, owner, connection):
    client_for(client, owner)
    client.post(SETTINGS_URL, {"phone_matching": "bogus", "match_leads": "on"})
    connection.refresh_from_db()
    assert connection.match_leads is False
    assert connection.phone_matching == SalesforceConnection.PhoneMatching.EXACT


def test_m1_agents_cannot_save_settings(client, sf, agent, connection):
    client_for(client, agent)
    response = client.post(SETTINGS_URL, {"phone_matching": "any_format", "match_leads": "on"})
    assert response.status_code == 403
    connection.refresh_from_db()
    assert connection.match_leads is False
