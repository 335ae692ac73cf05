"""REST API through simple-salesforce: describe, records, writes, limits, faults, logs, pages."""

from __future__ import annotations

import json
import time

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from salesforce_emulator.demo_names import (
    ACME_ORG_ID,
    ACME_SANDBOX_ADMIN,
    ACME_SANDBOX_ORG_ID,
    INITECH_ORG_ID,
    INITECH_USER,
    NOAPI_USER,
)
from salesforce_emulator.testing import spawn_emulator
from tests.salesforce_support import issue_token

from .conftest import simple_sf

JANE = "0035g00000Con01AAB"


def test_version_list_needs_no_auth(sf_emulator):
    r = requests.get(f"{sf_emulator.instance_url}/services/data/", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    versions = r.json()
    # Every version Salesforce serves (T9): v31.0 (Summer '14) up to Spring '26.
    assert [v["version"] for v in versions] == [f"{n}.0" for n in range(31, 67)]
    assert versions[0] == {"label": "Summer '14", "url": "/services/data/v31.0", "version": "31.0"}
    by_version = {v["version"]: v["label"] for v in versions}
    assert by_version["62.0"] == "Winter '25"
    assert by_version["66.0"] == "Spring '26"


def test_unknown_version_is_not_found(acme_token):
    sf = simple_sf(acme_token, version="99.0")  # newer than any the org lists
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.query("SELECT Id FROM Contact")
    assert exc.value.content == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]


def test_contact_describe(sf):
    d = sf.Contact.describe()
    assert (d["name"], d["label"], d["labelPlural"], d["keyPrefix"]) == (
        "Contact", "Contact", "Contacts", "003",
    )  # fmt: skip
    fields = {f["name"]: f for f in d["fields"]}
    for name in (
        "Id", "Salutation", "FirstName", "LastName", "Name", "Email", "Phone", "MobilePhone",
        "Title", "Department", "AccountId", "OwnerId", "LeadSource", "MailingCity", "Description",
        "Birthdate", "DoNotCall", "CreatedDate", "LastModifiedDate", "Customer_Tier__c",
        "Loyalty_Points__c", "Support_Plan__c",
    ):  # fmt: skip
        assert name in fields
    assert fields["Email"]["type"] == "email"
    assert fields["Phone"]["type"] == "phone"
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["Birthdate"]["type"] == "date"
    assert fields["DoNotCall"]["type"] == "boolean"
    assert fields["Loyalty_Points__c"]["type"] == "double"
    assert fields["Customer_Tier__c"]["custom"] is True
    assert fields["Email"]["custom"] is False
    tiers = fields["Customer_Tier__c"]["picklistValues"]
    assert [(p["value"], p["label"]) for p in tiers] == [
        ("T1", "Gold"), ("T2", "Silver"), ("T3", "Bronze"),
    ]  # fmt: skip
    assert {"active", "defaultValue", "label", "value"} <= set(tiers[0])
    sources = {p["value"]: p["label"] for p in fields["LeadSource"]["picklistValues"]}
    assert sources["Partner Referral"] == "Partner Referral"
    assert any(value != label for value, label in sources.items())
    for f in d["fields"]:
        assert {
            "name", "label", "type", "length", "nillable", "custom", "updateable", "createable",
            "filterable", "sortable", "relationshipName", "referenceTo", "picklistValues",
            "calculated", "externalId",
        } <= set(f)  # fmt: skip
    assert fields["Name"]["updateable"] is False


@pytest.mark.parametrize("sobject", ["Account", "Lead"])
def test_other_describes(sf, sobject):
    assert getattr(sf, sobject).describe()["name"] == sobject


def test_get_record_and_fields_param(sf):
    rec = sf.Contact.get(JANE)
    assert rec["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{JANE}",
    }
    assert rec["Email"] == "jane.cooper@northwind.example"
    assert rec["LastModifiedDate"] == "2026-11-20T14:03:11.000+0000"
    some = sf.restful(f"sobjects/Contact/{JANE}", params={"fields": "Email,title"})
    assert set(some) == {"attributes", "Email", "Title"}


def test_unknown_record_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Contact.get("0035g00000Zzz99AAB")
    assert exc.value.content == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]


NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "sobjects/Nope", 404, NOT_FOUND),
        ("PATCH", "sobjects/Nope", 404, NOT_FOUND),  # unknown object before any method check
        ("GET", "sobjects/ContactX/describe", 404, NOT_FOUND),
        ("GET", "sobjects/Contact/not-an-id", 404, NOT_FOUND),
        ("GET", f"sobjects/Contact/{JANE}/extra", 404, NOT_FOUND),
        ("PUT", "sobjects/Contact/0035g00000Zzz99AAB", 404, NOT_FOUND),  # no record: 404 first
        ("GET", "limits/extra", 404, NOT_FOUND),
        ("GET", "nothing/here", 404, NOT_FOUND),
        (
            "PUT",
            "sobjects/Contact",
            405,
            [
                {
                    "message": "HTTP Method 'PUT' not allowed. Allowed are GET,HEAD,POST",
                    "errorCode": "METHOD_NOT_ALLOWED",
                }
            ],
        ),
        (
            "POST",
            "sobjects/contact/describe",
            405,
            [
                {
                    "message": "HTTP Method 'POST' not allowed. Allowed are GET,HEAD",
                    "errorCode": "METHOD_NOT_ALLOWED",
                }
            ],
        ),
        (
            "PUT",
            f"sobjects/Contact/{JANE}",
            405,
            [
                {
                    "message": "HTTP Method 'PUT' not allowed. Allowed are GET,HEAD,PATCH,DELETE",
                    "errorCode": "METHOD_NOT_ALLOWED",
                }
            ],
        ),
        (
            "POST",
            "query/01gxx0000000001-2000",
            400,
            [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}],
        ),
    ],
)
def test_rest_routes_answer_salesforce_errors(acme_token, method, path, status, body):
    r = requests.request(
        method,
        f"{acme_token['instance_url']}/services/data/v62.0/{path}",
        headers={"Authorization": f"Bearer {acme_token['access_token']}"},
        timeout=5,
    )
    assert (r.status_code, r.json()) == (status, body)
    assert r.headers["Sforce-Limit-Info"].startswith("api-usage=")  # an authorised API call


def test_sobject_names_any_case_empty_segments_and_head(acme_token):
    base = f"{acme_token['instance_url']}/services/data/v62.0"
    auth = {"Authorization": f"Bearer {acme_token['access_token']}"}
    record = requests.get(f"{base}/sobjects//contact/{JANE}/", headers=auth, timeout=5)
    assert record.status_code == 200
    assert record.json()["attributes"]["type"] == "Contact"
    describe = requests.get(f"{base}/sobjects/CONTACT/describe", headers=auth, timeout=5)
    assert describe.json()["name"] == "Contact"
    # HEAD answers as GET does, without a body (the 405 answers list HEAD as allowed).
    head = requests.head(f"{base}/sobjects/Contact/{JANE}", headers=auth, timeout=5)
    assert (head.status_code, head.content) == (200, b"")


def test_writes_behave_like_salesforce_and_are_recorded(sf_emulator, sf):
    assert sf_emulator.writes() == []
    created = sf.Contact.create({"LastName": "Newman", "Email": "new@example.com"})
    assert created["success"] is True and created["errors"] == []
    assert created["id"].startswith("003") and len(created["id"]) == 18
    assert sf.Contact.update(created["id"], {"Title": "Boss"}) == 204
    assert sf.Contact.get(created["id"])["Title"] == "Boss"
    assert sf.Contact.delete(created["id"]) == 204
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"Email": "x@example.com"})
    assert exc.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.update(JANE, {"Nope__c": 1})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"
    methods = [(w["method"], w["sobject"], w["org_id"]) for w in sf_emulator.writes()]
    assert methods == [
        ("POST", "Contact", ACME_ORG_ID), ("PATCH", "Contact", ACME_ORG_ID), ("DELETE", "Contact", ACME_ORG_ID),
    ]  # fmt: skip


def test_sforce_limit_info_counts_per_org(sf_emulator):
    acme = simple_sf(issue_token(sf_emulator))
    sandbox = simple_sf(issue_token(sf_emulator, ACME_SANDBOX_ADMIN))
    acme.query("SELECT Id FROM Contact LIMIT 1")
    acme.query("SELECT Id FROM Contact LIMIT 1")
    assert acme.api_usage["api-usage"].used == 2
    assert acme.api_usage["api-usage"].total == 15000
    sandbox.query("SELECT Id FROM Contact LIMIT 1")
    assert sandbox.api_usage["api-usage"].used == 1
    assert sandbox.api_usage["api-usage"].total == 5000
    limits = acme.limits()
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - 3}


def test_limit_info_on_errors_and_request_limit_exceeded(sf_emulator, acme_token):
    sf_emulator.set_api_usage(ACME_ORG_ID, used=15000)
    r = requests.get(
        f"{acme_token['instance_url']}/services/data/v62.0/query/",
        params={"q": "SELECT Id FROM Contact"},
        headers={"Authorization": f"Bearer {acme_token['access_token']}"},
        timeout=5,
    )
    assert r.status_code == 403
    assert r.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert r.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"


def test_invalid_session_is_401_with_www_authenticate(sf_emulator):
    r = requests.get(
        f"{sf_emulator.instance_url}/services/data/v62.0/query/",
        params={"q": "SELECT Id FROM Contact"},
        headers={"Authorization": "Bearer 00Dbogus!AQbogus"},
        timeout=5,
    )
    assert r.status_code == 401
    assert r.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert "WWW-Authenticate" in r.headers


# ---------------------------------------------------------------- faults


def test_api_disabled_for_org_initech(sf_emulator):
    sf = simple_sf(issue_token(sf_emulator, INITECH_USER))
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.query("SELECT Id, Name FROM Organization")
    assert exc.value.status == 403
    assert exc.value.content == [
        {
            "message": "The REST API is not enabled for this Organization.",
            "errorCode": "API_DISABLED_FOR_ORG",
        }
    ]


def test_api_disabled_for_user(sf_emulator):
    sf = simple_sf(issue_token(sf_emulator, NOAPI_USER))
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.query("SELECT Id FROM Contact")
    assert exc.value.content[0]["errorCode"] == "API_CURRENTLY_DISABLED"


def test_expire_sessions_then_refresh_still_works(sf_emulator, acme_token):
    sf = simple_sf(acme_token)
    sf.query("SELECT Id FROM Contact LIMIT 1")
    sf_emulator.set_fault("expire_sessions", org_id=ACME_ORG_ID)
    with pytest.raises(SalesforceExpiredSession) as exc:
        sf.query("SELECT Id FROM Contact LIMIT 1")
    assert exc.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    r = requests.post(
        sf_emulator.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": acme_token["refresh_token"],
            "client_id": sf_emulator.client_id,
            "client_secret": sf_emulator.client_secret,
        },
        timeout=5,
    )
    assert r.status_code == 200
    assert simple_sf(r.json()).query("SELECT COUNT() FROM Contact")["totalSize"] == 45


def test_revoke_refresh_tokens_fault(sf_emulator, acme_token):
    assert sf_emulator.revoke_refresh_tokens(ACME_ORG_ID) == 1
    r = requests.post(
        sf_emulator.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": acme_token["refresh_token"],
            "client_id": sf_emulator.client_id,
            "client_secret": sf_emulator.client_secret,
        },
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }


@pytest.mark.parametrize(
    ("kind", "exc_type", "status", "code"),
    [
        ("request_limit_exceeded", SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED"),
        ("api_disabled_org", SalesforceRefusedRequest, 403, "API_DISABLED_FOR_ORG"),
        ("http_500", SalesforceGeneralError, 500, "UNKNOWN_EXCEPTION"),
        ("http_503", SalesforceGeneralError, 503, "SERVER_UNAVAILABLE"),
    ],
)
def test_faults_raise_simple_salesforce_exceptions(sf_emulator, sf, kind, exc_type, status, code):
    sf_emulator.set_fault(kind, org_id=ACME_ORG_ID)
    with pytest.raises(exc_type) as exc:
        sf.query("SELECT Id FROM Contact")
    assert exc.value.status == status
    assert exc.value.content[0]["errorCode"] == code
    sf_emulator.clear_faults(org_id=ACME_ORG_ID)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 45


def test_fault_per_user_leaves_other_users_alone(sf_emulator):
    sf_emulator.set_fault("http_503", username="admin@acme-corp.example")
    admin = simple_sf(issue_token(sf_emulator))
    sandbox = simple_sf(issue_token(sf_emulator, ACME_SANDBOX_ADMIN))
    with pytest.raises(SalesforceGeneralError):
        admin.query("SELECT Id FROM Contact")
    assert sandbox.query("SELECT COUNT() FROM Contact")["totalSize"] == 2


def test_malformed_body_raises_json_error(sf_emulator, sf):
    sf_emulator.set_fault("malformed_body", org_id=ACME_ORG_ID)
    with pytest.raises(json.JSONDecodeError):
        sf.query("SELECT Id FROM Contact")


def test_latency_fault(sf_emulator, sf):
    sf_emulator.set_fault("latency", org_id=ACME_ORG_ID, value=0.3)
    started = time.monotonic()
    sf.query("SELECT Id FROM Contact LIMIT 1")
    assert time.monotonic() - started >= 0.3


# ---------------------------------------------------------------- logs and control


def test_request_log_records_oauth_and_rest_calls(sf_emulator):
    sf_emulator.reset_log()
    token = issue_token(sf_emulator)
    simple_sf(token).query("SELECT Id FROM Contact WHERE Email = 'x@example.com'")
    log = sf_emulator.request_log()
    paths = [(e["method"], e["path"]) for e in log]
    assert ("POST", "/services/oauth2/token") in paths
    rest = [e for e in log if e["path"].startswith("/services/data/")]
    assert len(rest) == 1
    assert rest[0]["query"] == "SELECT Id FROM Contact WHERE Email = 'x@example.com'"
    assert rest[0]["org_id"] == ACME_ORG_ID
    assert rest[0]["user_id"] == "0055g00000AdaAdAAJ"
    assert rest[0]["status"] == 200
    assert isinstance(rest[0]["ts"], float)
    assert sf_emulator.request_log(org_id=ACME_SANDBOX_ORG_ID) == []
    assert all(not e["path"].startswith("/__emulator__") for e in log)


def test_update_record_is_not_api_use_nor_a_write(sf_emulator, sf):
    sf_emulator.update_record(
        "Contact", JANE, Phone="+1 555 999 0000", LastModifiedDate="2026-12-01T00:00:00.000+0000"
    )
    rec = sf.Contact.get(JANE)
    assert rec["Phone"] == "+1 555 999 0000"
    assert rec["LastModifiedDate"] == "2026-12-01T00:00:00.000+0000"
    assert sf_emulator.writes() == []
    acme = next(o for o in sf_emulator.info()["orgs"] if o["id"] == ACME_ORG_ID)
    assert acme["api_usage"] == 1  # only the GET above


def test_reset_restores_data(sf_emulator, sf):
    sf_emulator.update_record("Contact", JANE, Title="Changed")
    sf_emulator.reset()
    fresh = simple_sf(issue_token(sf_emulator))
    assert fresh.Contact.get(JANE)["Title"] == "Head of Operations"


def test_info_lists_demo_orgs(sf_emulator):
    orgs = {o["name"]: o for o in sf_emulator.info()["orgs"]}
    assert (
        orgs["Acme Corporation"]["id"] == ACME_ORG_ID and not orgs["Acme Corporation"]["is_sandbox"]
    )
    assert orgs["Acme Corporation (Full Sandbox)"]["is_sandbox"] is True
    assert orgs["Initech"]["id"] == INITECH_ORG_ID
    assert orgs["Initech"]["faults"] == {"api_disabled_org": True}


def test_record_page_escapes_html(sf_emulator):
    evan = "0035g00000Con07AAB"
    page = requests.get(f"{sf_emulator.instance_url}/lightning/r/Contact/{evan}/view", timeout=5)
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert (
        "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;&lt;b&gt;VP Sales&lt;/b&gt;"
        in page.text
    )
    assert "Evan Script" in page.text
    missing = requests.get(
        f"{sf_emulator.instance_url}/lightning/r/Contact/0035g00000Zzz99AAB/view", timeout=5
    )
    assert missing.status_code == 404


def test_spawned_emulator_process(tmp_path):
    with spawn_emulator(faults=["http_503@peter@initech.example"]) as emu:
        info = emu.info()
        assert info["instance_url"].startswith("http://127.0.0.1:")
        assert info["orgs"][2]["users"][0]["faults"] == {"http_503": True}
        r = requests.get(f"{emu.instance_url}/services/data/", timeout=5)
        assert r.status_code == 200
        emu.set_fault("latency", org_id=ACME_ORG_ID, value=0.01)
        assert [(e["path"], e["org_id"]) for e in emu.request_log()] == [("/services/data/", None)]
    assert emu.process.poll() is not None
