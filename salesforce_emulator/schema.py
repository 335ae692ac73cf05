"""The sObjects the emulator knows, with describe metadata close to Salesforce's."""

from __future__ import annotations

from typing import Any

STRING_TYPES = {"string", "email", "phone", "picklist", "textarea", "url", "id", "reference"}
NUMBER_TYPES = {"double", "currency"}

LEAD_SOURCES = [
    ("Web", "Web"),
    ("Phone Inquiry", "Phone Inquiry"),
    ("Partner Referral", "Partner Referral"),
    ("Purchased List", "Purchased List"),
    ("Seminar - Internal", "Internal Seminar"),
    ("Other", "Other"),
]
SALUTATIONS = [(v, v) for v in ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")]
CUSTOMER_TIERS = [("T1", "Gold"), ("T2", "Silver"), ("T3", "Bronze")]
LEAD_STATUSES = [
    ("Open - Not Contacted", "Open - Not Contacted"),
    ("Working - Contacted", "Working - Contacted"),
    ("Closed - Converted", "Closed - Converted"),
    ("Closed - Not Converted", "Closed - Not Converted"),
]
TASK_STATUSES = [
    (v, v)
    for v in ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
]
CLOSED_TASK_STATUSES = {"Completed"}
TASK_PRIORITIES = [(v, v) for v in ("High", "Normal", "Low")]
TASK_SUBTYPES = [(v, v) for v in ("Task", "Email", "ListEmail", "Cadence", "Call")]
CASE_STATUSES = [(v, v) for v in ("New", "Working", "Escalated", "Closed")]
CLOSED_CASE_STATUSES = {"Closed"}  # the demo org's closed status (IsClosed follows it)
CASE_PRIORITIES = [(v, v) for v in ("High", "Medium", "Low")]
CASE_ORIGINS = [(v, v) for v in ("Phone", "Email", "Web")]
OPPORTUNITY_STAGES = [
    (v, v)
    for v in (
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Value Proposition",
        "Id. Decision Makers",
        "Perception Analysis",
        "Proposal/Price Quote",
        "Negotiation/Review",
        "Closed Won",
        "Closed Lost",
    )
]
WON_STAGES = {"Closed Won"}
CLOSED_STAGES = {"Closed Won", "Closed Lost"}
CONTACT_ROLES = [
    (v, v)
    for v in (
        "Business User",
        "Decision Maker",
        "Economic Buyer",
        "Economic Decision Maker",
        "Evaluator",
        "Executive Sponsor",
        "Influencer",
        "Technical Buyer",
        "Other",
    )
]
# Multi-currency orgs (issue 24, E1): the ISO codes a record's CurrencyIsoCode may hold.
CURRENCIES = [(c, c) for c in ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF")]
# Fields that exist only in orgs with a feature on (org setting of the same name, E9):
# elsewhere describe leaves them out and SOQL answers INVALID_FIELD, as Salesforce does.
FEATURES = ("multi_currency", "person_accounts")

INDUSTRIES = [
    (v, v)
    for v in ("Technology", "Retail", "Manufacturing", "Finance", "Healthcare", "Transportation")
]

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "picklist": "xsd:string",
    "textarea": "xsd:string",
    "url": "xsd:string",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "double": "xsd:double",
    "currency": "xsd:double",
    "boolean": "xsd:boolean",
}


def _f(name: str, ftype: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": ftype, "label": label, **extra}


def _is_person_account() -> dict:
    """E3: on Contact and Account alike, in orgs with Person Accounts on."""
    return _f(
        "IsPersonAccount", "boolean", "Is Person Account", feature="person_accounts", computed=True
    )


def _system_fields() -> list[dict[str, Any]]:
    return [
        _f("IsDeleted", "boolean", "Deleted", system=True),
        _f("CreatedDate", "datetime", "Created Date", system=True),
        _f("LastModifiedDate", "datetime", "Last Modified Date", system=True),
    ]


OBJECTS: dict[str, dict[str, Any]] = {
    "Contact": {
        "label": "Contact",
        "labelPlural": "Contacts",
        "keyPrefix": "003",
        "required": ["LastName"],
        "fields": [
            _f("Id", "id", "Contact ID"),
            _f("Salutation", "picklist", "Salutation", picklist=SALUTATIONS, length=40),
            _f("FirstName", "string", "First Name", length=40),
            _f("LastName", "string", "Last Name", length=80, nillable=False),
            _f("Name", "string", "Full Name", length=121, computed=True, nameField=True),
            _f("Email", "email", "Email", length=80),
            _f("Phone", "phone", "Business Phone", length=40),
            _f("MobilePhone", "phone", "Mobile Phone", length=40),
            _f("Title", "string", "Title", length=128),
            _f("Department", "string", "Department", length=80),
            _f(
                "AccountId",
                "reference",
                "Account ID",
                ref="Account",
                rel="Account",
                child="Contacts",
            ),
            _f("OwnerId", "reference", "Owner ID", ref="User", rel="Owner", nillable=False),
            _f("LeadSource", "picklist", "Lead Source", picklist=LEAD_SOURCES, length=255),
            _f("MailingCity", "string", "Mailing City", length=40),
            _f("Description", "textarea", "Contact Description", length=32000),
            _f("Birthdate", "date", "Birthdate"),
            _f("DoNotCall", "boolean", "Do Not Call"),
            _is_person_account(),
            *_system_fields(),
            _f(
                "Customer_Tier__c",
                "picklist",
                "Customer Tier",
                picklist=CUSTOMER_TIERS,
                custom=True,
                length=255,
            ),
            _f("Loyalty_Points__c", "double", "Loyalty Points", custom=True, precision=18),
            _f("Support_Plan__c", "string", "Support Plan", custom=True, length=80),
        ],
    },
    "Lead": {
        "label": "Lead",
        "labelPlural": "Leads",
        "keyPrefix": "00Q",
        "required": ["LastName", "Company"],
        "fields": [
            _f("Id", "id", "Lead ID"),
            _f("FirstName", "string", "First Name", length=40),
            _f("LastName", "string", "Last Name", length=80, nillable=False),
            _f("Name", "string", "Full Name", length=121, computed=True, nameField=True),
            _f("Email", "email", "Email", length=80),
            _f("Phone", "phone", "Phone", length=40),
            _f("MobilePhone", "phone", "Mobile Phone", length=40),
            _f("Company", "string", "Company", length=255, nillable=False),
            _f("Title", "string", "Title", length=128),
            _f("Status", "picklist", "Status", picklist=LEAD_STATUSES, length=255),
            _f("LeadSource", "picklist", "Lead Source", picklist=LEAD_SOURCES, length=255),
            _f("OwnerId", "reference", "Owner ID", ref="User", rel="Owner", nillable=False),
            *_system_fields(),
        ],
    },
    "Account": {
        "label": "Account",
        "labelPlural": "Accounts",
        "keyPrefix": "001",
        "required": ["Name"],
        "fields": [
            _f("Id", "id", "Account ID"),
            _f("Name", "string", "Account Name", length=255, nillable=False, nameField=True),
            _f("Industry", "picklist", "Industry", picklist=INDUSTRIES, length=255),
            _f("Phone", "phone", "Account Phone", length=40),
            _f("Website", "url", "Website", length=255),
            _f("BillingCity", "string", "Billing City", length=40),
            _f(
                "CurrencyIsoCode",
                "picklist",
                "Account Currency",
                picklist=CURRENCIES,
                length=3,
                feature="multi_currency",
            ),
            # Person Accounts (E3): the person contact's fields, as the Account carries them.
            _is_person_account(),
            _f(
                "PersonContactId",
                "reference",
                "Person Contact ID",
                ref="Contact",
                rel="PersonContact",
                feature="person_accounts",
                computed=True,
            ),
            _f(
                "RecordTypeId",
                "reference",
                "Account Record Type",
                ref="RecordType",
                rel="RecordType",
                feature="person_accounts",
            ),
            _f("FirstName", "string", "First Name", length=40, feature="person_accounts"),
            _f("LastName", "string", "Last Name", length=80, feature="person_accounts"),
            _f("PersonEmail", "email", "Email", length=80, feature="person_accounts"),
            _f("PersonMobilePhone", "phone", "Mobile", length=40, feature="person_accounts"),
            _f("PersonBirthdate", "date", "Birthdate", feature="person_accounts"),
            _f("OwnerId", "reference", "Owner ID", ref="User", rel="Owner", nillable=False),
            *_system_fields(),
        ],
    },
    "Case": {
        "label": "Case",
        "labelPlural": "Cases",
        "keyPrefix": "500",
        "required": [],
        # the related list Salesforce shows under a Contact (and the emulator's related-list page)
        "list_columns": ["CaseNumber", "Subject", "Status", "Priority", "LastModifiedDate"],
        "fields": [
            _f("Id", "id", "Case ID"),
            _f("CaseNumber", "string", "Case Number", length=30, computed=True, nameField=True),
            _f("Subject", "string", "Subject", length=255),
            _f("Description", "textarea", "Description", length=32000),
            _f("Status", "picklist", "Status", picklist=CASE_STATUSES, length=255),
            _f("Priority", "picklist", "Priority", picklist=CASE_PRIORITIES, length=255),
            _f("Origin", "picklist", "Case Origin", picklist=CASE_ORIGINS, length=255),
            _f("IsClosed", "boolean", "Closed", computed=True),
            _f("ClosedDate", "datetime", "Closed Date", computed=True),
            _f("ContactId", "reference", "Contact ID", ref="Contact", rel="Contact", child="Cases"),
            _f("AccountId", "reference", "Account ID", ref="Account", rel="Account", child="Cases"),
            _f("OwnerId", "reference", "Owner ID", ref="User", rel="Owner", nillable=False),
            *_system_fields(),
        ],
    },
    "Opportunity": {
        "label": "Opportunity",
        "labelPlural": "Opportunities",
        "keyPrefix": "006",
        "required": ["Name", "StageName", "CloseDate"],
        "list_columns": ["Name", "StageName", "Amount", "CloseDate"],
        "fields": [
            _f("Id", "id", "Opportunity ID"),
            _f("Name", "string", "Name", length=120, nillable=False, nameField=True),
            _f("StageName", "picklist", "Stage", picklist=OPPORTUNITY_STAGES, length=255),
            _f("Amount", "currency", "Amount", precision=18),
            _f(
                "CurrencyIsoCode",
                "picklist",
                "Opportunity Currency",
                picklist=CURRENCIES,
                length=3,
                feature="multi_currency",
            ),
            _f("CloseDate", "date", "Close Date", nillable=False),
            _f("IsClosed", "boolean", "Closed", computed=True),
            _f("IsWon", "boolean", "Won", computed=True),
            _f(
                "AccountId",
                "reference",
                "Account ID",
                ref="Account",
                rel="Account",
                child="Opportunities",
            ),
            _f("OwnerId", "reference", "Owner ID", ref="User", rel="Owner", nillable=False),
            *_system_fields(),
        ],
    },
    "OpportunityContactRole": {
        "label": "Opportunity Contact Role",
        "labelPlural": "Opportunity Contact Roles",
        "keyPrefix": "00K",
        "required": ["ContactId", "OpportunityId"],
        # Salesforce: access to a contact role follows access to its opportunity
        "follows": "Opportunity",
        "list_columns": [
            "Opportunity.Name",
            "Opportunity.StageName",
            "Opportunity.Amount",
            "Opportunity.CloseDate",
            "Role",
            "IsPrimary",
        ],
        "fields": [
            _f("Id", "id", "Contact Role ID"),
            _f(
                "ContactId",
                "reference",
                "Contact ID",
                ref="Contact",
                rel="Contact",
                child="OpportunityContactRoles",
            ),
            _f(
                "OpportunityId",
                "reference",
                "Opportunity ID",
                ref="Opportunity",
                rel="Opportunity",
                nillable=False,
                child="OpportunityContactRoles",
            ),
            _f("Role", "picklist", "Role", picklist=CONTACT_ROLES, length=40),
            _f("IsPrimary", "boolean", "Primary"),
            *_system_fields(),
        ],
    },
    "Task": {
        "label": "Task",
        "labelPlural": "Tasks",
        "keyPrefix": "00T",
        "required": [],
        "fields": [
            _f("Id", "id", "Activity ID"),
            _f("Subject", "string", "Subject", length=255),
            _f("Description", "textarea", "Description", length=32000),
            _f("Status", "picklist", "Status", picklist=TASK_STATUSES, length=255),
            _f("Priority", "picklist", "Priority", picklist=TASK_PRIORITIES, length=40),
            _f("ActivityDate", "date", "Due Date Only"),
            # polymorphic: a Contact or a Lead ("Name"); an Account, Case or Opportunity
            _f("WhoId", "reference", "Name ID", ref="Contact", refs=["Contact", "Lead"]),
            _f(
                "WhatId",
                "reference",
                "Related To ID",
                ref="Case",
                refs=["Account", "Case", "Opportunity"],
            ),
            _f("TaskSubtype", "picklist", "Task Subtype", picklist=TASK_SUBTYPES, length=40),
            _f("IsClosed", "boolean", "Closed", computed=True),
            _f("OwnerId", "reference", "Assigned To ID", ref="User", rel="Owner", nillable=False),
            *_system_fields(),
        ],
    },
    "User": {
        "label": "User",
        "labelPlural": "Users",
        "keyPrefix": "005",
        "readonly": True,
        "fields": [
            _f("Id", "id", "User ID"),
            _f("Username", "string", "Username", length=80, nillable=False),
            _f("FirstName", "string", "First Name", length=40),
            _f("LastName", "string", "Last Name", length=80, nillable=False),
            _f("Name", "string", "Full Name", length=121, computed=True, nameField=True),
            _f("Email", "email", "Email", length=128, nillable=False),
            _f("IsActive", "boolean", "Active"),
            _f("CreatedDate", "datetime", "Created Date", system=True),
            _f("LastModifiedDate", "datetime", "Last Modified Date", system=True),
        ],
    },
    "RecordType": {
        "label": "Record Type",
        "labelPlural": "Record Types",
        "keyPrefix": "012",
        "readonly": True,
        "fields": [
            _f("Id", "id", "Record Type ID"),
            _f("Name", "string", "Name", length=80, nillable=False, nameField=True),
            _f("DeveloperName", "string", "Record Type Name", length=80, nillable=False),
            _f("SobjectType", "picklist", "SObject Type Name", length=40, nillable=False),
            _f("IsActive", "boolean", "Active"),
            # Only in orgs with Person Accounts (unconfirmed: the object reference lists it
            # without saying whether it exists elsewhere).
            _f("IsPersonType", "boolean", "Is Person Type", feature="person_accounts"),
            _f("CreatedDate", "datetime", "Created Date", system=True),
            _f("LastModifiedDate", "datetime", "Last Modified Date", system=True),
        ],
    },
    "Organization": {
        "label": "Organization",
        "labelPlural": "Organizations",
        "keyPrefix": "00D",
        "readonly": True,
        "fields": [
            _f("Id", "id", "Organization ID"),
            _f("Name", "string", "Name", length=80, nillable=False, nameField=True),
            _f("IsSandbox", "boolean", "Is Sandbox"),
            _f("OrganizationType", "string", "Edition", length=40),
            _f("InstanceName", "string", "Instance Name", length=5),
            _f("LanguageLocaleKey", "string", "Language", length=40),
            _f("TimeZoneSidKey", "string", "Default Time Zone", length=40),
            _f("DefaultCurrencyIsoCode", "string", "Currency Locale", length=3),
            _f("CreatedDate", "datetime", "Created Date", system=True),
            _f("LastModifiedDate", "datetime", "Last Modified Date", system=True),
        ],
    },
}

# Lookup tables: object name (any case) -> canonical; field name (any case) -> field def.
_OBJECT_NAMES = {name.lower(): name for name in OBJECTS}
_FIELDS = {obj: {f["name"].lower(): f for f in spec["fields"]} for obj, spec in OBJECTS.items()}
_RELATIONSHIPS = {
    obj: {f["rel"].lower(): f for f in spec["fields"] if f.get("rel")}
    for obj, spec in OBJECTS.items()
}
PREFIXES = {spec["keyPrefix"]: name for name, spec in OBJECTS.items()}
# Child relationships, per parent object: relationship name (any case) -> (child object, field).
CHILDREN: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {obj: {} for obj in OBJECTS}
for _child, _spec in OBJECTS.items():
    for _fdef in _spec["fields"]:
        if _fdef.get("child"):
            CHILDREN[_fdef["ref"]][_fdef["child"].lower()] = (_child, _fdef)


def feature_fields(off: set[str] | frozenset[str]) -> frozenset[str]:
    """``"Object.Field"`` of every field whose feature is in ``off`` (hidden for that org)."""
    return frozenset(
        f"{obj}.{f['name']}"
        for obj, spec in OBJECTS.items()
        for f in spec["fields"]
        if f.get("feature") in off
    )


def child_relationship(obj: str, name: str) -> tuple[str, dict[str, Any]] | None:
    """``(child object, its reference field)`` of ``obj``'s child relationship ``name``."""
    return CHILDREN[obj].get(name.lower())


def hidden_with(names: Any) -> frozenset[str]:
    """The objects a user cannot see when ``names`` are hidden (canonical names; a contact role
    follows its opportunity). ``names``: a name, a comma-separated string or a list."""
    if not names or names is True:
        return frozenset()
    if isinstance(names, str):
        names = names.split(",")
    out = set()
    for name in names:
        canonical = canonical_object(str(name).strip())
        if canonical is None:
            raise ValueError(f"unknown sObject {name!r}; known: {sorted(OBJECTS)}")
        out.add(canonical)
    out |= {obj for obj, spec in OBJECTS.items() if spec.get("follows") in out}
    return frozenset(out)


def canonical_object(name: str) -> str | None:
    return _OBJECT_NAMES.get(name.lower())


def field(obj: str, name: str) -> dict[str, Any] | None:
    return _FIELDS[obj].get(name.lower())


def relationship(obj: str, name: str) -> dict[str, Any] | None:
    return _RELATIONSHIPS[obj].get(name.lower())


def field_names(obj: str) -> list[str]:
    return [f["name"] for f in OBJECTS[obj]["fields"]]


def is_createable(obj: str, f: dict[str, Any]) -> bool:
    if OBJECTS[obj].get("readonly"):
        return False
    return f["type"] != "id" and not f.get("computed") and not f.get("system")


def describe_field(obj: str, f: dict[str, Any], scheme: str = "") -> dict[str, Any]:
    """``scheme``: the field's Shield Platform Encryption scheme, "" when not encrypted (E2)."""
    ftype = f["type"]
    writable = is_createable(obj, f)
    is_text = ftype in STRING_TYPES
    length = f.get("length", 18 if ftype in ("id", "reference") else 0)
    nillable = f.get("nillable", ftype not in ("id", "boolean") and not f.get("system"))
    picklist = [
        {"active": True, "defaultValue": False, "label": label, "validFor": None, "value": value}
        for value, label in f.get("picklist", [])
    ]
    return {
        "aggregatable": ftype not in ("textarea",),
        "autoNumber": False,
        "byteLength": length * 3 if is_text else 0,
        "calculated": False,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": scheme == "deterministic_case_sensitive",
        "compoundFieldName": None,
        "controllerName": None,
        "createable": writable,
        "custom": bool(f.get("custom")),
        "defaultValue": False if ftype == "boolean" else None,
        "defaultedOnCreate": ftype == "boolean" or bool(f.get("system")) or ftype == "id",
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 0,
        "externalId": False,
        # Probabilistic encryption (Shield's default) cannot be filtered; deterministic can.
        "encrypted": bool(scheme),
        "filterable": ftype != "textarea" and scheme != "probabilistic",
        "groupable": ftype not in ("textarea", "double", "currency", "datetime"),
        "htmlFormatted": False,
        "idLookup": ftype == "id" or f["name"] in ("Email", "Username"),
        "inlineHelpText": None,
        "label": f["label"],
        "length": length if is_text else 0,
        "name": f["name"],
        "nameField": bool(f.get("nameField")),
        "namePointing": False,
        "nillable": nillable,
        "permissionable": nillable and not f.get("system") and ftype != "id",
        "picklistValues": picklist,
        "precision": f.get("precision", 0),
        "referenceTo": f.get("refs") or ([f["ref"]] if f.get("ref") else []),
        "relationshipName": f.get("rel"),
        "restrictedPicklist": False,
        "scale": 2 if ftype in NUMBER_TYPES else 0,
        "soapType": SOAP_TYPES[ftype],
        "sortable": ftype != "textarea",
        "type": ftype,
        "unique": False,
        "updateable": writable,
    }


def _basics(obj: str, version: str) -> dict[str, Any]:
    """What an sObject's describe and its global describe entry both answer."""
    spec = OBJECTS[obj]
    base = f"/services/data/v{version}/sobjects/{obj}"
    writable = not spec.get("readonly")
    return {
        "name": obj,
        "label": spec["label"],
        "labelPlural": spec["labelPlural"],
        "keyPrefix": spec["keyPrefix"],
        "custom": False,
        "createable": writable,
        "updateable": writable,
        "deletable": writable,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


def child_relationships(obj: str, hidden: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """``obj``'s describe ``childRelationships``: those to objects the user can see."""
    return [
        {
            "cascadeDelete": child == "OpportunityContactRole",
            "childSObject": child,
            "deprecatedAndHidden": False,
            "field": fdef["name"],
            "junctionIdListNames": [],
            "junctionReferenceTo": [],
            "relationshipName": fdef["child"],
            "restrictedDelete": False,
        }
        for child, fdef in CHILDREN[obj].values()
        if child not in hidden
    ]


def describe(
    obj: str,
    version: str,
    hidden: frozenset[str] = frozenset(),
    encryption: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``hidden``: objects the user cannot see and ``"Object.Field"`` names the org lacks;
    ``encryption``: this object's encrypted fields and their schemes (E2)."""
    basics = _basics(obj, version)
    writable = basics["createable"]
    urls = basics["urls"]
    out = {
        **basics,
        "actionOverrides": [],
        "activateable": False,
        "childRelationships": child_relationships(obj, hidden),
        "compactLayoutable": True,
        "customSetting": False,
        "feedEnabled": False,
        "fields": [
            describe_field(obj, f, encryption.get(f["name"], "") if encryption else "")
            for f in OBJECTS[obj]["fields"]
            if f"{obj}.{f['name']}" not in hidden
        ],
        "layoutable": True,
        "mergeable": writable,
        "recordTypeInfos": [],
        "triggerable": writable,
        "undeletable": writable,
        "urls": {
            "compactLayouts": f"{urls['describe']}/compactLayouts",
            "rowTemplate": urls["rowTemplate"],
            "describe": urls["describe"],
            "sobject": urls["sobject"],
        },
    }
    return dict(sorted(out.items()))  # Salesforce lists a describe's keys alphabetically


def global_describe_entry(obj: str, version: str) -> dict[str, Any]:
    return _basics(obj, version)
