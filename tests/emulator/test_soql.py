"""SOQL over real HTTP through simple-salesforce: every operator, every escape, and the errors."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_emulator import soql
from salesforce_emulator.demo_names import ACME_ORG_ID

EMAILS = "SELECT Email FROM Contact WHERE "


def emails(sf, where: str) -> list[str | None]:
    return [r["Email"] for r in sf.query(EMAILS + where)["records"]]


def names(sf, q: str) -> list[str]:
    return [r["Name"] for r in sf.query(q)["records"]]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # S07: text = is case-insensitive, as Salesforce's is (Email too)
        ("Email = 'marcus.reed@contoso.example'", ["MARCUS.REED@CONTOSO.EXAMPLE"]),
        ("Email = 'Jane.Cooper@Northwind.EXAMPLE'", ["jane.cooper@northwind.example"]),
        # whitespace is significant: ' kim.lee@example.net ' is a near miss
        ("Email = 'kim.lee@example.net'", []),
        ("Email = ' kim.lee@example.net '", [" kim.lee@example.net "]),
        ("Email = 'noah@nowhere.example'", []),
        # Leads never come back from a Contact query
        ("Email = 'lena.lead@example.org'", []),
        ("Email IN ('jane.cooper@northwind.example', 'EVAN@tailspin.example')",
         ["jane.cooper@northwind.example", "evan@tailspin.example"]),
        ("Email LIKE 'jane.%'", ["jane.cooper@northwind.example"]),
        ("Email LIKE 'JANE.COOPER@NORTHWIND._XAMPLE'", ["jane.cooper@northwind.example"]),
        ("Email LIKE '%@contoso.example' AND LastName != 'Reed'", None),
    ],
)  # fmt: skip
def test_s07_email_filters(sf, where, expected):
    got = emails(sf, where)
    if expected is None:
        assert all(e.lower().endswith("@contoso.example") for e in got)
        assert "MARCUS.REED@CONTOSO.EXAMPLE" not in got
    else:
        assert sorted(got) == sorted(expected)


@pytest.mark.parametrize(
    ("where", "count"),
    [
        # phones compare character for character: formatting differences are misses
        ("Phone = '+15550102000'", 0),
        ("Phone = '+1 555 010 2000'", 1),
        ("Phone = '+1 (555) 010-3000'", 1),
        ("MobilePhone = '555-010-4000'", 1),
        ("Phone = '555-010-4000'", 0),
        ("Phone = '+15550102000' OR MobilePhone = '+15550102000'", 0),
    ],
)
def test_phone_equality_is_exact(sf, where, count):
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE {where}")["totalSize"] == count


def test_two_contacts_share_an_email(sf):
    result = sf.query(
        "SELECT Name, LastModifiedDate FROM Contact WHERE Email = 'support@fabrikam.example' "
        "ORDER BY LastModifiedDate DESC"
    )
    assert result["totalSize"] == 2
    assert [r["Name"] for r in result["records"]] == ["Frank Helpdesk", "Fiona Fabrikam"]
    assert result["records"][0]["LastModifiedDate"] == "2026-11-18T16:45:00.000+0000"


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r"'o\'brien@example.com'", "o'brien@example.com"),
        (r"'a\"b'", 'a"b'),
        (r"'a\\b'", "a\\b"),
        (r"'a\nb'", "a\nb"),
        (r"'a\rb'", "a\rb"),
        (r"'a\tb'", "a\tb"),
        (r"'a\bb'", "a\bb"),
        (r"'a\fb'", "a\fb"),
        (r"'caf\u00e9'", "café"),
    ],
)
def test_string_escapes_decode_like_salesforce(sf_emulator, sf, literal, value):
    sf_emulator.update_record("Contact", "0035g00000Con30AAB", Support_Plan__c=value)
    rows = sf.query(f"SELECT Id, Support_Plan__c FROM Contact WHERE Support_Plan__c = {literal}")
    assert [r["Support_Plan__c"] for r in rows["records"]] == [value]


def test_liam_obrien_apostrophe_email_matches(sf):
    assert emails(sf, r"Email = 'o\'brien@example.com'") == ["o'brien@example.com"]


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        (r"'100\%'", ["100%"]),
        (r"'100%'", ["100%", "1000 points"]),
        (r"'a\_b'", ["a_b"]),
        (r"'a_b'", ["a_b", "axb"]),
    ],
)
def test_like_only_escapes(sf_emulator, sf, pattern, matches):
    for rid, text in [
        ("0035g00000Con30AAB", "100%"),
        ("0035g00000Con31AAB", "1000 points"),
        ("0035g00000Con32AAB", "a_b"),
        ("0035g00000Con33AAB", "axb"),
    ]:
        sf_emulator.update_record("Contact", rid, Support_Plan__c=text)
    got = [
        r["Support_Plan__c"]
        for r in sf.query(
            f"SELECT Support_Plan__c FROM Contact WHERE Support_Plan__c LIKE {pattern}"
        )["records"]
    ]
    assert sorted(got) == sorted(matches)


@pytest.mark.parametrize(
    "bad",
    [
        r"SELECT Id FROM Contact WHERE Email = 'a\_b'",  # \_ outside LIKE
        r"SELECT Id FROM Contact WHERE Email = 'a\%b'",  # \% outside LIKE
        r"SELECT Id FROM Contact WHERE Email = 'a\qb'",  # unknown escape
        r"SELECT Id FROM Contact WHERE Email = 'a\u12'",  # short \u
        "SELECT Id FROM Contact WHERE Email = 'unterminated",
    ],
)
def test_bad_escapes_are_malformed_query(sf, bad):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(bad)
    assert exc.value.status == 400
    assert exc.value.content[0]["errorCode"] == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("LastName = 'cooper'", ["Jane Cooper"]),
        ("LastName != 'Cooper' AND Email = 'jane.cooper@northwind.example'", []),
        ("LastName <> 'Cooper' AND Email = 'jane.cooper@northwind.example'", []),
        ("LastName IN ('Cooper', 'REED')", ["Jane Cooper", "Marcus Reed"]),
        ("LastName NOT IN ('Cooper') AND Title = 'CTO'", ["Marcus Reed"]),
        ("NOT LastName = 'Cooper' AND Title = 'Head of Operations'", []),
        ("NOT (LastName = 'Cooper' OR LastName = 'Reed') AND Title IN ('CTO', 'Head of Operations')",
         []),
        ("(LastName = 'Cooper' OR LastName = 'Reed') AND Title = 'CTO'", ["Marcus Reed"]),
        ("LastName = 'Cooper' OR (LastName = 'Reed' AND Title = 'nope')", ["Jane Cooper"]),
        ("DoNotCall = true AND LastName = 'Cooper'", []),
        ("DoNotCall = false AND LastName = 'Cooper'", ["Jane Cooper"]),
        ("Loyalty_Points__c = 1200", ["Jane Cooper"]),
        ("Loyalty_Points__c > 5000", ["Marcus Reed"]),
        ("Loyalty_Points__c >= 1200 AND Loyalty_Points__c < 5400", ["Jane Cooper"]),
        ("Customer_Tier__c = 'T1' AND LastName = 'Reed'", ["Marcus Reed"]),
        ("Email = null AND LastName = 'Shah'", ["Priya Shah"]),
        ("Email != null AND LastName = 'Shah'", []),
        ("Account.Name = 'northwind traders' AND Title LIKE 'head%'", ["Jane Cooper"]),
        ("Owner.Name = 'Ada Admin' AND LastName = 'Cooper'", ["Jane Cooper"]),
        ("Birthdate = 1984-03-12", ["Jane Cooper"]),
        ("LastModifiedDate > 2026-11-19T00:00:00Z AND LastName IN ('Cooper', 'Helpdesk')",
         ["Jane Cooper"]),
        ("LastModifiedDate < 2026-11-20T14:03:11.000+0000 AND LastName IN ('Cooper', 'Helpdesk')",
         ["Frank Helpdesk"]),
    ],
)  # fmt: skip
def test_where_operators(sf, where, expected):
    assert sorted(names(sf, f"SELECT Name FROM Contact WHERE {where}")) == sorted(expected)


def test_null_compares_with_two_valued_logic(sf):
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    with_email = sf.query("SELECT COUNT() FROM Contact WHERE Email != null")["totalSize"]
    not_x = sf.query("SELECT COUNT() FROM Contact WHERE Email != 'x@example.com'")["totalSize"]
    assert total == 45
    assert with_email < total
    assert not_x == total  # rows with a null Email are "not equal" too


def test_mixing_and_or_without_parentheses_is_malformed(sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Contact WHERE LastName = 'a' AND FirstName = 'b' OR Title = 'c'")
    assert exc.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert "unexpected token: 'OR'" in exc.value.content[0]["message"]


def test_order_by_nulls_limit_offset(sf):
    q = (
        "SELECT Name, Email FROM Contact "
        "WHERE Name IN ('Priya Shah', 'Jane Cooper', 'Marcus Reed', 'Omar Haddad')"
    )
    asc = sf.query(q + " ORDER BY Email")["records"]
    # Salesforce: null values sort first by default, in either direction
    assert [r["Email"] for r in asc][:2] == [None, None]
    assert [r["Name"] for r in asc][2:] == ["Jane Cooper", "Marcus Reed"]
    desc_last = sf.query(q + " ORDER BY Email DESC NULLS LAST, Name ASC")["records"]
    assert [r["Name"] for r in desc_last] == [
        "Marcus Reed",
        "Jane Cooper",
        "Omar Haddad",
        "Priya Shah",
    ]
    paged = sf.query(q + " ORDER BY LastName ASC LIMIT 2 OFFSET 1")["records"]
    assert [r["Name"] for r in paged] == ["Omar Haddad", "Marcus Reed"]


def test_count(sf):
    assert sf.query("SELECT COUNT() FROM Contact") == {"totalSize": 45, "done": True, "records": []}
    assert sf.query("SELECT COUNT() FROM Contact WHERE LastName = 'Cooper'")["totalSize"] == 1
    agg = sf.query("SELECT COUNT(Id) FROM Lead")
    assert agg["records"][0]["expr0"] == 3


def test_relationship_fields_come_back_nested(sf):
    rec = sf.query(
        "SELECT Id, Name, Account.Name, account.id, Owner.Name FROM Contact "
        "WHERE Email = 'jane.cooper@northwind.example'"
    )["records"][0]
    assert list(rec) == ["attributes", "Id", "Name", "Account", "Owner"]
    assert rec["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{rec['Id']}",
    }
    assert rec["Account"]["attributes"]["type"] == "Account"
    assert rec["Account"]["Name"] == "Northwind Traders"
    assert rec["Account"]["Id"].startswith("001")
    assert rec["Owner"] == {
        "attributes": {
            "type": "User",
            "url": "/services/data/v62.0/sobjects/User/0055g00000AdaAdAAJ",
        },
        "Name": "Ada Admin",
    }
    no_account = sf.query("SELECT Account.Name FROM Contact WHERE AccountId = null LIMIT 1")
    assert no_account["records"][0]["Account"] is None


def test_field_names_are_case_insensitive_but_returned_canonical(sf):
    rec = sf.query("select id, EMAIL, lastname from CONTACT where email = 'evan@tailspin.example'")
    assert set(rec["records"][0]) == {"attributes", "Id", "Email", "LastName"}


def test_organization_is_the_tokens_org(sf):
    rec = sf.query("SELECT Id, Name, IsSandbox FROM Organization")["records"]
    assert [(r["Id"], r["Name"], r["IsSandbox"]) for r in rec] == [
        (ACME_ORG_ID, "Acme Corporation", False)
    ]


def test_user_and_lead_and_account_are_queryable(sf):
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 2
    assert names(sf, "SELECT Name FROM Lead WHERE Email = 'LENA.LEAD@example.org'") == ["Lena Lead"]
    assert names(sf, "SELECT Name FROM Account WHERE Name LIKE 'North%'") == ["Northwind Traders"]


@pytest.mark.parametrize(
    ("query", "code", "fragment"),
    [
        ("SELECT Id FORM Contact", "MALFORMED_QUERY", "unexpected token: 'FORM'"),
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
        ("SELECT FROM Contact", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
        ("SELECT Id, Id FROM Contact", "MALFORMED_QUERY", "duplicate field selected: Id"),
        ("SELECT Id FROM Contact LIMIT x", "MALFORMED_QUERY", "unexpected token: 'x'"),
        (
            "SELECT Foo FROM Contact",
            "INVALID_FIELD",
            "No such column 'Foo' on entity 'Contact'. If you are attempting to use a custom "
            "field, be sure to append the '__c' after the custom field name.",
        ),
        ("SELECT Id FROM Contact WHERE Nope__c = 'x'", "INVALID_FIELD", "No such column 'Nope__c'"),
        ("SELECT Foo.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Foo'"),
        (
            "SELECT Id FROM Contact WHERE Email = 5",
            "INVALID_FIELD",
            "must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Contact WHERE DoNotCall = 'true'",
            "INVALID_FIELD",
            "must be of type boolean and should not be enclosed in quotes",
        ),
        ("SELECT Id FROM Contact WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID"),
        (
            "SELECT Id FROM Foo",
            "INVALID_TYPE",
            "sObject type 'Foo' is not supported. If you are attempting to use a custom object",
        ),
    ],
)
def test_query_errors_are_salesforce_errors(sf, query, code, fragment):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(query)
    error = exc.value.content[0]
    assert error["errorCode"] == code
    assert fragment in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]


def test_error_position_points_at_the_token():
    with pytest.raises(soql.SoqlError) as exc:
        soql.parse("SELECT Id FORM Contact")
    assert exc.value.message.splitlines()[1:4] == [
        "SELECT Id FORM Contact",
        "          ^",
        "ERROR at Row:1:Column:11",
    ]


def test_query_all_includes_deleted_rows(sf):
    rid = sf.Contact.create({"LastName": "Temp", "Email": "temp@example.com"})["id"]
    sf.Contact.delete(rid)
    q = "SELECT Id, IsDeleted FROM Contact WHERE Email = 'temp@example.com'"
    assert sf.query(q)["totalSize"] == 0
    rows = sf.query_all(q, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(rid, True)]


def test_missing_q_is_malformed(sf, acme_token):
    import requests

    r = requests.get(
        f"{acme_token['instance_url']}/services/data/v62.0/query",
        headers={"Authorization": f"Bearer {acme_token['access_token']}"},
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json() == [
        {"message": "A query string has to be specified", "errorCode": "MALFORMED_QUERY"}
    ]
