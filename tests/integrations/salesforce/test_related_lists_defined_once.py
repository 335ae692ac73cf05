"""Q5: each related list is defined once (related.py); every other module reads it from there."""

from __future__ import annotations

import re

from integrations.salesforce import live, models, soql
from integrations.salesforce.related import RELATED, RELATED_LIMIT


def test_q5_every_view_of_a_related_list_comes_from_its_one_definition():
    assert list(RELATED) == ["Cases", "OpportunityContactRoles"]
    for name, related in RELATED.items():
        assert models.RELATED_LISTS[name] == {"label": related.label, "objects": related.objects}
        assert soql.RELATED_SUBQUERIES[name] == related.subquery
        assert live.RELATED_TOPICS[name] == related.topics
    assert set(models.RELATED_LISTS) == set(soql.RELATED_SUBQUERIES) == set(live.RELATED_TOPICS)


def test_q5_each_subquery_reads_its_relationship_up_to_the_shared_limit():
    for name, related in RELATED.items():
        assert re.search(rf"\bFROM {name}\b", related.subquery)
        assert related.subquery.endswith(f"LIMIT {RELATED_LIMIT})")
        assert related.subquery.startswith("(SELECT ") and "IsClosed = false" in related.subquery
