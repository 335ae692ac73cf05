"""H8: `make run` again and again on one database; the demo's secrets 0600; no emailed link in git."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from contacts.models import Contact
from inbox.models import Conversation
from workspace.models import Workspace

ROOT = Path(__file__).resolve().parents[2]


def _seed() -> None:
    call_command("seed_demo", stdout=StringIO())


@pytest.mark.django_db
def test_h8_seed_demo_runs_again_after_contacts_with_demo_names_were_added():
    _seed()
    acme = Workspace.objects.get(slug="acme")
    before = Contact.objects.filter(workspace=acme).count()
    conversations = Conversation.objects.count()
    # What agents and the inbound API do between two runs: other people with the demo's names.
    other_jane = Contact.objects.create(
        workspace=acme, name="Jane Cooper", email="jane@another.example"
    )
    Contact.objects.create(workspace=acme, name="Priya Shah", phone="+44 20 7946 0000")
    _seed()
    _seed()
    assert Contact.objects.filter(workspace=acme).count() == before + 2
    assert Conversation.objects.count() == conversations
    assert Contact.objects.filter(workspace=acme, name="Jane Cooper").count() == 2
    demo_jane = Contact.objects.get(workspace=acme, email_key="jane.cooper@northwind.example")
    assert demo_jane.pk != other_jane.pk
    other_jane.refresh_from_db()
    assert other_jane.email == "jane@another.example"  # left alone


@pytest.mark.django_db
def test_h8_seed_demo_restores_a_demo_contact_found_by_its_email_not_its_name():
    _seed()
    acme = Workspace.objects.get(slug="acme")
    marcus = Contact.objects.get(workspace=acme, email="marcus.reed@contoso.example")
    marcus.name = "Marcus R."
    marcus.save()
    _seed()
    marcus.refresh_from_db()
    assert marcus.name == "Marcus Reed"
    assert not Contact.objects.filter(workspace=acme, name="Marcus R.").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_h8_demo_keys_are_owner_only_and_old_ones_are_fixed(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    old = var / "secret_key"
    old.write_text("kept-as-it-was\n")
    old.chmod(0o644)
    # A stand-in for .venv that make sees as installed; its python is this test's interpreter.
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (venv / ".installed").touch()
    result = subprocess.run(  # noqa: S603 - make with the project's own Makefile
        ["make", "-s", "-f", str(ROOT / "Makefile"), f"VENV={venv}", "var-secrets"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    for name in ("secret_key", "field_key"):
        assert stat.S_IMODE((var / name).stat().st_mode) == 0o600, name
        assert (var / name).read_text().strip()
    assert old.read_text() == "kept-as-it-was\n"


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout")
def test_h8_no_email_with_a_live_link_is_committed():
    tracked = subprocess.run(  # noqa: S603
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [name for name in tracked if "/" not in name and name.endswith(".log")]
    grep = subprocess.run(  # noqa: S603
        [
            "git",
            "grep",
            "-l",
            "-E",
            r"/invitations/eyJ[A-Za-z0-9_-]+:|/password-reset/[A-Za-z0-9_-]+/[a-z0-9]+-[0-9a-f]{20,}/",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert grep.stdout == "", grep.stdout
