"""PostgreSQL side of the sink: offsets, loading the rows a batch touches, writing a batch.

Every batch is one transaction: lock the partitions' offset rows, check they still say what
this sink last wrote (else another sink instance or an operator moved them: `Fenced`), load
the affected rows, fold the events in, write events, executions, node executions and the new
offsets, commit. Each table is written with one statement over arrays (`unnest`), so a batch
of thousands of events costs a handful of round trips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from connect import projection
from connect.projection import ExecutionRow, Lookups, NodeRow, State


class Fenced(Exception):
    """Some partitions' stored offsets are not what this sink expected; nothing was written."""

    def __init__(self, stored: Mapping[int, int | None]) -> None:
        super().__init__(f"offsets moved by someone else: {dict(stored)}")
        self.stored = dict(stored)


@dataclass(frozen=True, slots=True)
class BatchResult:
    events_inserted: int
    executions_written: int
    nodes_written: int


def read_offsets(
    conn: psycopg.Connection[Any], group: str, topic: str, partitions: Sequence[int]
) -> dict[int, int]:
    rows = conn.execute(
        "SELECT partition, next_offset FROM sink_offsets "
        "WHERE consumer_group = %s AND topic = %s AND partition = ANY(%s)",
        (group, topic, list(partitions)),
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


def _lock_offsets(
    conn: psycopg.Connection[Any], group: str, topic: str, partitions: Sequence[int]
) -> dict[int, int]:
    rows = conn.execute(
        "SELECT partition, next_offset FROM sink_offsets "
        "WHERE consumer_group = %s AND topic = %s AND partition = ANY(%s) "
        "ORDER BY partition FOR UPDATE",
        (group, topic, sorted(partitions)),
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


def _save_offsets(
    conn: psycopg.Connection[Any], group: str, topic: str, next_offsets: Mapping[int, int]
) -> None:
    parts = sorted(next_offsets)
    conn.execute(
        "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) "
        "SELECT %s, %s, p, o FROM unnest(%b::int[], %b::bigint[]) AS t(p, o) "
        "ON CONFLICT (consumer_group, topic, partition) "
        "DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
        (group, topic, parts, [next_offsets[p] for p in parts]),
    )


_MS = "(extract(epoch from {0}) * 1000)::bigint"

_EXECUTION_COLUMNS = (
    "execution_id, workflow_id, workflow_version, "
    + _MS.format("started_at")
    + ", "
    + _MS.format("updated_at")
    + ", last_event_id, status, input::text, output::text, error::text, "
    + _MS.format("closed_at")
    + ", request_id, parent_execution_id, parent_node_id, parent_scope, idempotency_key, "
    "execution_timeout_ms, search_attributes::text, cancel_requested, close_reason, "
    "new_execution_id, workspace, activity_ms, usage::text"
)

_NODE_COLUMNS = (
    "n.execution_id, n.node_id, n.scope, n.status, "
    + _MS.format("n.updated_at")
    + ", n.last_event_id, n.attempt, n.activity_id, n.node_type, n.task_queue, "
    "n.child_execution_id, n.handle, n.routed, n.input::text, n.output::text, n.error::text, "
    + ", ".join(_MS.format(f"n.{c}") for c in ("scheduled_at", "started_at", "finished_at"))
    + ", n.duration_ms, n.usage::text"
)


def load_state(conn: psycopg.Connection[Any], wanted: Lookups) -> State:
    """The rows `wanted` names, read in the caller's transaction."""
    # Every read here is a lookup by key. While a table grows fast (a new deployment under
    # load), the statistics of its last analyze can say it is tiny, and the planner then
    # scanned it whole for every batch until autovacuum analyzed it again: on a truncated
    # database, 500 scans and 9 million rows read in one benchmark run, the sink's
    # PostgreSQL CPU doubled. LOCAL: the setting ends with the transaction, also behind
    # a pooler that shares server connections.
    conn.execute("SET LOCAL enable_seqscan = off")
    state = State()
    if wanted.execution_ids:
        for row in conn.execute(
            f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE execution_id = ANY(%s)",
            (list(wanted.execution_ids),),
        ):
            state.executions[row[0]] = ExecutionRow(*row)
    queries: list[tuple[str, tuple[Any, ...]]] = []
    if wanted.node_keys:
        keys = list(wanted.node_keys)
        queries.append(
            (
                f"SELECT {_NODE_COLUMNS} FROM node_executions n "
                "JOIN unnest(%b::text[], %b::text[], %b::text[]) AS k(e, nd, s) "
                "ON n.execution_id = k.e AND n.node_id = k.nd AND n.scope = k.s",
                ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
            )
        )
    for column, pairs in (
        ("activity_id", wanted.activity_ids),
        ("child_execution_id", wanted.child_ids),
    ):
        if pairs:
            items = list(pairs)
            queries.append(
                (
                    f"SELECT {_NODE_COLUMNS} FROM node_executions n "
                    "JOIN unnest(%b::text[], %b::text[]) AS k(e, x) "
                    f"ON n.execution_id = k.e AND n.{column} = k.x",
                    ([p[0] for p in items], [p[1] for p in items]),
                )
            )
    if wanted.closing_ids:
        queries.append(
            (
                f"SELECT {_NODE_COLUMNS} FROM node_executions n "
                "WHERE n.execution_id = ANY(%s) AND n.status = ANY(%s)",
                (list(wanted.closing_ids), list(projection.OPEN_NODE_STATUSES)),
            )
        )
    for sql, params in queries:
        for row in conn.execute(sql, params):
            state.add_node(NodeRow(*row))
    return state


_TS = "to_timestamp({0} / 1000.0)"

_INSERT_EVENTS = (
    "INSERT INTO history_events (execution_id, event_id, event_type, event_time, attributes) "
    "SELECT e, i, t, " + _TS.format("ts") + ", a::jsonb "
    "FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::bigint[], %b::text[]) "
    "AS u(e, i, t, ts, a) "
    "ON CONFLICT (execution_id, event_id) DO NOTHING"
)

_EXEC_UPDATABLE = (
    "workflow_id",
    "workflow_version",
    "status",
    "input",
    "output",
    "error",
    "started_at",
    "closed_at",
    "updated_at",
    "last_event_id",
    "request_id",
    "parent_execution_id",
    "parent_node_id",
    "parent_scope",
    "idempotency_key",
    "execution_timeout_ms",
    "search_attributes",
    "cancel_requested",
    "close_reason",
    "new_execution_id",
    "workspace",
    "activity_ms",
    "usage",
)

# The WHERE on DO UPDATE is the database-side half of the replay guard: even a writer that
# loaded stale rows cannot move a row back to an older event.
_UPSERT_EXECUTIONS = (
    "INSERT INTO executions (execution_id, workflow_id, workflow_version, status, input, "
    "output, error, started_at, closed_at, updated_at, last_event_id, request_id, "
    "parent_execution_id, parent_node_id, parent_scope, idempotency_key, "
    "execution_timeout_ms, search_attributes, cancel_requested, close_reason, "
    "new_execution_id, workspace, activity_ms, usage) "
    "SELECT id, wf, wv, st, inp::jsonb, outp::jsonb, err::jsonb, "
    + _TS.format("sa")
    + ", "
    + _TS.format("ca")
    + ", "
    + _TS.format("ua")
    + ", le, rq, pe, pn, ps, ik, et, sat::jsonb, cr, cl, ne, wsp, am, us::jsonb "
    "FROM unnest(%b::text[], %b::text[], %b::int[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[], %b::text[], %b::bool[], "
    "%b::text[], %b::text[], %b::text[], %b::bigint[], %b::text[]) "
    "AS u(id, wf, wv, st, inp, outp, err, sa, ca, ua, le, rq, pe, pn, ps, ik, et, sat, cr, cl, "
    "ne, wsp, am, us) "
    "ON CONFLICT (execution_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _EXEC_UPDATABLE)
    + " WHERE executions.last_event_id < EXCLUDED.last_event_id"
)

_NODE_UPDATABLE = (
    "status",
    "attempt",
    "activity_id",
    "node_type",
    "task_queue",
    "child_execution_id",
    "handle",
    "routed",
    "input",
    "output",
    "error",
    "scheduled_at",
    "started_at",
    "finished_at",
    "updated_at",
    "last_event_id",
    "duration_ms",
    "usage",
)

_UPSERT_NODES = (
    "INSERT INTO node_executions (execution_id, node_id, scope, status, attempt, activity_id, "
    "node_type, task_queue, child_execution_id, handle, routed, input, output, error, "
    "scheduled_at, started_at, finished_at, updated_at, last_event_id, duration_ms, usage) "
    "SELECT e, n, s, st, at, ai, nt, tq, ce, h, r, inp::jsonb, outp::jsonb, err::jsonb, "
    + ", ".join(_TS.format(c) for c in ("sc", "sa", "fa", "ua"))
    + ", le, du, us::jsonb "
    "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::int[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::bool[], %b::text[], %b::text[], "
    "%b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], "
    "%b::bigint[], %b::text[]) "
    "AS u(e, n, s, st, at, ai, nt, tq, ce, h, r, inp, outp, err, sc, sa, fa, ua, le, du, us) "
    "ON CONFLICT (execution_id, node_id, scope) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _NODE_UPDATABLE)
    + " WHERE node_executions.last_event_id < EXCLUDED.last_event_id"
)


def _columns(rows: Sequence[Any], names: Sequence[str]) -> tuple[list[Any], ...]:
    return tuple([getattr(row, name) for row in rows] for name in names)


_EXEC_FIELDS = (
    "execution_id",
    "workflow_id",
    "workflow_version",
    "status",
    "input",
    "output",
    "error",
    "started_at_ms",
    "closed_at_ms",
    "updated_at_ms",
    "last_event_id",
    "request_id",
    "parent_execution_id",
    "parent_node_id",
    "parent_scope",
    "idempotency_key",
    "execution_timeout_ms",
    "search_attributes",
    "cancel_requested",
    "close_reason",
    "new_execution_id",
    "workspace",
    "activity_ms",
    "usage",
)

_NODE_FIELDS = (
    "execution_id",
    "node_id",
    "scope",
    "status",
    "attempt",
    "activity_id",
    "node_type",
    "task_queue",
    "child_execution_id",
    "handle",
    "routed",
    "input",
    "output",
    "error",
    "scheduled_at_ms",
    "started_at_ms",
    "finished_at_ms",
    "updated_at_ms",
    "last_event_id",
    "duration_ms",
    "usage",
)


def write_batch(
    conn: psycopg.Connection[Any],
    group: str,
    topic: str,
    events: Sequence[Mapping[str, Any]],
    next_offsets: Mapping[int, int],
    expected: Mapping[int, int | None],
) -> BatchResult:
    """Project `events` and move the offsets of `next_offsets`' partitions, atomically.

    `expected` is what this sink believes each partition's stored offset is (None: no row);
    on any difference nothing is written and `Fenced` says what is stored.
    """
    with conn.transaction():
        stored = _lock_offsets(conn, group, topic, list(next_offsets))
        moved = {p: stored.get(p) for p in next_offsets if stored.get(p) != expected.get(p)}
        if moved:
            raise Fenced(moved)
        state = load_state(conn, projection.lookups(events))
        projection.project(state, events)
        inserted = 0
        if events:
            cur = conn.execute(
                _INSERT_EVENTS,
                (
                    [e["execution_id"] for e in events],
                    [e["event_id"] for e in events],
                    [e["event_type"] for e in events],
                    [e["timestamp_ms"] for e in events],
                    [projection.to_json(e["attributes"]) for e in events],
                ),
            )
            inserted = cur.rowcount
        executions = [state.executions[k] for k in state.changed_executions]
        if executions:
            conn.execute(_UPSERT_EXECUTIONS, _columns(executions, _EXEC_FIELDS))
        nodes = [state.nodes[k] for k in state.changed_nodes]
        if nodes:
            conn.execute(_UPSERT_NODES, _columns(nodes, _NODE_FIELDS))
        _save_offsets(conn, group, topic, next_offsets)
    return BatchResult(inserted, len(executions), len(nodes))
