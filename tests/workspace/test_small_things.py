"""M7 (issue 26): the country select names countries; the small-screen Contacts list has no
empty "Salesforce" label; the Close/Assign bar keeps off the first message."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import client_for
from workspace.forms import region_choices

pytestmark = pytest.mark.django_db


def test_m7_the_country_select_shows_names_sorted_by_name(client, owner):
    choices = dict(region_choices())
    assert choices["AD"] == "Andorra (AD, +376)"
    assert choices["GB"] == "United Kingdom (GB, +44)"
    assert choices["XK"] == "Kosovo (XK, +383)"  # a code shared with neighbours, named anyway
    labels = [label for _, label in region_choices()]
    assert labels == sorted(labels, key=str.casefold)
    assert all(
        label.split(" (")[0] != code for code, label in region_choices()
    )  # never a bare code
    client_for(client, owner)
    html = client.get("/w/acme/settings/general/").content.decode()
    assert '<option value="US" selected>United States (US, +1)</option>' in html


def test_m7_small_screens_hide_the_empty_salesforce_cell_and_space_the_thread_bar():
    css = (Path(settings.BASE_DIR) / "static/css/app.css").read_text()
    small = css[css.index("Tables become stacked rows") :]
    small = small[: small.index("\n}\n")]
    assert ".table td.badge-cell:not(:has(.badge)) { display: none; }" in small
    assert ".main.thread .page-head { margin-bottom: 12px; }" in css
