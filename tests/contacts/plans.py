"""EXPLAIN the SQL a page really runs, on PostgreSQL (L4): which indexes, any Seq Scan or Sort."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="EXPLAIN checks run in CI's PostgreSQL pass"
)


def captured_sql(call, table: str) -> list[str]:
    """The SELECTs on ``table`` that ``call()`` runs (with their parameters, as sent)."""
    with CaptureQueriesContext(connection) as queries:
        call()
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]
    ]


def plan(sql: str, **planner: str) -> str:
    """EXPLAIN ``sql`` with planner switches such as ``enable_seqscan="off"``.

    Switching a scan type off does not forbid it: where no index can serve the query PostgreSQL
    still answers with that scan (at a huge cost), so the plan shows the fallback.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in planner.items():
            cursor.execute(f"SET LOCAL {name} = {value}")
        cursor.execute("EXPLAIN " + sql)
        lines = [row[0] for row in cursor.fetchall()]
        for name in planner:
            cursor.execute(f"RESET {name}")
    return "\n".join(lines)


def keep_only_indexes(table: str, *keep: str) -> None:
    """Drop every other index of ``table`` inside the test's transaction (rolled back after it).

    On a test-sized table the planner picks whichever index is cheapest today; with only ``keep``
    left (and scans or sorts switched off in ``plan``) the plan shows whether THAT index can serve
    the query: its filter as an index condition, its order without a Sort.
    """
    with connection.cursor() as cursor:
        for name, info in connection.introspection.get_constraints(cursor, table).items():
            if info["index"] and not info["primary_key"] and name not in keep:
                cursor.execute(f'DROP INDEX "{name}"')
