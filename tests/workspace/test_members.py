"""M3 (issue 26): roles changed and members removed (Owners; Managers for Agents) with the
last-Owner guard and an audit entry; a removed member's sessions end at once; a profile page for
every user; a name asked at sign-in when missing. M4: errors beside their field, summarised at
the top; password rules stated before submitting."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.base_user import AbstractBaseUser
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, client_for, make_user
from workspace.models import Membership, Role, User, WorkspaceEvent

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-long-new-passphrase-42"
MEMBERS = "/w/acme/settings/members/"


def _m(user) -> Membership:
    return Membership.objects.get(user=user, workspace__slug="acme")


def _remove_url(user) -> str:
    return reverse("workspace:member_remove", args=["acme", _m(user).pk])


def _role_url(user) -> str:
    return reverse("workspace:member_role", args=["acme", _m(user).pk])


def _signed_in(user) -> Client:
    """A client signed in through the sign-in form (a real session with its auth hash)."""
    c = Client()
    response = c.post("/signin/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return c


# --- roles and removal -------------------------------------------------------------------------


def test_m3_owner_changes_a_role_and_the_change_is_audited(client, owner, agent):
    client_for(client, owner)
    response = client.post(_role_url(agent), {"role": "manager"}, follow=True)
    assert _m(agent).role == Role.MANAGER
    event = WorkspaceEvent.objects.get(kind=WorkspaceEvent.Kind.ROLE_CHANGED)
    assert event.actor == owner and event.detail == "agent@acme.test: Agent → Manager"
    html = response.content.decode()
    assert "Role changed: agent@acme.test: Agent → Manager" in html


def test_m3_last_owner_can_be_neither_demoted_nor_removed(client, owner, manager):
    client_for(client, owner)
    demote = client.post(_role_url(owner), {"role": "agent"}, follow=True)
    assert "at least one Owner" in demote.content.decode()
    remove = client.post(_remove_url(owner), follow=True)
    assert "at least one Owner" in remove.content.decode()
    assert _m(owner).role == Role.OWNER
    assert not WorkspaceEvent.objects.filter(
        kind__in=[WorkspaceEvent.Kind.ROLE_CHANGED, WorkspaceEvent.Kind.REMOVED]
    ).exists()
    # With a second Owner, the first may step down.
    client.post(_role_url(manager), {"role": "owner"})
    client.post(_role_url(owner), {"role": "agent"})
    assert _m(owner).role == Role.AGENT


def test_m3_removal_asks_first_then_removes_and_audits(client, owner, agent):
    client_for(client, owner)
    question = client.get(_remove_url(agent))
    assert question.status_code == 200
    html = question.content.decode()
    assert "Remove agent@acme.test from Acme Support?" in html
    assert "signed out on every device" in html
    assert Membership.objects.filter(user=agent).exists()  # asking changed nothing
    response = client.post(_remove_url(agent), follow=True)
    assert not Membership.objects.filter(user=agent, workspace__slug="acme").exists()
    assert User.objects.filter(pk=agent.pk).exists()  # the account stays
    event = WorkspaceEvent.objects.get(kind=WorkspaceEvent.Kind.REMOVED)
    assert event.actor == owner and event.detail == "agent@acme.test (Agent)"
    assert "was removed from Acme Support and signed out" in response.content.decode()


def test_m3_managers_change_and_remove_agents_only(client, owner, manager, agent, acme):
    other_manager = make_user("m2@acme.test")
    Membership.objects.create(user=other_manager, workspace=acme, role=Role.MANAGER)
    client_for(client, manager)
    page = client.get(MEMBERS).content.decode()
    assert _remove_url(agent) in page
    assert _remove_url(owner) not in page and _remove_url(other_manager) not in page
    assert 'value="owner"' not in page  # a Manager makes no Owners
    assert client.get(_remove_url(owner)).status_code == 403
    assert client.post(_remove_url(other_manager)).status_code == 403
    assert client.post(_role_url(owner), {"role": "agent"}).status_code == 403
    assert _m(owner).role == Role.OWNER and _m(other_manager).role == Role.MANAGER
    assert client.post(_remove_url(agent)).status_code == 302
    assert not Membership.objects.filter(user=agent).exists()


def test_m3_agents_change_and_remove_no_one(client, owner, agent):
    client_for(client, agent)
    page = client.get(MEMBERS).content.decode()
    assert "/remove/" not in page and "<select" not in page
    assert client.post(_remove_url(owner)).status_code == 403
    assert client.post(_role_url(agent), {"role": "owner"}).status_code == 403


def test_m3_a_removed_members_sessions_end_at_once(owner, agent, globex):
    # The agent also belongs to Globex: removal from Acme still signs them out everywhere.
    Membership.objects.create(user=agent, workspace=globex, role=Role.AGENT)
    laptop, phone = _signed_in(agent), _signed_in(agent)
    assert laptop.get("/w/acme/inbox/").status_code == 200
    assert phone.get("/w/globex/inbox/").status_code == 200
    admin = _signed_in(owner)
    assert admin.post(_remove_url(agent)).status_code == 302
    for device in (laptop, phone):
        response = device.get("/w/globex/inbox/")
        assert response.status_code == 302 and response["Location"].startswith("/signin/")
        assert "_auth_user_id" not in device.session
    # Signing in again reaches the workspaces they still belong to, not Acme.
    again = _signed_in(agent)
    assert again.get("/w/globex/inbox/").status_code == 200
    assert again.get("/w/acme/inbox/").status_code == 404
    assert admin.get(MEMBERS).status_code == 200  # the Owner's own session is untouched


def test_m3_existing_sessions_survive_the_deploy(agent):
    """Epoch 0 signs sessions exactly as Django did, so nobody is signed out by the upgrade."""
    assert agent.session_epoch == 0
    assert agent.get_session_auth_hash() == AbstractBaseUser.get_session_auth_hash(agent)


# --- profile -----------------------------------------------------------------------------------


def test_m3_every_member_has_a_profile_page_for_name_and_time_zone(client, agent, owner):
    client_for(client, owner)
    client.post(_role_url(agent), {"role": "manager"})  # an event dated on the members page
    client_for(client, agent)
    url = reverse("workspace:profile", args=["acme"])
    page = client.get(url).content.decode()
    assert 'href="/w/acme/profile/"' in page  # linked from the navigation
    assert "The workspace&#x27;s time zone (Europe/London)" in page
    response = client.post(
        url, {"form": "profile", "full_name": "  Ari   Agent ", "time_zone": "Asia/Tokyo"}
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.full_name == "Ari Agent" and agent.time_zone == "Asia/Tokyo"
    # Dates on workspace pages now read in the person's own time zone.
    members = client.get(MEMBERS).content.decode()
    assert "JST" in members
    bad = client.post(url, {"form": "profile", "full_name": " ", "time_zone": "Mars/Base"})
    assert bad.status_code == 400
    agent.refresh_from_db()
    assert agent.full_name == "Ari Agent"


def test_m3_password_change_keeps_this_session_and_ends_the_others(agent):
    here, elsewhere = _signed_in(agent), _signed_in(agent)
    url = reverse("workspace:profile", args=["acme"])
    wrong = here.post(
        url,
        {
            "form": "password",
            "old_password": "not-it",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 400
    ok = here.post(
        url,
        {
            "form": "password",
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert ok.status_code == 302
    agent.refresh_from_db()
    assert agent.check_password(NEW_PASSWORD)
    assert here.get("/w/acme/inbox/").status_code == 200
    assert elsewhere.get("/w/acme/inbox/").status_code == 302


def test_m3_a_member_without_a_name_is_asked_for_one_at_sign_in(agent):
    assert agent.full_name == ""
    c = Client()
    signin = c.post(
        "/signin/?next=/w/acme/contacts/", {"username": agent.email, "password": PASSWORD}
    )
    assert signin.status_code == 302
    assert signin["Location"] == "/welcome/?next=%2Fw%2Facme%2Fcontacts%2F"
    page = c.get(signin["Location"]).content.decode()
    assert "What is your name?" in page
    empty = c.post("/welcome/", {"full_name": "   ", "next": "/w/acme/contacts/"})
    assert empty.status_code == 400 and "Enter your name." in empty.content.decode()
    named = c.post("/welcome/", {"full_name": "Ari Agent", "next": "/w/acme/contacts/"})
    assert named["Location"] == "/w/acme/contacts/"
    agent.refresh_from_db()
    assert agent.full_name == "Ari Agent"
    # Named now: the next sign-in goes straight through; an outside "next" is never followed.
    c.logout()
    again = c.post("/signin/", {"username": agent.email, "password": PASSWORD})
    assert again["Location"] == "/"
    assert c.get("/welcome/?next=https://evil.example/").status_code == 302
    assert c.get("/welcome/?next=https://evil.example/")["Location"] == "/"


def test_m3_an_invitee_must_give_a_name(client, owner):
    from workspace.invitations import invitation_create, invitation_url

    invitation = invitation_create(
        workspace=_m(owner).workspace,
        email="nameless@example.com",
        role=Role.AGENT,
        invited_by=owner,
        base_url="http://testserver",
    )
    link = re.sub(r"^https?://[^/]+", "", invitation_url(invitation))
    refused = client.post(
        link, {"full_name": "", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert refused.status_code == 400
    assert not User.objects.filter(email="nameless@example.com").exists()


# --- M4: form errors ---------------------------------------------------------------------------


def test_m4_a_common_password_is_reported_beside_the_password_with_a_summary(agent):
    c = _signed_in(agent)
    response = c.post(
        reverse("workspace:profile", args=["acme"]),
        {
            "form": "password",
            "old_password": PASSWORD,
            "new_password1": "password123",
            "new_password2": "password123",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    first = re.search(r'<div id="id_new_password1_error">(.*?)</div>', html, re.S)
    assert first and "too common" in first.group(1)
    assert 'id="id_new_password2_error"' not in html  # nothing under the confirmation
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S).group(0)
    assert 'href="#id_new_password1"' in summary and "too common" in summary
    assert 'tabindex="-1"' in summary and 'role="alert"' in summary
    assert html.index("error-summary") < html.index('id="id_old_password"')


def test_m4_a_mismatch_stays_under_the_confirmation(agent):
    c = _signed_in(agent)
    html = c.post(
        reverse("workspace:profile", args=["acme"]),
        {
            "form": "password",
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD + "x",
        },
    ).content.decode()
    second = re.search(r'<div id="id_new_password2_error">(.*?)</div>', html, re.S)
    assert second and "didn’t match" in second.group(1)


@pytest.mark.parametrize("where", ["profile", "invitation", "reset"])
def test_m4_password_rules_are_stated_before_submitting(client, owner, agent, where):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from workspace.invitations import invitation_create, invitation_url

    if where == "profile":
        client_for(client, agent)
        page = client.get(reverse("workspace:profile", args=["acme"]))
    elif where == "invitation":
        invitation = invitation_create(
            workspace=_m(owner).workspace,
            email="rules@example.com",
            role=Role.AGENT,
            invited_by=owner,
            base_url="http://testserver",
        )
        page = client.get(re.sub(r"^https?://[^/]+", "", invitation_url(invitation)))
    else:
        uid = urlsafe_base64_encode(force_bytes(agent.pk))
        token = default_token_generator.make_token(agent)
        page = client.get(f"/password-reset/{uid}/{token}/", follow=True)
    html = page.content.decode()
    help_ = re.search(r'<p class="help" id="id_new_password1_helptext">(.*?)</p>', html, re.S)
    assert help_, where
    assert "at least 8 characters" in help_.group(1)
    assert "commonly used password" in help_.group(1)
    assert "entirely numeric" in help_.group(1)
    assert 'aria-describedby="id_new_password1_helptext"' in html


def test_m4_the_invite_form_summarises_its_errors_at_the_top(client, owner):
    client_for(client, owner)
    html = client.post(MEMBERS + "invite/", {"email": "not-an-email", "role": "agent"}).content
    html = html.decode()
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S).group(0)
    assert 'href="#id_email"' in summary and "Enter a valid email address." in summary
    assert 'id="id_email_error"' in html  # and beside the field
