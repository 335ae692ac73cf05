"""O1 createworkspace, O2 invitations, O3 password reset."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.conftest import PASSWORD, client_for, make_user
from workspace.invitations import invitation_from_token
from workspace.models import Invitation, Membership, Role, User, Workspace, WorkspaceEvent

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-long-new-passphrase-42"


def _link(text: str) -> str:
    return re.search(r"https?://\S+", text).group(0)


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


# --- O1 --------------------------------------------------------------------------------------


def test_o1_createworkspace_makes_the_workspace_and_owner_and_prints_a_set_password_link(client):
    out = StringIO()
    call_command("createworkspace", "Acme Support", "--owner", "Alice@Example.com", stdout=out)
    ws = Workspace.objects.get(slug="acme-support")
    assert ws.name == "Acme Support"
    alice = User.objects.get(email="alice@example.com")
    assert not alice.has_usable_password()
    assert Membership.objects.get(user=alice, workspace=ws).role == Role.OWNER
    link = _link(out.getvalue())
    assert "valid for 3 days" in out.getvalue()
    # The link sets a password once, signs in, and then no longer works.
    page = client.get(_path(link), follow=True)
    assert page.status_code == 200 and b"Choose a password" in page.content
    set_url = page.redirect_chain[-1][0] if page.redirect_chain else _path(link)
    done = client.post(
        set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )
    assert b"Password set" in done.content
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert client.get("/", follow=True).request["PATH_INFO"] == "/w/acme-support/inbox/"
    client.logout()
    again = client.get(_path(link), follow=True)
    assert b"This link is not valid" in again.content


def test_o1_set_password_link_expires_after_3_days(client, settings):
    out = StringIO()
    call_command("createworkspace", "Acme", "--owner", "bob@example.com", stdout=out)
    settings.PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600
    link = _path(_link(out.getvalue()))
    from unittest import mock

    later = timezone.now() + timedelta(days=3, minutes=1)
    with mock.patch(
        "django.contrib.auth.tokens.PasswordResetTokenGenerator._now",
        return_value=later.replace(tzinfo=None),
    ):
        page = client.get(link, follow=True)
    assert b"This link is not valid" in page.content


def test_o1_slug_option_existing_account_and_bad_input(acme, owner):
    out = StringIO()
    call_command(
        "createworkspace", "Second Desk", "--owner", owner.email, "--slug", "desk2", stdout=out
    )
    assert Workspace.objects.get(slug="desk2").memberships.get().user == owner
    assert "already have an account" in out.getvalue() and "http" not in out.getvalue()
    with pytest.raises(CommandError, match="taken"):
        call_command("createworkspace", "X", "--owner", "a@b.example", "--slug", "acme")
    with pytest.raises(CommandError, match="not a valid email"):
        call_command("createworkspace", "X", "--owner", "nope")
    with pytest.raises(CommandError, match="slug"):
        call_command("createworkspace", "X", "--owner", "a@b.example", "--slug", "Bad Slug")
    # Derived slugs never collide.
    call_command("createworkspace", "Acme", "--owner", "c@d.example", stdout=StringIO())
    assert Workspace.objects.filter(slug="acme-2").exists()


# --- O2 --------------------------------------------------------------------------------------


def _invite(client, email="new.agent@example.com", role="agent"):
    return client.post("/w/acme/settings/members/invite/", {"email": email, "role": role})


def test_o2_owner_invites_an_agent_who_sets_a_password_and_joins(client, owner):
    client_for(client, owner)
    response = _invite(client)
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["new.agent@example.com"]
    assert "Acme Support" in email.subject
    link = _path(_link(email.body))
    members = client.get("/w/acme/settings/members/").content.decode()
    assert "new.agent@example.com" in members and "Pending invitations" in members
    client.logout()
    page = client.get(link)
    assert page.status_code == 200 and b"Choose a password" in page.content
    weak = client.post(link, {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 400 and not User.objects.filter(email="new.agent@example.com")
    joined = client.post(
        link,
        {"full_name": "Nia New", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert joined.status_code == 302 and joined["Location"] == "/w/acme/inbox/"
    user = User.objects.get(email="new.agent@example.com")
    assert user.full_name == "Nia New" and user.check_password(NEW_PASSWORD)
    assert Membership.objects.get(user=user, workspace__slug="acme").role == Role.AGENT
    assert client.get("/w/acme/inbox/").status_code == 200  # signed in
    # Single use.
    client.logout()
    assert client.get(link).status_code == 404
    kinds = list(WorkspaceEvent.objects.values_list("kind", flat=True).order_by("id"))
    assert kinds == ["invited", "joined"]


def test_o2_existing_account_joins_after_sign_in(client, owner, globex, outsider):
    client_for(client, owner)
    _invite(client, email=outsider.email, role="manager")
    link = _path(_link(mail.outbox[0].body))
    client.logout()
    response = client.get(link)
    assert response.status_code == 302 and response["Location"].startswith("/signin/?next=")
    client.post("/signin/", {"username": outsider.email, "password": PASSWORD})
    assert b"Join Acme Support" in client.get(link).content
    assert client.post(link).status_code == 302
    assert Membership.objects.get(user=outsider, workspace__slug="acme").role == Role.MANAGER


def test_o2_someone_else_signed_in_cannot_use_the_link(client, owner, agent):
    client_for(client, owner)
    _invite(client, email="third@example.com")
    link = _path(_link(mail.outbox[0].body))
    make_user("third@example.com")
    client_for(client, agent)
    assert client.post(link).status_code == 403
    assert not Membership.objects.filter(user__email="third@example.com").exists()


def test_o2_only_owners_invite_owners_and_agents_not_at_all(client, manager, agent):
    client_for(client, manager)
    response = _invite(client, role="owner")
    assert response.status_code == 400 and not Invitation.objects.exists()
    assert _invite(client, role="manager").status_code == 302
    client_for(client, agent)
    assert _invite(client, email="x@example.com").status_code == 403
    assert Invitation.objects.count() == 1


def test_o2_bad_input_and_duplicates_get_clear_errors(client, owner, agent):
    client_for(client, owner)
    assert b"Enter a valid email" in _invite(client, email="not-an-email").content
    assert b"already a member" in _invite(client, email=agent.email).content
    _invite(client)
    assert b"already invited" in _invite(client).content
    assert Invitation.objects.count() == 1 and len(mail.outbox) == 1


def test_o2_resend_replaces_the_link_and_revoke_kills_it(client, owner):
    client_for(client, owner)
    _invite(client)
    first = _path(_link(mail.outbox[0].body))
    invitation = Invitation.objects.get()
    client.post(f"/w/acme/settings/members/invitations/{invitation.pk}/resend/")
    second = _path(_link(mail.outbox[1].body))
    assert first != second
    client.logout()
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    client_for(client, owner)
    client.post(f"/w/acme/settings/members/invitations/{invitation.pk}/revoke/")
    client.logout()
    assert client.get(second).status_code == 404
    kinds = list(WorkspaceEvent.objects.values_list("kind", flat=True).order_by("id"))
    assert kinds == ["invited", "resent", "revoked"]


def test_o2_link_expires_after_7_days_and_tampering_fails(client, owner, settings):
    client_for(client, owner)
    _invite(client)
    token = _path(_link(mail.outbox[0].body)).split("/")[2]
    assert invitation_from_token(token) is not None
    assert invitation_from_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    Invitation.objects.update(sent_at=timezone.now() - timedelta(days=7, seconds=1))
    assert invitation_from_token(token) is None
    settings.INVITATION_MAX_AGE = 0
    assert invitation_from_token(token) is None


def test_o2_other_workspaces_invitation_is_404(client, owner, globex):
    other = Invitation.objects.create(workspace=globex, email="z@example.com", nonce="n")
    client_for(client, owner)
    assert (
        client.post(f"/w/acme/settings/members/invitations/{other.pk}/revoke/").status_code == 404
    )
    assert Invitation.objects.get(pk=other.pk).revoked_at is None


# --- O3 --------------------------------------------------------------------------------------


def test_o3_reset_emails_a_single_use_link_and_says_the_same_for_unknown_addresses(client, agent):
    known = client.post("/password-reset/", {"email": agent.email})
    unknown = client.post("/password-reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [agent.email]
    link = _path(_link(mail.outbox[0].body))
    page = client.get(link, follow=True)
    url = page.redirect_chain[-1][0]
    weak = client.post(url, {"new_password1": "password", "new_password2": "password"})
    assert weak.status_code == 200 and b"too common" in weak.content
    client.post(url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    agent.refresh_from_db()
    assert agent.check_password(NEW_PASSWORD)
    client.logout()
    assert b"This link is not valid" in client.get(link, follow=True).content


def test_o3_reset_is_throttled_per_address_and_per_client(client, agent, settings):
    for _ in range(5):
        client.post("/password-reset/", {"email": agent.email})
    assert len(mail.outbox) == 3  # at most 3 emails an hour per address, silently
    settings.PASSWORD_RESET_RATE_PER_HOUR = 6
    response = client.post("/password-reset/", {"email": "other@example.com"})
    assert response.status_code == 302
    response = client.post("/password-reset/", {"email": "other@example.com"})
    assert response.status_code == 429 and response["Retry-After"] == "3600"


def test_o3_signin_page_links_to_reset(client):
    assert b'href="/password-reset/"' in client.get("/signin/").content
