"""SQL of the query service over the visibility schema (connect/migrations/).

Every function takes an open psycopg AsyncConnection whose rows are dicts; the pool in
`linkflow.api.db` hands those out. Reads are single statements on autocommit connections,
so no transaction stays open while a response is written.

`workspace` is the caller's workspace: rows of other workspaces do not exist for it (None:
every workspace, when the API runs without authentication). Node and history reads take an
execution id the caller has already found in its workspace.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from linkflow.api.filters import ExecutionFilter

Row = dict[str, Any]
Conn = AsyncConnection[Row]

# The list returns summaries: input/output/error can be megabytes and belong to `get`.
SUMMARY_COLUMNS = (
    "execution_id, workflow_id, workflow_version, status, cancel_requested, started_at, "
    "closed_at, updated_at, last_event_id, parent_execution_id, search_attributes, workspace"
)
DETAIL_COLUMNS = (
    SUMMARY_COLUMNS + ", input, output, error, request_id, parent_node_id, parent_scope, "
    "idempotency_key, execution_timeout_ms, close_reason, new_execution_id, activity_ms, usage"
)
NODE_COLUMNS = (
    "node_id, scope, status, attempt, activity_id, node_type, task_queue, child_execution_id, "
    "handle, routed, input, output, error, scheduled_at, started_at, finished_at, updated_at, "
    "last_event_id, duration_ms, usage"
)


def _in_workspace(workspace: str | None, column: str = "workspace") -> tuple[str, tuple[Any, ...]]:
    return ("", ()) if workspace is None else (f" AND {column} = %s", (workspace,))


def list_executions_sql(flt: ExecutionFilter, workspace: str | None) -> tuple[str, list[Any]]:
    """One keyset page plus one row: the extra row says whether another page exists."""
    where: list[str] = []
    params: list[Any] = []
    if workspace is not None:
        where.append("workspace = %s")
        params.append(workspace)
    # Equality for a single value keeps the (status|workflow_id, started_at, execution_id)
    # indexes usable for the ORDER BY; = ANY would need a sort.
    for column, values in (("status", flt.statuses), ("workflow_id", flt.workflow_ids)):
        if len(values) == 1:
            where.append(f"{column} = %s")
            params.append(values[0])
        elif values:
            where.append(f"{column} = ANY(%s)")
            params.append(list(values))
    if flt.parent_execution_id is not None:
        where.append("parent_execution_id = %s")
        params.append(flt.parent_execution_id)
    if flt.started_after is not None:
        where.append("started_at >= %s")
        params.append(flt.started_after)
    if flt.started_before is not None:
        where.append("started_at < %s")
        params.append(flt.started_before)
    if flt.search_attributes:
        where.append("search_attributes @> %s")
        params.append(Jsonb(flt.search_attributes))
    if flt.cursor is not None:
        # A row comparison is one index range condition on (started_at, execution_id).
        where.append(f"(started_at, execution_id) {'<' if flt.order == 'desc' else '>'} (%s, %s)")
        params.extend([flt.cursor.started_at, flt.cursor.execution_id])
    direction = "DESC" if flt.order == "desc" else "ASC"
    sql = (
        f"SELECT {SUMMARY_COLUMNS} FROM executions"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY started_at {direction}, execution_id {direction} LIMIT %s"
    )
    params.append(flt.limit + 1)
    return sql, params


async def list_executions(
    conn: Conn, flt: ExecutionFilter, workspace: str | None
) -> tuple[list[Row], bool]:
    sql, params = list_executions_sql(flt, workspace)
    cur = await conn.execute(sql, params)
    rows = await cur.fetchall()
    return rows[: flt.limit], len(rows) > flt.limit


async def get_execution(conn: Conn, execution_id: str, workspace: str | None) -> Row | None:
    only, params = _in_workspace(workspace)
    cur = await conn.execute(
        f"SELECT {DETAIL_COLUMNS} FROM executions WHERE execution_id = %s{only}",
        (execution_id, *params),
    )
    return await cur.fetchone()


async def execution_status(conn: Conn, execution_id: str, workspace: str | None) -> Row | None:
    """The little the SSE tail and the wait loop poll for."""
    only, params = _in_workspace(workspace)
    cur = await conn.execute(
        f"SELECT status, last_event_id FROM executions WHERE execution_id = %s{only}",
        (execution_id, *params),
    )
    return await cur.fetchone()


async def node_executions(conn: Conn, execution_id: str) -> list[Row]:
    # Order of first appearance: how a person reads a run from top to bottom.
    cur = await conn.execute(
        f"SELECT {NODE_COLUMNS} FROM node_executions WHERE execution_id = %s"
        " ORDER BY COALESCE(scheduled_at, started_at, finished_at, updated_at), node_id, scope",
        (execution_id,),
    )
    return await cur.fetchall()


async def history_page(conn: Conn, execution_id: str, after: int, limit: int) -> list[Row]:
    cur = await conn.execute(
        "SELECT event_id, event_type, event_time, attributes FROM history_events"
        " WHERE execution_id = %s AND event_id > %s ORDER BY event_id LIMIT %s",
        (execution_id, after, limit),
    )
    return await cur.fetchall()


# -- workflow definitions (connect/migrations/010_api_definitions.sql) ------------------


async def list_workflows(
    conn: Conn, after: str | None, limit: int, workspace: str | None
) -> tuple[list[Row], bool]:
    only, params = _in_workspace(workspace)
    # The grouped page walks the primary key in order and stops at the limit; the join then
    # fetches only the latest version of the workflows on this page.
    cur = await conn.execute(
        f"""
        SELECT d.workflow_id, d.version AS latest_version,
               d.definition->>'name' AS name, d.definition->>'description' AS description,
               g.version_count, g.first_registered_at, d.registered_at AS last_registered_at
          FROM (SELECT workflow_id, max(version) AS latest, count(*) AS version_count,
                       min(registered_at) AS first_registered_at
                  FROM workflow_definitions
                 WHERE workflow_id > %s{only}
                 GROUP BY workflow_id
                 ORDER BY workflow_id
                 LIMIT %s) g
          JOIN workflow_definitions d
            ON d.workflow_id = g.workflow_id AND d.version = g.latest
         ORDER BY d.workflow_id
        """,
        (after or "", *params, limit + 1),
    )
    rows = await cur.fetchall()
    return rows[:limit], len(rows) > limit


async def workflow_versions(conn: Conn, workflow_id: str, workspace: str | None) -> list[Row]:
    only, params = _in_workspace(workspace)
    cur = await conn.execute(
        "SELECT workflow_id, version, definition, registered_at, workspace"
        f" FROM workflow_definitions WHERE workflow_id = %s{only} ORDER BY version DESC",
        (workflow_id, *params),
    )
    return await cur.fetchall()


async def workflow_exists(
    conn: Conn, workflow_id: str, version: int | None, workspace: str | None
) -> bool:
    only, params = _in_workspace(workspace)
    if version is None:
        cur = await conn.execute(
            f"SELECT 1 FROM workflow_definitions WHERE workflow_id = %s{only} LIMIT 1",
            (workflow_id, *params),
        )
    else:
        cur = await conn.execute(
            "SELECT 1 FROM workflow_definitions WHERE workflow_id = %s AND version = %s" + only,
            (workflow_id, version, *params),
        )
    return await cur.fetchone() is not None


async def workflow_owner(conn: Conn, workflow_id: str) -> str | None:
    """The workspace that owns `workflow_id`, None when no version is registered."""
    cur = await conn.execute(
        "SELECT workspace FROM workflow_definitions WHERE workflow_id = %s LIMIT 1",
        (workflow_id,),
    )
    row = await cur.fetchone()
    return None if row is None else str(row["workspace"])


async def workflow_costs(conn: Conn, workflow_id: str, workspace: str | None) -> Row:
    """What the executions of a workflow used, summed (connect/migrations/012_costs.sql)."""
    only, params = _in_workspace(workspace)
    only_e, _ = _in_workspace(workspace, "e.workspace")
    cur = await conn.execute(
        f"""
        SELECT count(*) AS executions,
               count(*) FILTER (WHERE status = 'running') AS running,
               coalesce(sum(activity_ms), 0)::bigint AS activity_ms,
               (SELECT coalesce(jsonb_object_agg(key, total), '{{}}'::jsonb)
                  FROM (SELECT u.key, sum(u.value::numeric) AS total
                          FROM executions e, jsonb_each_text(e.usage) u
                         WHERE e.workflow_id = %s{only_e}
                         GROUP BY u.key) summed) AS usage
          FROM executions
         WHERE workflow_id = %s{only}
        """,
        (workflow_id, *params, workflow_id, *params),
    )
    row = await cur.fetchone()
    assert row is not None
    return row
