"""Q7: the shared test constants name what the emulator's demo data really holds."""

from __future__ import annotations

import json
from pathlib import Path

from salesforce_emulator import demo_names

DATA = Path(demo_names.__file__).with_name("demo_data.json")


def test_q7_demo_names_are_the_demo_data_s_orgs_and_users():
    orgs = {org["id"]: org for org in json.loads(DATA.read_text(encoding="utf-8"))["orgs"]}

    def users(org_id):
        return {user["username"] for user in orgs[org_id]["users"]}

    assert orgs[demo_names.ACME_ORG_ID]["name"] == "Acme Corporation"
    assert {demo_names.ACME_ADMIN, demo_names.NOAPI_USER} <= users(demo_names.ACME_ORG_ID)
    assert demo_names.ACME_SANDBOX_ADMIN in users(demo_names.ACME_SANDBOX_ORG_ID)
    assert orgs[demo_names.INITECH_ORG_ID]["name"] == "Initech"
    assert demo_names.INITECH_USER in users(demo_names.INITECH_ORG_ID)
