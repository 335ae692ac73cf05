"""Shared fixtures: workspaces, people in each role, contacts and conversations."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from contacts.models import Contact
from inbox.models import Conversation, Message
from workspace.models import Membership, Role, User, Workspace

PASSWORD = "correct-horse-battery"
TEST_FIELD_KEY = Fernet.generate_key().decode()


def pytest_configure(config):
    from django.conf import settings

    # WhiteNoise warns when STATIC_ROOT is missing; tests serve static files through finders.
    settings.STATIC_ROOT.mkdir(exist_ok=True)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # The default cache is Django's database cache: its table lives in the test database too.
    with django_db_blocker.unblock():
        call_command("createcachetable", verbosity=0)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.FIELD_ENCRYPTION_KEY = [TEST_FIELD_KEY]
    # Webhook receivers in tests listen on loopback over http (DECISIONS: the suite sets it).
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.SECURE_COOKIES = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clear_cache(request):
    """Each test starts with an empty cache (Redis or locmem survive between tests)."""
    from django.core.cache import cache

    if "django_db_setup" in request.fixturenames or request.node.get_closest_marker("django_db"):
        with contextlib.suppress(Exception):  # a test may break the cache on purpose
            cache.clear()
    yield


def make_user(email: str, **extra) -> User:
    return User.objects.create_user(email=email, password=PASSWORD, **extra)


@pytest.fixture
def acme(db) -> Workspace:
    return Workspace.objects.create(name="Acme Support", slug="acme", time_zone="Europe/London")


@pytest.fixture
def globex(db) -> Workspace:
    return Workspace.objects.create(name="Globex Help", slug="globex")


def _member(workspace: Workspace, email: str, role: str) -> User:
    user = make_user(email)
    Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


@pytest.fixture
def owner(acme) -> User:
    return _member(acme, "owner@acme.test", Role.OWNER)


@pytest.fixture
def manager(acme) -> User:
    return _member(acme, "manager@acme.test", Role.MANAGER)


@pytest.fixture
def agent(acme) -> User:
    return _member(acme, "agent@acme.test", Role.AGENT)


@pytest.fixture
def outsider(globex) -> User:
    """A member of Globex only: every Acme URL must answer 404 to them (W2)."""
    return _member(globex, "agent@globex.test", Role.AGENT)


@pytest.fixture
def contact(acme) -> Contact:
    return Contact.objects.create(
        workspace=acme, name="Jane Cooper", email="jane.cooper@northwind.example", phone=""
    )


@pytest.fixture
def conversation(acme, contact) -> Conversation:
    conv = Conversation.objects.create(workspace=acme, contact=contact, subject="Order late")
    Message.objects.create(conversation=conv, direction=Message.Direction.IN, body="Where is it?")
    return conv


def client_for(client, user):
    client.force_login(user)
    return client
