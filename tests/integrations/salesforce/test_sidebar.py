"""The Salesforce sidebar panel and Contacts-list badges, as agents see them (S5–S16, B1, B2, B4)."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import lookup
from tests.conftest import client_for
from tests.salesforce_support import lookup_cache_key

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def make(acme, name, email="", phone=""):
    return Contact.objects.create(workspace=acme, name=name, email=email, phone=phone)


def panel(client, contact, **params):
    url = reverse("contacts:panel", args=["acme", contact.pk, "salesforce"])
    return client.get(url, params, headers=HTMX)


def badges_url_of(client, slug="acme") -> str:
    """The badges URL the Contacts page asks for: it carries the ids of the contacts shown."""
    import html as html_lib
    import re

    page = client.get(reverse("contacts:list", args=[slug])).content.decode()
    found = re.search(r'hx-get="([^"]*/salesforce/badges/[^"]*)"', page)
    assert found, "no Salesforce badges loader on the Contacts page"
    return html_lib.unescape(found.group(1))


def rest_queries(sf):
    return [e for e in sf.request_log() if "/query" in e["path"]]


@pytest.fixture
def jane(acme):
    return make(acme, "Jane Cooper", email="jane.cooper@northwind.example")


def test_s06_default_fields_with_labels_read_only(client, agent, connection, jane):
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    for label in [
        "Full Name",
        "Email",
        "Business Phone",
        "Mobile Phone",
        "Title",
        "Account Name",
        "Lead Source",
        "Contact Owner",
        "Last Modified Date",
    ]:
        assert f"<dt>{label}</dt>" in html, label
    assert 'data-field="Account.Name">Northwind Traders<' in html
    assert "<form" not in html and "<input" not in html  # read-only (S11)


def test_s06_dates_in_the_workspace_time_zone(client, agent, connection, jane, acme):
    client_for(client, agent)
    result = lookup.find_contact(connection, email=jane.email)
    raw = result.primary.values["LastModifiedDate"]  # e.g. 2026-11-20T14:03:11.000+0000
    from integrations.salesforce.display import format_value

    london = format_value(raw, {"type": "datetime"}, acme.tzinfo)
    acme.time_zone = "Asia/Tokyo"
    acme.save()
    tokyo = format_value(raw, {"type": "datetime"}, acme.tzinfo)
    assert london != tokyo
    assert tokyo in panel(client, jane).content.decode()


def test_s06_picklist_shows_its_label(connection):
    from integrations.salesforce.display import format_value

    assert format_value("T1", {"type": "picklist", "picklist": {"T1": "Gold"}}, None) == "Gold"


def test_s06_html_in_salesforce_values_renders_inert(client, agent, connection, acme):
    evan = make(acme, "Evan Script", email="evan@tailspin.example")
    client_for(client, agent)
    html = panel(client, evan).content.decode()
    assert "<script>alert" not in html and "<b>VP Sales</b>" not in html
    assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;&lt;b&gt;VP Sales&lt;/b&gt;" in html


def test_s08_newest_shown_and_n_more_matches_with_links(client, agent, connection, acme):
    fabrikam = make(acme, "Fabrikam Support", email="support@fabrikam.example")
    client_for(client, agent)
    html = panel(client, fabrikam).content.decode()
    assert "1 more match<" in html
    assert html.count("View in Salesforce") == 2


def test_s09_no_match_names_the_values_looked_up(client, agent, connection, acme):
    noah = make(acme, "Noah", email="noah@nowhere.example", phone="+44 1")
    client_for(client, agent)
    html = panel(client, noah).content.decode()
    assert "No Salesforce Contact matches" in html
    assert "<code>noah@nowhere.example</code>" in html and "<code>+44 1</code>" in html
    assert "must match Salesforce exactly" in html


def test_s07_lead_only_email_shows_no_match(client, agent, connection, acme):
    lena = make(acme, "Lena Lead", email="lena.lead@example.org")
    client_for(client, agent)
    assert "No Salesforce Contact matches" in panel(client, lena).content.decode()


def test_s10_view_in_salesforce_is_the_lightning_url_in_a_new_tab(client, agent, connection, jane):
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    url = f"{connection.instance_url}/lightning/r/Contact/0035g00000Con01AAB/view"
    assert f'href="{url}" target="_blank" rel="noopener"' in html


def test_b1_near_miss_shows_both_values(client, agent, connection, acme):
    priya = make(acme, "Priya Shah", phone="+15550102000")
    client_for(client, agent)
    html = panel(client, priya).content.decode()
    assert "Near match" in html
    assert '<code class="sf-value">+1 555 010 2000</code>' in html
    assert '<code class="sf-value">+15550102000</code>' in html


def test_s12_second_view_is_served_from_cache(client, agent, connection, jane, sf):
    client_for(client, agent)
    panel(client, jane)
    panel(client, jane)
    assert len(rest_queries(sf)) == 1


def test_s13_edited_email_is_looked_up_at_once(client, agent, connection, acme, sf):
    contact = make(acme, "Someone", email="noah@nowhere.example")
    client_for(client, agent)
    assert "No Salesforce Contact matches" in panel(client, contact).content.decode()
    client.post(
        reverse("contacts:edit", args=["acme", contact.pk]),
        {"name": "Someone", "email": "jane.cooper@northwind.example", "phone": ""},
    )
    assert "Northwind Traders" in panel(client, contact).content.decode()


def test_s12_refresh_button_reasks_at_most_every_10_seconds(client, agent, connection, jane, sf):
    client_for(client, agent)
    assert "?refresh=1" in panel(client, jane).content.decode()
    panel(client, jane, refresh="1")
    panel(client, jane, refresh="1")
    assert len(rest_queries(sf)) == 2


def test_s05_api_access_required_in_the_sidebar(client, agent, connection, jane, sf):
    sf.set_fault("api_disabled_org", org_id=connection.org_id)
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    assert "Salesforce API access required" in html
    # Issue 24 (E8): the admin's instructions go to admins (test_admin_notice.py), not agents.
    assert "API Enabled" not in html


def test_s16_b2_error_shows_stale_data_with_its_age(client, agent, connection, jane, sf):
    client_for(client, agent)
    panel(client, jane)
    cache.delete(lookup_cache_key(connection, "lookup", jane.email, ""))
    sf.set_fault("http_503", org_id=connection.org_id)
    response = panel(client, jane)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Salesforce is not answering right now." in html and "HTTP" not in html  # U2
    assert "Showing data from less than a minute ago" in html  # U2: never "0 minutes ago"
    assert "Northwind Traders" in html
    assert "Traceback" not in html


def test_s16_rate_limit_message(client, agent, connection, jane, sf):
    sf.set_fault("request_limit_exceeded", org_id=connection.org_id)
    client_for(client, agent)
    assert "REQUEST_LIMIT_EXCEEDED" in panel(client, jane).content.decode()


def test_s15_reconnect_needed_note_for_agents(client, agent, connection, jane, sf):
    sf.expire_sessions(connection.org_id)
    sf.revoke_refresh_tokens(connection.org_id)
    client_for(client, agent)
    first = panel(client, jane).content.decode()
    assert "Salesforce needs to be reconnected" in first
    second = panel(client, jane).content.decode()
    assert "Ask a workspace Owner or Manager to reconnect it." in second


def test_s14_disconnected_workspace_shows_no_salesforce_fields(
    client, agent, owner, connection, jane
):
    client_for(client, agent)
    assert "Northwind Traders" in panel(client, jane).content.decode()
    client_for(client, owner)
    client.post(reverse("integrations:salesforce:disconnect", args=["acme"]))
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    assert "Northwind Traders" not in html
    assert "not connected" in html


def test_not_connected_panel_links_admins_to_integrations(client, owner, agent, jane):
    client_for(client, owner)
    assert "Connect Salesforce" in panel(client, jane).content.decode()
    client_for(client, agent)
    assert "Connect Salesforce" not in panel(client, jane).content.decode()


def test_w2_panel_of_another_workspaces_contact_is_404(client, outsider, jane):
    client_for(client, outsider)
    assert panel(client, jane).status_code == 404


def test_panel_without_htmx_is_a_full_page(client, agent, connection, jane):
    client_for(client, agent)
    url = reverse("contacts:panel", args=["acme", jane.pk, "salesforce"])
    html = client.get(url).content.decode()
    assert "<html" in html and "Northwind Traders" in html


def test_b4_badges_one_query_per_page_and_shared_cache(client, agent, connection, acme, sf):
    # Related lists off: the badge query then answers exactly what the sidebar would ask (R1:
    # with lists on, the sidebar asks once more, for them).
    from integrations.salesforce import services

    services.set_related_lists(connection, names=[], actor=None)
    make(acme, "Jane Cooper", email="jane.cooper@northwind.example")
    make(acme, "Omar Haddad", phone="+1 (555) 010-3000")
    make(acme, "Marcus Reed", email="marcus.reed@contoso.example")
    nobody = make(acme, "Noah", email="noah@nowhere.example")
    make(acme, "Lena Lead", email="lena.lead@example.org")
    client_for(client, agent)
    badges_url = badges_url_of(client)
    assert badges_url.startswith(reverse("integrations:salesforce:badges", args=["acme"]))
    assert f"{nobody.pk}" in badges_url  # the page hands over the ids it shows
    html = client.get(badges_url, headers=HTMX).content.decode()
    assert html.count("In Salesforce</span>") == 3
    assert f'<span id="badge-{nobody.pk}" hx-swap-oob="true"></span>' in html
    assert len(rest_queries(sf)) == 1
    # The sidebar reuses what the badges learnt: no new query for a matched contact.
    jane = Contact.objects.get(workspace=acme, name="Jane Cooper")
    assert "Northwind Traders" in panel(client, jane).content.decode()
    assert len(rest_queries(sf)) == 1
    client.get(badges_url, headers=HTMX)
    assert len(rest_queries(sf)) == 1


def test_s11_no_write_ever_reaches_the_rest_api(client, owner, agent, sf, acme):
    """Connect, look up, badges, field chooser, disconnect: only GETs on /services/data."""
    from tests.integrations.salesforce.flow import connect_via_views, disconnect_url

    sf.reset_log()
    client_for(client, owner)
    connect_via_views(client)
    jane = make(acme, "Jane Cooper", email="jane.cooper@northwind.example")
    make(acme, "Priya Shah", phone="+15550102000")
    panel(client, jane)
    client.get(badges_url_of(client), headers=HTMX)
    client.get(reverse("integrations:salesforce:fields", args=["acme"]))
    client.post(disconnect_url())
    rest = [e for e in sf.request_log() if e["path"].startswith("/services/data")]
    # Issue 24 (E7): the connect's setup check sends its reads (describes, limits) as ONE
    # Composite request, a POST of GET subrequests; everything else is a GET.
    composite = [e for e in rest if e["path"].endswith("/composite")]
    assert len(composite) == 1 and composite[0]["method"] == "POST"
    assert {e["method"] for e in rest if e not in composite} == {"GET"}
    assert sf.writes() == []


def test_s16_u3_failing_org_is_asked_once_for_badges_and_says_unavailable(
    client, agent, connection, acme, sf
):
    make(acme, "Jane Cooper", email="jane.cooper@northwind.example")
    sf.set_fault("http_503", org_id=connection.org_id)
    client_for(client, agent)
    badges_url = badges_url_of(client)
    for _ in range(3):
        html = client.get(badges_url, headers=HTMX).content.decode()
        # U3: one explicit notice for the column, in the agent's words.
        assert html.count("Salesforce unavailable") == 2  # the column's mark and its notice
        assert 'id="sf-column-state"' in html and "not answering right now" in html
        assert "HTTP" not in html
    assert len(rest_queries(sf)) == 1


def test_b4_w2_badges_only_for_this_workspaces_ids(client, agent, connection, acme, globex, sf):
    mine = make(acme, "Jane Cooper", email="jane.cooper@northwind.example")
    theirs = make(globex, "Marcus Reed", email="marcus.reed@contoso.example")
    client_for(client, agent)
    url = reverse("integrations:salesforce:badges", args=["acme"])
    html = client.get(f"{url}?ids={mine.pk},{theirs.pk}", headers=HTMX).content.decode()
    assert f'id="badge-{mine.pk}"' in html
    assert f"badge-{theirs.pk}" not in html
    assert client.get(f"{url}?ids={mine.pk},x", headers=HTMX).status_code == 400
