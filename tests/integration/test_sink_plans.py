"""The sink's reads are lookups by key and stay index lookups while a table grows faster
than autovacuum analyzes it: with statistics that say the table is tiny, PostgreSQL would
otherwise scan it whole for every batch (seen on a freshly truncated database under load)."""

from __future__ import annotations

import uuid

import psycopg

from connect import migrate
from connect.projection import OPEN_NODE_STATUSES, Lookups
from connect.store import load_state


def test_lookups_use_the_keys_whatever_the_statistics_say(database_url: str) -> None:
    migrate.migrate(database_url)
    ids = [f"plan-{uuid.uuid4().hex}" for _ in range(500)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        with conn.transaction(force_rollback=True):
            # Statistics of a tiny table, as after a truncate and an early autovacuum.
            conn.execute("DELETE FROM node_executions")
            conn.execute("DELETE FROM executions")
            conn.execute("ANALYZE node_executions, executions")
            none: frozenset[tuple[str, str]] = frozenset()
            wanted = Lookups(frozenset(ids), frozenset(), none, none, frozenset(ids))
            load_state(conn, wanted)
            # What the planner would do with load_state's queries in this transaction.
            plans = [
                conn.execute(
                    "EXPLAIN SELECT * FROM executions WHERE execution_id = ANY(%s)", (ids,)
                ).fetchall(),
                conn.execute(
                    "EXPLAIN SELECT * FROM node_executions n "
                    "WHERE n.execution_id = ANY(%s) AND n.status = ANY(%s)",
                    (ids, list(OPEN_NODE_STATUSES)),
                ).fetchall(),
            ]
        # The setting ended with the transaction.
        after = conn.execute("SHOW enable_seqscan").fetchone()
    text = "\n".join(row[0] for plan in plans for row in plan)
    assert "Seq Scan" not in text, text
    assert after == ("on",)
