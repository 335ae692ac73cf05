"""The related lists of the Salesforce panel (R1, R2), each defined once.

A list is a child relationship of Contact: its label, the objects the connecting Salesforce user
must be able to see (else it is dropped with a note, R2), its subquery inside the ONE lookup
query (open records only, newest first), and the Change Data Capture channels whose events can
change it (F2; a contact role has its own events, E6). The modules that need one of these read it from here: ``models.RELATED_LISTS``
(labels, objects), ``soql.RELATED_SUBQUERIES``, ``live.RELATED_TOPICS``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Rows per subquery: enough to say "N more" without another call.
RELATED_LIMIT = 50  # written into the subqueries below


@dataclass(frozen=True)
class RelatedList:
    name: str  # the Contact's child relationship name, as SOQL and the answer spell it
    label: str
    objects: tuple[str, ...]
    subquery: str  # a constant: never built from user input
    topics: tuple[str, ...]


CASES = RelatedList(
    name="Cases",
    label="Open cases",
    objects=("Case",),
    subquery=(
        "(SELECT Id, CaseNumber, Subject, Status, Priority, LastModifiedDate FROM Cases "
        "WHERE IsClosed = false ORDER BY LastModifiedDate DESC LIMIT 50)"
    ),
    topics=("/data/CaseChangeEvent",),
)
OPPORTUNITIES = RelatedList(
    name="OpportunityContactRoles",
    label="Open opportunities",
    objects=("OpportunityContactRole", "Opportunity"),
    subquery=(
        "(SELECT Id, OpportunityId, Opportunity.Name, Opportunity.StageName, "
        "Opportunity.Amount, Opportunity.CloseDate FROM OpportunityContactRoles "
        "WHERE Opportunity.IsClosed = false ORDER BY Opportunity.CloseDate ASC "
        "LIMIT 50)"
    ),
    # A contact role added to or removed from an opportunity changes no Opportunity (E6).
    topics=("/data/OpportunityChangeEvent", "/data/OpportunityContactRoleChangeEvent"),
)

RELATED = {related.name: related for related in (CASES, OPPORTUNITIES)}
