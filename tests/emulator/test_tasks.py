"""A7: Task create/update/query with Salesforce's answers, permission errors and faults; Owner.Email."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from salesforce_emulator.demo_names import ACME_ADMIN

JANE = "0035g00000Con01AAB"
LENA = "00Q5g00000Led01EAB"
CASE = "5005g00000Cas01AAB"
ACCOUNT = "0015g00000Acc01AAB"


def call(token: dict, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method,
        f"{token['instance_url']}/services/data/v62.0/{path}",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=kwargs.pop("timeout", 5),
        **kwargs,
    )


def create_task(token: dict, timeout: float = 5, **fields) -> requests.Response:
    return call(token, "POST", "sobjects/Task", json=fields, timeout=timeout)


def test_a7_task_create_answers_201_and_is_queryable(acme_token):
    today = dt.date.today().isoformat()
    response = create_task(
        acme_token,
        Subject="Conversation [TI-42]",
        Description="Customer: hello\nAgent: hi",
        Status="Completed",
        ActivityDate=today,
        WhoId=JANE,
        WhatId=CASE,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True and body["errors"] == [] and body["id"].startswith("00T")
    rows = call(
        acme_token,
        "GET",
        "query",
        params={
            "q": "SELECT Id, Subject, Description, Status, IsClosed, WhoId, WhatId, ActivityDate,"
            " Priority, Owner.Email FROM Task WHERE Subject LIKE '%[TI-42]'"
        },
    ).json()["records"]
    (row,) = rows
    assert row["Id"] == body["id"] and row["Description"] == "Customer: hello\nAgent: hi"
    assert (row["Status"], row["IsClosed"], row["Priority"]) == ("Completed", True, "Normal")
    assert (row["WhoId"], row["WhatId"], row["ActivityDate"]) == (JANE, CASE, today)
    assert row["Owner"]["Email"] == "ada.admin@acme-corp.example"


def test_a7_task_update_answers_204(acme_token):
    task_id = create_task(acme_token, Subject="x", WhoId=JANE).json()["id"]
    response = call(acme_token, "PATCH", f"sobjects/Task/{task_id}", json={"Description": "more"})
    assert response.status_code == 204 and response.content == b""
    got = call(acme_token, "GET", f"sobjects/Task/{task_id}", params={"fields": "Description"})
    assert got.json()["Description"] == "more"


def test_a7_task_description_cannot_be_filtered(acme_token):
    response = call(
        acme_token, "GET", "query", params={"q": "SELECT Id FROM Task WHERE Description = 'x'"}
    )
    assert response.status_code == 400
    (err,) = response.json()
    assert err["errorCode"] == "INVALID_FIELD"
    assert "field 'Description' can not be filtered" in err["message"]


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"WhoId": ACCOUNT}, "FIELD_INTEGRITY_EXCEPTION", "Name ID: id value of incorrect type"),
        ({"WhoId": JANE, "WhatId": JANE}, "FIELD_INTEGRITY_EXCEPTION", "Related To ID: id value"),
        ({"WhoId": LENA, "WhatId": CASE}, "FIELD_INTEGRITY_EXCEPTION", "with a Lead"),
        ({"WhoId": "0035g00000Zzz99AAB"}, "INVALID_CROSS_REFERENCE_KEY", "invalid cross ref"),
        ({"Description": "x" * 32001}, "STRING_TOO_LONG", "(max length=32000)"),
        ({"Nope": 1}, "INVALID_FIELD", "No such column 'Nope'"),
    ],
)
def test_a7_task_refusals(acme_token, fields, code, words):
    response = create_task(acme_token, Subject="s", **fields)
    assert response.status_code == 400
    (err,) = response.json()
    assert err["errorCode"] == code and words in err["message"]


def test_a7_task_needs_edit_tasks(sf_emulator, acme_token):
    sf_emulator.set_fault("no_edit_tasks", username=ACME_ADMIN)
    response = create_task(acme_token, Subject="s", WhoId=JANE)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert not [w for w in sf_emulator.writes() if w["sobject"] == "Task"]


def test_a7_task_timeout_after_save(sf_emulator, acme_token):
    sf_emulator.set_fault("hang_after_write", value=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create_task(acme_token, Subject="Conversation [TI-7]", WhoId=JANE, timeout=0.5)
    sf_emulator.set_fault("hang_after_write", value=None)
    rows = call(
        acme_token,
        "GET",
        "query",
        params={"q": "SELECT Id FROM Task WHERE Subject LIKE '%[TI-7]'"},
    ).json()["records"]
    assert len(rows) == 1  # saved although the caller never got the answer


def test_a7_owner_email_in_contact_query(acme_token):
    rows = call(
        acme_token,
        "GET",
        "query",
        params={
            "q": "SELECT Id, Owner.Email, Owner.Name FROM Contact "
            f"WHERE Id = '{JANE}' OR Email = 'marcus.reed@contoso.example'"
        },
    ).json()["records"]
    assert {r["Id"]: r["Owner"]["Email"] for r in rows} == {
        JANE: "ada.admin@acme-corp.example",
        "0035g00000Con04AAB": "ada.admin@acme-corp.example",
    }
