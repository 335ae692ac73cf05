"""Issue 12 R5: Case, Opportunity, OpportunityContactRole and Lead in the emulator, parent-child
subqueries in Salesforce's nested shape, objects hidden from a user, and the Lightning pages.

Everything over real HTTP (simple-salesforce for the REST API, requests for the pages).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from salesforce_emulator.__main__ import parse_fault
from salesforce_emulator.demo_names import ACME_ADMIN, ACME_ORG_ID, ACME_SANDBOX_ADMIN
from salesforce_emulator.soql import INVALID_REL_HINT, INVALID_TYPE_HINT
from tests.salesforce_support import issue_token

from .conftest import simple_sf

JANE = "0035g00000Con01AAB"
LIAM = "0035g00000Con02AAB"  # no cases, no opportunities
MARCUS = "0035g00000Con04AAB"
JANE_OPEN_CASES = ["5005g00000Cas01AAB", "5005g00000Cas02AAB"]  # newest first
JANE_CLOSED_CASE = "5005g00000Cas03AAB"
MARCUS_OPEN_CASES = [
    "5005g00000Cas04AAB",
    "5005g00000Cas05AAB",
    "5005g00000Cas06AAB",
    "5005g00000Cas07AAB",
]
JANE_OPEN_OPP = "0065g00000Opp01AAB"
JANE_WON_OPP = "0065g00000Opp02AAB"

CASES = (
    "(SELECT CaseNumber, Subject, Status, Priority, LastModifiedDate FROM Cases "
    "WHERE IsClosed = false ORDER BY LastModifiedDate DESC LIMIT 3)"
)
OPPS = (
    "(SELECT Opportunity.Name, Opportunity.StageName, Opportunity.Amount, Opportunity.CloseDate "
    "FROM OpportunityContactRoles WHERE Opportunity.IsClosed = false "
    "ORDER BY Opportunity.CloseDate LIMIT 3)"
)
LOOKUP = f"SELECT Id, Name, {CASES}, {OPPS} FROM Contact WHERE Id = '{{}}'"


def lookup(sf, contact_id: str) -> dict:
    records = sf.query(LOOKUP.format(contact_id))["records"]
    assert len(records) == 1
    return records[0]


def error_of(sf, q: str) -> tuple[int, list[dict]]:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(q)
    return exc.value.status, exc.value.content


def located(q: str, at: str, message: str) -> str:
    """Salesforce's message layout: the query line, a caret under ``at``, row and column."""
    col = q.index(at) + 1
    return f"\n{q}\n{' ' * (col - 1)}^\nERROR at Row:1:Column:{col}\n{message}"


# --------------------------------------------------------------------------- objects, describe


def test_r5_describe_case_opportunity_contact_role_and_lead(sf):
    def fields(sobject):
        return {f["name"]: f for f in getattr(sf, sobject).describe()["fields"]}

    case = fields("Case")
    assert {
        "Id", "CaseNumber", "Subject", "Status", "Priority", "IsClosed", "ContactId",
        "AccountId", "CreatedDate", "LastModifiedDate",
    } <= set(case)  # fmt: skip
    assert case["ContactId"]["referenceTo"] == ["Contact"]
    assert case["ContactId"]["relationshipName"] == "Contact"
    assert case["CaseNumber"]["createable"] is False and case["IsClosed"]["createable"] is False
    opp = fields("Opportunity")
    assert {
        "Name", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon", "AccountId",
        "LastModifiedDate",
    } <= set(opp)  # fmt: skip
    assert (opp["Amount"]["type"], opp["Amount"]["soapType"]) == ("currency", "xsd:double")
    assert opp["CloseDate"]["type"] == "date"
    ocr = fields("OpportunityContactRole")
    assert {"ContactId", "OpportunityId", "Role", "IsPrimary"} <= set(ocr)
    assert ocr["OpportunityId"]["relationshipName"] == "Opportunity"
    assert ocr["OpportunityId"]["referenceTo"] == ["Opportunity"]
    lead = fields("Lead")
    assert {"Company", "Status", "Email", "Phone", "MobilePhone"} <= set(lead)


def test_r5_contact_describe_lists_cases_and_contact_roles(sf):
    children = {r["relationshipName"]: r for r in sf.Contact.describe()["childRelationships"]}
    assert children["Cases"]["childSObject"] == "Case"
    assert children["Cases"]["field"] == "ContactId"
    assert children["OpportunityContactRoles"]["childSObject"] == "OpportunityContactRole"
    assert children["OpportunityContactRoles"]["field"] == "ContactId"
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Case", "Opportunity", "OpportunityContactRole", "Lead"} <= names


def test_r5_new_objects_leave_contact_counts_alone(sf):
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 45


@pytest.mark.parametrize(
    ("q", "count"),
    [
        (f"SELECT COUNT() FROM Case WHERE ContactId = '{JANE}'", 3),
        (f"SELECT COUNT() FROM Case WHERE ContactId = '{JANE}' AND IsClosed = false", 2),
        (f"SELECT COUNT() FROM Case WHERE ContactId = '{MARCUS}' AND IsClosed = false", 4),
        (f"SELECT COUNT() FROM Case WHERE ContactId = '{LIAM}'", 0),
        ("SELECT COUNT() FROM Opportunity WHERE IsClosed = false", 3),
        ("SELECT COUNT() FROM Opportunity WHERE IsWon = true AND Amount >= 10000", 1),
        (f"SELECT COUNT() FROM OpportunityContactRole WHERE ContactId = '{JANE}'", 2),
    ],
)
def test_r5_count_queries_on_new_objects(sf, q, count):
    assert sf.query(q)["totalSize"] == count


# --------------------------------------------------------------------------- subqueries


def test_r5_subqueries_answer_salesforce_nested_shape(sf):
    jane = lookup(sf, JANE)
    assert list(jane) == ["attributes", "Id", "Name", "Cases", "OpportunityContactRoles"]
    cases = jane["Cases"]
    assert list(cases) == ["totalSize", "done", "records"]
    assert cases["totalSize"] == 2 and cases["done"] is True
    assert cases["records"][0] == {
        "attributes": {
            "type": "Case",
            "url": f"/services/data/v62.0/sobjects/Case/{JANE_OPEN_CASES[0]}",
        },
        "CaseNumber": "00001001",
        "Subject": "Delivery tracking page shows the wrong ETA",
        "Status": "Working",
        "Priority": "High",
        "LastModifiedDate": "2026-11-21T09:15:00.000+0000",
    }
    urls = [r["attributes"]["url"].rsplit("/", 1)[1] for r in cases["records"]]
    assert urls == JANE_OPEN_CASES  # the closed one is filtered out, newest first
    roles = jane["OpportunityContactRoles"]
    assert roles["totalSize"] == 1
    (role,) = roles["records"]
    assert role["attributes"]["type"] == "OpportunityContactRole"
    assert role["Opportunity"] == {
        "attributes": {
            "type": "Opportunity",
            "url": f"/services/data/v62.0/sobjects/Opportunity/{JANE_OPEN_OPP}",
        },
        "Name": "Northwind - Fleet Expansion 2027",
        "StageName": "Negotiation/Review",
        "Amount": 48000.0,
        "CloseDate": "2026-12-15",
    }


def test_r5_subquery_limit_caps_records_and_total_size(sf):
    marcus = lookup(sf, MARCUS)
    cases = marcus["Cases"]
    assert cases["totalSize"] == 3  # the records returned (see soql._nested)
    assert [r["attributes"]["url"][-18:] for r in cases["records"]] == MARCUS_OPEN_CASES[:3]
    everything = sf.query(
        f"SELECT Id, (SELECT Id FROM Cases WHERE IsClosed = false) FROM Contact "
        f"WHERE Id = '{MARCUS}'"
    )["records"][0]["Cases"]
    assert everything["totalSize"] == 4
    assert [r["Id"] for r in everything["records"]] == sorted(MARCUS_OPEN_CASES)
    # two open deals, soonest close date first; the closed-lost one is filtered out
    names = [r["Opportunity"]["Name"] for r in marcus["OpportunityContactRoles"]["records"]]
    assert names == ["Contoso - Premier Support Add-on", "Contoso - Platform Upgrade"]


def test_r5_subquery_without_children_is_null(sf):
    liam = lookup(sf, LIAM)
    assert liam["Cases"] is None
    assert liam["OpportunityContactRoles"] is None
    # children exist but none matches the subquery's WHERE: null as well
    q = (
        f"SELECT Id, (SELECT Id FROM Cases WHERE Priority = 'Urgent') FROM Contact "
        f"WHERE Id = '{JANE}'"
    )
    assert sf.query(q)["records"][0]["Cases"] is None


def test_r5_subquery_with_parent_path_filters_and_many_parents(sf):
    q = (
        "SELECT LastName, (SELECT Role, IsPrimary, Opportunity.IsWon FROM OpportunityContactRoles "
        "WHERE Opportunity.IsWon = true) FROM Contact WHERE Id IN "
        f"('{JANE}', '{MARCUS}', '{LIAM}') ORDER BY LastName"
    )
    rows = {r["LastName"]: r["OpportunityContactRoles"] for r in sf.query(q)["records"]}
    assert set(rows) == {"Cooper", "Reed", "O'Brien"}
    assert rows["Reed"] is None and rows["O'Brien"] is None
    (won,) = rows["Cooper"]["records"]
    assert won["Role"] == "Economic Buyer" and won["IsPrimary"] is True
    assert won["Opportunity"]["IsWon"] is True
    assert won["Opportunity"]["attributes"]["url"].endswith(JANE_WON_OPP)


def test_r5_subquery_sees_records_created_through_the_api(sf_emulator, sf):
    created = sf.Case.create({"Subject": "Printer on fire", "Status": "New", "ContactId": LIAM})
    case = sf.Case.get(created["id"])
    assert case["CaseNumber"] == "00001010"  # the org's next case number
    assert case["OwnerId"] == sf_emulator.user_id(ACME_ADMIN)
    assert case["IsClosed"] is False
    cases = lookup(sf, LIAM)["Cases"]
    assert [r["Subject"] for r in cases["records"]] == ["Printer on fire"]
    sf.Case.update(created["id"], {"Status": "Closed"})
    assert sf.Case.get(created["id"])["IsClosed"] is True
    assert lookup(sf, LIAM)["Cases"] is None


def test_r5_unknown_child_relationship_fails_like_salesforce(sf):
    q = f"SELECT Id, (SELECT Id FROM Casez) FROM Contact WHERE Id = '{JANE}'"
    status, body = error_of(sf, q)
    assert status == 400
    assert body == [
        {
            "message": located(
                q,
                "Casez",
                "Didn't understand relationship 'Casez' in FROM part of query call. "
                + INVALID_REL_HINT,
            ),
            "errorCode": "INVALID_TYPE",
        }
    ]


@pytest.mark.parametrize(
    ("q", "code"),
    [
        # a field that is not on the child object
        ("SELECT Id, (SELECT Nope FROM Cases) FROM Contact", "INVALID_FIELD"),
        # Opportunities is Account's relationship, not Contact's
        ("SELECT Id, (SELECT Id FROM Opportunities) FROM Contact", "INVALID_TYPE"),
        ("SELECT Id, (SELECT Id FROM Cases FROM Contact", "MALFORMED_QUERY"),
        ("SELECT COUNT(), (SELECT Id FROM Cases) FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id, (SELECT Id, (SELECT Id FROM Cases) FROM Cases) FROM Contact",
         "MALFORMED_QUERY"),
        ("SELECT Id, (SELECT Id FROM Cases), (SELECT Id FROM Cases) FROM Contact",
         "MALFORMED_QUERY"),
    ],
)  # fmt: skip
def test_r5_bad_subqueries_are_refused(sf, q, code):
    status, body = error_of(sf, q)
    assert (status, body[0]["errorCode"]) == (400, code)


def test_r5_account_subquery_on_opportunities(sf):
    q = (
        "SELECT Name, (SELECT Name FROM Opportunities ORDER BY CloseDate DESC LIMIT 1) "
        "FROM Account WHERE Id = '0015g00000Acc01AAB'"
    )
    (account,) = sf.query(q)["records"]
    assert [r["Name"] for r in account["Opportunities"]["records"]] == [
        "Northwind - Fleet Expansion 2027"
    ]


# --------------------------------------------------------------------------- hidden objects


def hidden_type_body(q: str, name: str) -> list[dict]:
    """What Salesforce answers for an object the user cannot see: the caret under its name."""
    col = q.index(f"FROM {name}") + len("FROM ") + 1
    message = f"sObject type '{name}' is not supported. {INVALID_TYPE_HINT}"
    located_message = f"\n{q}\n{' ' * (col - 1)}^\nERROR at Row:1:Column:{col}\n{message}"
    return [{"message": located_message, "errorCode": "INVALID_TYPE"}]


def test_r5_hidden_case_answers_invalid_type(sf_emulator, sf):
    sf_emulator.hide_objects("Case", username=ACME_ADMIN)
    q = f"SELECT Id FROM Case WHERE ContactId = '{JANE}'"
    assert error_of(sf, q) == (400, hidden_type_body(q, "Case"))
    count = f"SELECT COUNT() FROM Case WHERE ContactId = '{JANE}'"
    assert error_of(sf, count) == (400, hidden_type_body(count, "Case"))
    # the subquery on its relationship fails as an unknown relationship does
    q = LOOKUP.format(JANE)
    status, body = error_of(sf, q)
    assert status == 400
    assert body == [
        {
            "message": located(
                q,
                "Cases ",
                "Didn't understand relationship 'Cases' in FROM part of query call. "
                + INVALID_REL_HINT,
            ),
            "errorCode": "INVALID_TYPE",
        }
    ]
    # the rest still answers: the same lookup without the Cases list
    q = f"SELECT Id, Name, {OPPS} FROM Contact WHERE Id = '{JANE}'"
    assert sf.query(q)["records"][0]["OpportunityContactRoles"]["totalSize"] == 1
    # describe: no Cases relationship on Contact, no Case in the global list, Case is unknown
    children = {r["relationshipName"] for r in sf.Contact.describe()["childRelationships"]}
    assert children == {"OpportunityContactRoles"}
    assert "Case" not in {o["name"] for o in sf.describe()["sobjects"]}
    with pytest.raises(SalesforceResourceNotFound):
        sf.Case.describe()
    with pytest.raises(SalesforceResourceNotFound):
        sf.Case.get(JANE_OPEN_CASES[0])
    # shown again
    sf_emulator.hide_objects(username=ACME_ADMIN)
    assert lookup(sf, JANE)["Cases"]["totalSize"] == 2


def test_r5_hidden_opportunity_hides_contact_roles_too(sf_emulator, sf):
    sf_emulator.hide_objects("Opportunity", username=ACME_ADMIN)
    q = "SELECT Id FROM Opportunity"
    assert error_of(sf, q) == (400, hidden_type_body(q, "Opportunity"))
    q = "SELECT Id FROM OpportunityContactRole"
    assert error_of(sf, q) == (400, hidden_type_body(q, "OpportunityContactRole"))
    status, body = error_of(sf, LOOKUP.format(JANE))
    assert status == 400 and body[0]["errorCode"] == "INVALID_TYPE"
    assert "Didn't understand relationship 'OpportunityContactRoles'" in body[0]["message"]
    q = f"SELECT Id, {CASES} FROM Contact WHERE Id = '{JANE}'"
    assert sf.query(q)["records"][0]["Cases"]["totalSize"] == 2
    children = {r["relationshipName"] for r in sf.Contact.describe()["childRelationships"]}
    assert children == {"Cases"}


def test_r5_hide_object_is_per_user_and_levels_add_up(sf_emulator, sf):
    sandbox = simple_sf(issue_token(sf_emulator, ACME_SANDBOX_ADMIN))
    sf_emulator.hide_objects("Case", username=ACME_ADMIN)
    assert sandbox.query("SELECT COUNT() FROM Case")["totalSize"] == 0  # another user: visible
    sf_emulator.hide_objects("Opportunity", org_id=ACME_ORG_ID)  # every user of Acme
    for q in ("SELECT Id FROM Case", "SELECT Id FROM Opportunity"):
        assert error_of(sf, q)[1][0]["errorCode"] == "INVALID_TYPE"
    sf_emulator.clear_faults(username=ACME_ADMIN)
    assert sf.query("SELECT COUNT() FROM Case")["totalSize"] == 9
    assert error_of(sf, "SELECT Id FROM Opportunity")[1][0]["errorCode"] == "INVALID_TYPE"
    sf_emulator.reset()
    assert sf_emulator.info()["orgs"][0]["faults"] == {}


def test_r5_hide_object_through_the_control_endpoint(sf_emulator, sf):
    url = f"{sf_emulator.login_url}/__emulator__/faults"
    body = {"kind": "hide_object", "value": "case, opportunity", "username": ACME_ADMIN}
    assert requests.post(url, json=body, timeout=5).json() == {"ok": True}
    users = {u["username"]: u for u in sf_emulator.info()["orgs"][0]["users"]}
    assert users[ACME_ADMIN]["faults"] == {"hide_object": ["Case", "Opportunity"]}
    assert error_of(sf, "SELECT Id FROM Case")[1][0]["errorCode"] == "INVALID_TYPE"
    bad = requests.post(url, json={**body, "value": "Cases"}, timeout=5)
    assert bad.status_code == 400 and "unknown sObject" in bad.json()["error"]
    assert parse_fault("hide_object=Case,Opportunity@admin@acme-corp.example") == (
        "hide_object",
        "Case,Opportunity",
        "admin@acme-corp.example",
    )


# --------------------------------------------------------------------------- pages


@pytest.mark.parametrize(
    ("sobject", "record_id", "title"),
    [
        ("Case", JANE_OPEN_CASES[0], "00001001"),
        ("Opportunity", JANE_OPEN_OPP, "Northwind - Fleet Expansion 2027"),
        ("Lead", "00Q5g00000Led02EAB", "Victor Prospect"),
        ("OpportunityContactRole", "00K5g00000Ocr01EAB", "00K5g00000Ocr01EAB"),
    ],
)
def test_r5_record_pages_for_each_object(sf_emulator, sobject, record_id, title):
    page = requests.get(
        f"{sf_emulator.instance_url}/lightning/r/{sobject}/{record_id}/view", timeout=5
    )
    assert page.status_code == 200
    assert f"<h1>{title}</h1>" in page.text.replace("&#x27;", "'")
    assert f"{title} | {sobject} | Salesforce" in page.text


def test_r5_contact_page_links_its_related_lists(sf_emulator):
    page = requests.get(f"{sf_emulator.instance_url}/lightning/r/Contact/{MARCUS}/view", timeout=5)
    assert f'href="/lightning/r/Contact/{MARCUS}/related/Cases/view">Cases (4)</a>' in page.text
    assert "Opportunity Contact Roles (3)</a>" in page.text


def test_r5_related_list_pages(sf_emulator):
    base = f"{sf_emulator.instance_url}/lightning/r/Contact/{JANE}/related"
    cases = requests.get(f"{base}/Cases/view", timeout=5)
    assert cases.status_code == 200
    assert "<h1>Cases (3)</h1>" in cases.text  # the related list shows closed ones too
    for case_id in [*JANE_OPEN_CASES, JANE_CLOSED_CASE]:
        assert f'href="/lightning/r/Case/{case_id}/view"' in cases.text
    roles = requests.get(f"{base}/OpportunityContactRoles/view", timeout=5)
    assert roles.status_code == 200
    assert f'<a href="/lightning/r/Opportunity/{JANE_OPEN_OPP}/view">' in roles.text
    assert "Northwind - Annual Renewal 2026" in roles.text
    assert requests.get(f"{base}/Nope/view", timeout=5).status_code == 404
    gone = f"{sf_emulator.instance_url}/lightning/r/Contact/0035g00000Zzz99AAB/related/Cases/view"
    assert requests.get(gone, timeout=5).status_code == 404


NEW_CONTACT = "/lightning/o/Contact/new?defaultFieldValues="


@pytest.mark.parametrize(
    "encoded",
    [
        # Salesforce's form: pairs joined by commas, each value URL-encoded
        "FirstName=Ada,LastName=Lovelace,Email=ada%40example.com,Phone=%2B44%2020%207946%200018,"
        "Description=Analyst%2C%20Engine%20%3D%20yes",
        # the whole parameter encoded once more (what a page reference URL generator gives)
        quote(
            "FirstName=Ada,LastName=Lovelace,Email=ada%40example.com,"
            "Phone=%2B44%2020%207946%200018,Description=Analyst%2C%20Engine%20%3D%20yes",
            safe="",
        ),
        # a literal "+" in the query string stays a plus (a phone's), never a space
        "FirstName=Ada,LastName=Lovelace,Email=ada@example.com,Phone=+44%2020%207946%200018,"
        "Description=Analyst%2C%20Engine%20%3D%20yes",
    ],
)
def test_r5_new_contact_page_shows_the_defaults_it_received(sf_emulator, encoded):
    page = requests.get(f"{sf_emulator.instance_url}{NEW_CONTACT}{encoded}", timeout=5)
    assert page.status_code == 200
    text = page.text
    assert "<h1>New Contact</h1>" in text
    expected = {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Email": "ada@example.com",
        "Phone": "+44 20 7946 0018",
        "Description": "Analyst, Engine = yes",
    }
    for name, value in expected.items():
        assert f'data-field="{name}" data-default="true" value="{value}"' in text
    assert 'data-field="Title" value=""' in text


def test_r5_new_contact_page_without_defaults_and_with_unknown_fields(sf_emulator):
    base = f"{sf_emulator.instance_url}/lightning/o/Contact/new"
    plain = requests.get(base, timeout=5)
    assert plain.status_code == 200 and "data-default" not in plain.text
    odd = requests.get(f"{base}?defaultFieldValues=LastName=Lovelace,Shoe_Size__c=9", timeout=5)
    assert 'data-field="LastName" data-default="true" value="Lovelace"' in odd.text
    assert "Not fields of Contact (ignored): Shoe_Size__c" in odd.text
    other = f"{sf_emulator.instance_url}/lightning/o/Case/new?defaultFieldValues=Subject=Hi"
    assert 'data-field="Subject" data-default="true" value="Hi"' in requests.get(other).text
    assert requests.get(f"{sf_emulator.instance_url}/lightning/o/Nope/new").status_code == 404
