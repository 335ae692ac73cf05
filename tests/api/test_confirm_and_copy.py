"""M5 (issue 26): revoking an API key and removing the webhook ask first (a confirmation page, no
script needed); the show-once key and secret have Copy buttons run by an external script."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from api.models import ApiKey, WebhookEndpoint
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/w/acme/settings/api/"


def test_m5_revoke_asks_first_and_only_the_post_revokes(client, owner, api_key):
    key, _ = api_key
    client_for(client, owner)
    settings_page = client.get(URL).content.decode()
    revoke_url = f"{URL}keys/{key.pk}/revoke/"
    # The settings page links to the question; it has no one-click revoke form.
    assert f'href="{revoke_url}"' in settings_page
    assert f'action="{revoke_url}"' not in settings_page
    page = client.get(revoke_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Revoke the API key “Test bridge”?" in html
    assert "cannot be undone" in html
    assert f'action="{revoke_url}"' in html and 'method="post"' in html
    assert f'href="{URL}"' in html  # Cancel
    key.refresh_from_db()
    assert key.revoked_at is None  # asking changed nothing
    assert client.post(revoke_url).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == owner
    # A revoked key is not asked about again.
    assert client.get(revoke_url).status_code == 302


def test_m5_remove_webhook_asks_first_and_only_the_post_removes(client, owner, acme):
    WebhookEndpoint.objects.create(workspace=acme, url="https://hooks.example.com/in", secret="s")
    client_for(client, owner)
    delete_url = f"{URL}webhook/delete/"
    settings_page = client.get(URL).content.decode()
    assert f'href="{delete_url}"' in settings_page
    assert f'action="{delete_url}"' not in settings_page
    html = client.get(delete_url).content.decode()
    assert "Remove the outgoing webhook?" in html
    assert "https://hooks.example.com/in" in html
    assert WebhookEndpoint.objects.filter(workspace=acme).exists()
    assert client.post(delete_url).status_code == 302
    assert not WebhookEndpoint.objects.filter(workspace=acme).exists()


def test_m5_agents_and_other_workspaces_cannot_see_the_questions(
    client, agent, outsider, api_key, acme
):
    key, _ = api_key
    client_for(client, agent)
    assert client.get(f"{URL}keys/{key.pk}/revoke/").status_code == 403
    client_for(client, outsider)
    assert client.get(f"{URL}keys/{key.pk}/revoke/").status_code == 404
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_m5_show_once_key_and_secret_have_copy_buttons_without_inline_script(client, owner):
    client_for(client, owner)
    created = client.post(f"{URL}keys/", {"name": "Bridge"}).content.decode()
    assert 'data-copy="new-key-value"' in created and ">Copy key</button>" in created
    secret = client.post(f"{URL}webhook/", {"url": "https://hooks.example.com/in"}).content.decode()
    assert 'data-copy="new-secret-value"' in secret and ">Copy secret</button>" in secret
    for html in (created, secret):
        assert "/static/js/copy.js" in html
        assert "<script>" not in html and "onclick" not in html
    script = Path(finders.find("js/copy.js")).read_text()
    assert "navigator.clipboard" in script and "data-copy" in script
