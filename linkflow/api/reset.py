"""`POST /v1/executions/{id}/reset`: a new run of an execution from one of its events
(`linkflow reset`; the semantics are in `linkflow.engine.reset`).

The API checks the reset with the engine's own rules before it sends anything, so a reset
that cannot be done is a 422 naming why, not a command the engine dead-letters; the engine
checks it again when it decides the command. Like Temporal, a source that is still running
is terminated once the new run's command is on Kafka.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from linkflow.api import commands, queries
from linkflow.api.auth import caller_workspace
from linkflow.api.bodies import bad_field, int_field, read_object, str_field
from linkflow.api.context import context
from linkflow.api.control import publish
from linkflow.api.errors import ApiError, json_response, not_found
from linkflow.api.filters import TERMINAL_STATUSES
from linkflow.api.params import path_id, reject_unknown
from linkflow.engine.events import HistoryEvent
from linkflow.engine.reset import ResetPlan, plan_reset
from linkflow.limits import HISTORY_EVENTS
from linkflow.model import Catalog
from linkflow.model.definition import child_workflow_ids
from linkflow.worker.registry import installed_node_types

_PAGE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def reset_execution(request: web.Request) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ())
    execution_id = path_id(request, "execution_id", "execution")
    body = await read_object(request, ("event_id", "reason", "identity"))
    event_id = int_field(body, "event_id", maximum=HISTORY_EVENTS.maximum)
    if event_id is None:
        raise bad_field("event_id", "is required: the event to go on from")
    reason = str_field(body, "reason", default="") or ""
    identity = str_field(body, "identity", default=ctx.config.identity) or ctx.config.identity
    workspace = caller_workspace(request)
    async with ctx.pool.connection() as conn:
        status = await queries.execution_status(conn, execution_id, workspace)
        if status is None:
            raise not_found("execution", execution_id)
        history = await _history(conn, execution_id)
        definitions = await _definitions(conn, history, workspace)
    new_id = str(uuid.uuid4())
    plan = await asyncio.to_thread(_plan, history, event_id, new_id, definitions)
    if isinstance(plan, str):
        raise ApiError(
            422,
            "reset_refused",
            f"execution {execution_id!r} cannot be reset to event {event_id}: {plan}",
            field="event_id",
        )
    kept = [e.to_dict() for e in history[: plan.last_event_id]]
    command = commands.reset_command(
        new_id,
        execution_id,
        event_id,
        kept,
        reason=reason,
        identity=identity,
        now_ms=ctx.now_ms(),
        workspace=workspace,
    )
    await publish(ctx, command)
    terminated = status["status"] not in TERMINAL_STATUSES
    if terminated:
        stop = commands.terminate_command(
            execution_id,
            f"reset to event {event_id} as execution {command.execution_id}",
            identity,
            now_ms=ctx.now_ms(),
            workspace=workspace,
        )
        await publish(ctx, stop)
    return json_response(
        {
            "execution_id": command.execution_id,
            "request_id": command.request_id,
            "source_execution_id": execution_id,
            "reset_event_id": event_id,
            "last_event_id": plan.last_event_id,
            "source_terminated": terminated,
        },
        status=202,
        headers={"Location": f"/v1/executions/{command.execution_id}"},
    )


def _plan(
    history: list[HistoryEvent],
    event_id: int,
    new_id: str,
    definitions: list[tuple[dict[str, Any], str]],
) -> ResetPlan | str:
    """The engine's check of the reset, off the event loop (it validates the definitions
    and replays the history)."""
    catalog = Catalog(registry=installed_node_types())
    for document, owner in definitions:
        catalog.register(document, owner)
    return plan_reset(history, event_id, new_id, catalog)


async def _history(conn: queries.Conn, execution_id: str) -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    after = 0
    while True:
        rows = await queries.history_page(conn, execution_id, after, _PAGE)
        for row in rows:
            events.append(
                HistoryEvent.from_dict(
                    {
                        "execution_id": execution_id,
                        "event_id": row["event_id"],
                        "timestamp_ms": (row["event_time"] - _EPOCH) // timedelta(milliseconds=1),
                        "event_type": row["event_type"],
                        "attributes": row["attributes"],
                    }
                )
            )
        if len(rows) < _PAGE:
            return events
        after = rows[-1]["event_id"]


async def _definitions(
    conn: queries.Conn, history: list[HistoryEvent], workspace: str | None
) -> list[tuple[dict[str, Any], str]]:
    """Every version of the execution's workflow and, transitively, of the workflows its
    subworkflow nodes start: what the engine's catalog holds for them."""
    if not history:
        return []
    pending = [str(getattr(history[0].attributes, "workflow_id", ""))]
    seen: set[str] = set()
    documents: list[tuple[dict[str, Any], str]] = []
    while pending:
        workflow_id = pending.pop()
        if workflow_id in seen:
            continue
        seen.add(workflow_id)
        for row in await queries.workflow_versions(conn, workflow_id, workspace):
            document: dict[str, Any] = row["definition"]
            documents.append((document, row["workspace"]))
            pending.extend(child_workflow_ids(document))
    return documents
