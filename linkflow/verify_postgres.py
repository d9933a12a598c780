"""`linkflow verify --database-url`: does PostgreSQL show what history says?

The visibility sink folds history into the `executions` and `node_executions` tables. Here
the same fold (`connect.projection`) runs over the history read from Kafka, and every
execution's row (status, last event id) and every node row (status) is compared with what
PostgreSQL holds. The sink may lag a little behind history, so the comparison is repeated
until it agrees or `timeout` runs out; what still differs then is reported.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

Mismatch = tuple[str, str]  # (execution id, what differs)
_POLL_SECONDS = 0.5


def expected_rows(
    events: Mapping[str, Sequence[Mapping[str, Any]]],
) -> tuple[dict[str, tuple[str, int]], dict[tuple[str, str, str], str]]:
    """Per execution (status, last event id) and per node instance its status, as the sink
    would write them from these histories (each in event id order)."""
    from connect.projection import State, project

    state = State()
    for history in events.values():
        project(state, sorted(history, key=lambda e: int(e["event_id"])))
    executions = {e: (row.status, row.last_event_id) for e, row in state.executions.items()}
    nodes = {key: row.status for key, row in state.nodes.items()}
    return executions, nodes


def _mismatches(
    conn: psycopg.Connection[Any],
    executions: dict[str, tuple[str, int]],
    nodes: dict[tuple[str, str, str], str],
) -> list[Mismatch]:
    ids = sorted(executions)
    stored = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            "SELECT execution_id, status, last_event_id FROM executions"
            " WHERE execution_id = ANY(%s)",
            (ids,),
        )
    }
    stored_nodes = {
        (row[0], row[1], row[2]): row[3]
        for row in conn.execute(
            "SELECT execution_id, node_id, scope, status FROM node_executions"
            " WHERE execution_id = ANY(%s)",
            (ids,),
        )
    }
    found: list[Mismatch] = []
    for execution_id, want in executions.items():
        got = stored.get(execution_id)
        if got != want:
            found.append((execution_id, f"execution row {got} != history {want}"))
    for key, want_status in nodes.items():
        got_status = stored_nodes.get(key)
        if got_status != want_status:
            found.append((key[0], f"node {key[1]}@{key[2]!r} {got_status} != {want_status}"))
    for key in stored_nodes.keys() - nodes.keys():
        found.append((key[0], f"node {key[1]}@{key[2]!r} in PostgreSQL, not in history"))
    return found


def compare(
    database_url: str,
    events: Mapping[str, Sequence[Mapping[str, Any]]],
    timeout: float = 60.0,
) -> list[Mismatch]:
    """Rows of PostgreSQL that differ from the fold of `events`, once the sink had
    `timeout` seconds to catch up (empty: they agree)."""
    executions, nodes = expected_rows(events)
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            found = _mismatches(conn, executions, nodes)
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(_POLL_SECONDS)  # the sink commits in batches; poll until it agrees
