"""Issue 24 (E3, E9): the emulator's Person Accounts, driven over HTTP with simple-salesforce.

Salesforce's rules (Person Account Record Types, the Account and RecordType object references):
a person account is an Account with a person record type (RecordType.IsPersonType) and ONE
person contact (IsPersonAccount, AccountId = the Account, Account.PersonContactId = it); the
Contact's Email/Phone/MobilePhone are the Account's PersonEmail/Phone/PersonMobilePhone.
"""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_emulator.demo_names import ACME_ORG_ID

PERSON_TYPE = "SELECT Id FROM RecordType WHERE SobjectType = 'Account' AND IsPersonType = true"


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.content[0]["errorCode"]


@pytest.fixture
def person_org(sf_emulator, sf):
    sf_emulator.set_org_settings(ACME_ORG_ID, person_accounts=True)
    return sf


def _create_person(sf, **fields) -> str:
    record_type = sf.query(PERSON_TYPE)["records"][0]["Id"]
    return sf.Account.create({"RecordTypeId": record_type, **fields})["id"]


def test_e3_a_person_account_is_an_account_with_one_person_contact(person_org):
    sf = person_org
    account_id = _create_person(
        sf,
        FirstName="Pia",
        LastName="Person",
        PersonEmail="pia@b2c.example",
        Phone="+1 415 555 0190",
        PersonMobilePhone="+1 415 555 0191",
    )

    account = sf.query(
        "SELECT Name, IsPersonAccount, PersonContactId, PersonEmail, RecordType.DeveloperName "
        f"FROM Account WHERE Id = '{account_id}'"
    )["records"][0]
    assert account["Name"] == "Pia Person" and account["IsPersonAccount"] is True
    assert account["RecordType"]["DeveloperName"] == "PersonAccount"
    (contact,) = sf.query(
        "SELECT Id, Name, Email, Phone, MobilePhone, IsPersonAccount, AccountId, "
        "Account.PersonEmail, Account.IsPersonAccount FROM Contact "
        "WHERE Email = 'PIA@b2c.example'"
    )["records"]
    assert contact["Id"] == account["PersonContactId"]
    assert (contact["IsPersonAccount"], contact["AccountId"]) == (True, account_id)
    assert (contact["Phone"], contact["MobilePhone"]) == ("+1 415 555 0190", "+1 415 555 0191")
    assert contact["Account"]["PersonEmail"] == "pia@b2c.example"


def test_e3_a_person_accounts_opportunities_hang_off_the_account(person_org):
    sf = person_org
    account_id = _create_person(sf, LastName="Buyer", PersonEmail="buyer@b2c.example")
    sf.Opportunity.create(
        {
            "Name": "Sofa",
            "StageName": "Prospecting",
            "CloseDate": "2027-01-31",
            "AccountId": account_id,
        }
    )
    (row,) = sf.query(
        "SELECT Id, PersonContactId, (SELECT Name FROM Opportunities WHERE IsClosed = false) "
        "FROM Account WHERE IsPersonAccount = true AND PersonEmail = 'buyer@b2c.example'"
    )["records"]
    assert [o["Name"] for o in row["Opportunities"]["records"]] == ["Sofa"]


def test_e3_lastname_without_name_makes_a_person_account_name_a_business_one(person_org):
    sf = person_org
    person = sf.Account.create({"LastName": "Solo"})["id"]
    business = sf.Account.create({"Name": "Solo Ltd"})["id"]
    rows = {
        r["Id"]: r
        for r in sf.query(
            f"SELECT Id, Name, IsPersonAccount FROM Account WHERE Id IN ('{person}', '{business}')"
        )["records"]
    }
    assert (rows[person]["Name"], rows[person]["IsPersonAccount"]) == ("Solo", True)
    assert (rows[business]["Name"], rows[business]["IsPersonAccount"]) == ("Solo Ltd", False)


def test_e3_the_emulator_refuses_what_salesforce_refuses(person_org):
    sf = person_org
    account_id = _create_person(sf, LastName="Kept", PersonEmail="kept@b2c.example")
    contact_id = sf.Account.get(account_id)["PersonContactId"]
    with pytest.raises(SalesforceMalformedRequest) as missing:
        _create_person(sf, FirstName="No Last Name")
    assert _code(missing) == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as second_contact:
        sf.Contact.create({"LastName": "Second", "AccountId": account_id})
    assert _code(second_contact) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as direct_edit:
        sf.Contact.update(contact_id, {"Email": "other@b2c.example"})
    assert _code(direct_edit) == "INSUFFICIENT_ACCESS_OR_READONLY"
    with pytest.raises(SalesforceMalformedRequest) as flag:
        sf.Contact.create({"LastName": "Flag", "IsPersonAccount": True})
    assert _code(flag) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as business:
        sf.Account.create({"Name": "Biz", "PersonEmail": "biz@b2c.example"})
    assert _code(business) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as bad_type:
        sf.Account.create({"RecordTypeId": "012Em00000NopeXIAJ", "LastName": "X"})
    assert _code(bad_type) == "INVALID_CROSS_REFERENCE_KEY"


def test_e3_an_account_edit_changes_its_person_contact(person_org):
    sf = person_org
    account_id = _create_person(sf, LastName="Moves", PersonEmail="old@b2c.example")
    sf.Account.update(account_id, {"PersonEmail": "new@b2c.example", "FirstName": "Mo"})
    (contact,) = sf.query(f"SELECT Name, Email FROM Contact WHERE AccountId = '{account_id}'")[
        "records"
    ]
    assert (contact["Name"], contact["Email"]) == ("Mo Moves", "new@b2c.example")


def test_e3_without_person_accounts_the_fields_and_record_types_do_not_exist(sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id, PersonEmail FROM Account")
    assert _code(exc) == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest):
        sf.query(PERSON_TYPE)
    with pytest.raises(SalesforceMalformedRequest) as person_field:
        sf.Account.create({"Name": "Plain", "PersonEmail": "x@example.com"})
    assert _code(person_field) == "INVALID_FIELD"
    names = {f["name"] for f in sf.Contact.describe()["fields"]}
    assert "IsPersonAccount" not in names


def test_e3_describe_lists_the_account_record_types_and_the_person_fields(person_org):
    describe = person_org.Account.describe()
    names = {f["name"]: f for f in describe["fields"]}
    assert {"PersonEmail", "PersonMobilePhone", "IsPersonAccount", "PersonContactId"} <= set(names)
    assert names["IsPersonAccount"]["createable"] is False
    assert {r["developerName"] for r in describe["recordTypeInfos"]} == {
        "Business_Account",
        "PersonAccount",
    }
