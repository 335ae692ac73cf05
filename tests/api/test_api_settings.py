"""O4: Settings › API: keys shown once, stored as a hash, last use, revoke; the webhook URL."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.db import connection

from api.keys import api_key_authenticate
from api.models import ApiKey, WebhookEndpoint
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
URL = "/w/acme/settings/api/"


def _created_key(html: str) -> str:
    return re.search(r'id="new-key-value">([^<]+)<', html).group(1)


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_o4_admins_create_a_key_shown_once_and_stored_as_a_hash(request, client, role):
    client_for(client, request.getfixturevalue(role))
    response = client.post(URL + "keys/", {"name": "WhatsApp bridge"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = _created_key(response.content.decode())
    key = ApiKey.objects.get()
    assert key.name == "WhatsApp bridge"
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {key.key_hash, key.prefix, key.name}
    page = client.get(URL).content.decode()
    assert secret not in page  # never again
    assert f"tik_{key.prefix}…" in page and "never" in page
    assert api_key_authenticate(secret) == key


def test_o4_last_use_is_shown_and_revoke_stops_the_key(client, owner, api_key):
    key, secret = api_key
    api_key_authenticate(secret)
    client_for(client, owner)
    page = client.get(URL).content.decode()
    assert "never" not in page.split("Test bridge")[1].split("</tr>")[0]
    response = client.post(URL + f"keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == owner
    assert api_key_authenticate(secret) is None
    assert "Revoked" in client.get(URL).content.decode()


def test_o4_agents_get_403_and_other_workspaces_keys_are_404(client, agent, owner, globex_key):
    client_for(client, agent)
    assert client.get(URL).status_code == 403
    assert client.post(URL + "keys/", {"name": "x"}).status_code == 403
    client_for(client, owner)
    assert client.post(URL + f"keys/{globex_key[0].pk}/revoke/").status_code == 404
    globex_key[0].refresh_from_db()
    assert globex_key[0].revoked_at is None


def test_o4_key_name_is_required(client, owner):
    client_for(client, owner)
    response = client.post(URL + "keys/", {"name": "  "})
    assert response.status_code == 400 and not ApiKey.objects.exists()


def test_o6_admin_sets_the_webhook_url_and_sees_the_secret_once(client, owner, settings):
    client_for(client, owner)
    response = client.post(URL + "webhook/", {"url": "http://127.0.0.1:9999/hook"})
    html = response.content.decode()
    secret = re.search(r'id="new-secret-value">([^<]+)<', html).group(1)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret and secret.startswith("whsec_")
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM api_webhookendpoint")
        stored = cursor.fetchone()[0]
    assert secret not in stored  # encrypted at rest
    assert secret not in client.get(URL).content.decode()
    rotated = client.post(URL + "webhook/secret/").content.decode()
    assert re.search(r'id="new-secret-value">([^<]+)<', rotated).group(1) != secret


def test_o6_private_or_plain_http_webhook_urls_are_refused_on_save(client, owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    client_for(client, owner)
    plain = client.post(URL + "webhook/", {"url": "http://hooks.example.com/x"})
    assert plain.status_code == 400 and b"must use https" in plain.content
    private = client.post(URL + "webhook/", {"url": "https://192.168.0.10/x"})
    assert private.status_code == 400 and b"private" in private.content
    assert not WebhookEndpoint.objects.exists()
