"""A7: SOSL over real HTTP (``/services/data/vXX.X/search``): answer shape, scopes, escaping, errors."""

from __future__ import annotations

import pytest
import requests

from salesforce_emulator import sosl
from salesforce_emulator.demo_names import ACME_ADMIN

JANE = "0035g00000Con01AAB"
OMAR = "0035g00000Con08AAB"


def search(token: dict, q: str, version: str = "62.0") -> requests.Response:
    return requests.get(
        f"{token['instance_url']}/services/data/v{version}/search",
        params={"q": q},
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=5,
    )


def ids(token: dict, q: str) -> list[str]:
    response = search(token, q)
    assert response.status_code == 200, response.text
    return [r["Id"] for r in response.json()["searchRecords"]]


def test_a7_sosl_answer_shape_and_fields(acme_token):
    q = (
        "FIND {jane.cooper\\@northwind.example} IN EMAIL FIELDS "
        "RETURNING Contact(Id, Name, Account.Name, Owner.Email) LIMIT 10"
    )
    response = search(acme_token, q)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["searchRecords"]
    (record,) = body["searchRecords"]
    assert record["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{JANE}",
    }
    assert record["Id"] == JANE and record["Name"] == "Jane Cooper"
    assert record["Account"]["Name"] == "Northwind Traders"
    assert record["Owner"]["Email"] == "ada.admin@acme-corp.example"


def test_a7_sosl_scopes_words_and_wildcards(acme_token):
    # NAME FIELDS finds by name, not by email; ALL FIELDS finds by either
    assert ids(acme_token, "FIND {Cooper} IN NAME FIELDS RETURNING Contact(Id)") == [JANE]
    assert ids(acme_token, "FIND {northwind} IN NAME FIELDS RETURNING Contact(Id)") == []
    everyone = ids(acme_token, "find {northwind} in all fields returning contact(Id)")
    assert JANE in everyone and len(everyone) >= 4
    # words next to each other are ANDed; a phrase must be adjacent; * is a wildcard
    assert ids(acme_token, "FIND {jane cooper} RETURNING Contact(Id)") == [JANE]
    assert ids(acme_token, 'FIND {"cooper jane"} RETURNING Contact(Id)') == []
    assert ids(acme_token, "FIND {Coop*} IN NAME FIELDS RETURNING Contact(Id)") == [JANE]
    got = ids(acme_token, "FIND {Cooper OR Haddad} IN NAME FIELDS RETURNING Contact(Id)")
    assert set(got) == {JANE, OMAR, "0035g00000Con23AAB"}
    got = ids(acme_token, "FIND {Haddad AND NOT Omar} IN NAME FIELDS RETURNING Contact(Id)")
    assert got == ["0035g00000Con23AAB"]


def test_a7_sosl_phone_fields_ignore_formatting(acme_token):
    term = sosl.escape("+1 (555) 010-3000")
    assert ids(acme_token, f"FIND {{{term}}} IN PHONE FIELDS RETURNING Contact(Id)") == [OMAR]
    assert ids(acme_token, "FIND {5550103000} IN PHONE FIELDS RETURNING Contact(Id)") == [OMAR]
    # EMAIL FIELDS never look at phones
    assert ids(acme_token, "FIND {5550103000} IN EMAIL FIELDS RETURNING Contact(Id)") == []


def test_a7_sosl_several_objects_where_limits(acme_token):
    q = (
        "FIND {example} IN EMAIL FIELDS RETURNING Contact(Id, Email WHERE AccountId = null "
        "ORDER BY Email LIMIT 2), Lead(Id, Email) LIMIT 50"
    )
    records = search(acme_token, q).json()["searchRecords"]
    contacts = [r for r in records if r["attributes"]["type"] == "Contact"]
    leads = [r for r in records if r["attributes"]["type"] == "Lead"]
    assert [r["Email"] for r in contacts] == sorted(r["Email"] for r in contacts)
    assert len(contacts) == 2 and len(leads) == 3
    assert records.index(contacts[0]) < records.index(leads[0])  # RETURNING order
    assert len(ids(acme_token, "FIND {example} IN EMAIL FIELDS RETURNING Contact LIMIT 3")) == 3


def test_a7_sosl_reserved_characters_need_escaping(acme_token):
    # an O'Brien: the apostrophe is reserved; escaped, it is found
    found = ids(acme_token, "FIND {o\\'brien\\@example.com} IN EMAIL FIELDS RETURNING Contact(Id)")
    assert found == ["0035g00000Con02AAB"]
    for raw in ("o'brien", "a-b", "x:y", "x+y", "{x}"):
        response = search(acme_token, f"FIND {{{raw}}} RETURNING Contact(Id)")
        assert response.status_code == 400, raw
        assert response.json()[0]["errorCode"] == "MALFORMED_SEARCH"
    assert sosl.escape("a+b-c (d) 'e'") == "a\\+b\\-c \\(d\\) \\'e\\'"


@pytest.mark.parametrize(
    ("q", "code", "words"),
    [
        ("FIND jane RETURNING Contact", "MALFORMED_SEARCH", sosl.NO_BRACES),
        ("FIND {j}", "MALFORMED_SEARCH", sosl.TOO_SHORT),
        ("FIND {jane} IN BOGUS FIELDS", "MALFORMED_SEARCH", "unexpected token: 'BOGUS'"),
        ("FIND {jane} RETURNING Nope(Id)", "INVALID_TYPE", "sObject type 'Nope'"),
        ("FIND {jane} RETURNING Contact(Nope)", "INVALID_FIELD", "No such column 'Nope'"),
        ("FIND {jane} RETURNING Contact(Id) LIMIT x", "MALFORMED_SEARCH", "unexpected token"),
        ("SELECT Id FROM Contact", "MALFORMED_SEARCH", "unexpected token: 'SELECT'"),
    ],
)
def test_a7_sosl_errors(acme_token, q, code, words):
    response = search(acme_token, q)
    assert response.status_code == 400
    (err,) = response.json()
    assert err["errorCode"] == code and words in err["message"]


def test_a7_sosl_hidden_object_and_index_lag(sf_emulator, acme_token):
    sf_emulator.hide_objects("Lead", username=ACME_ADMIN)
    response = search(acme_token, "FIND {lena} RETURNING Lead(Id)")
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_TYPE"
    sf_emulator.hide_objects(username=ACME_ADMIN)
    sf_emulator.update_record("Contact", JANE, Title="Zebra keeper")
    assert ids(acme_token, "FIND {zebra} RETURNING Contact(Id)") == [JANE]
    sf_emulator.set_fault("search_index_lag", value=60)
    assert ids(acme_token, "FIND {zebra} RETURNING Contact(Id)") == []  # not indexed yet
    assert ids(acme_token, "FIND {jane} IN NAME FIELDS RETURNING Contact(Id)") == []
