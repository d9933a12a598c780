"""`/v1/workflows`: register definitions, list them, show one with its versions."""

from __future__ import annotations

import binascii
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from linkflow import transport
from linkflow.api import queries, views
from linkflow.api.auth import caller_workspace
from linkflow.api.bodies import read_json
from linkflow.api.context import ApiContext, context, topic
from linkflow.api.definitions import (
    definition_key,
    encode_definition_record,
    parse_definition,
    task_queue_problems,
)
from linkflow.api.errors import ApiError, bad_parameter, json_response, not_found, unavailable
from linkflow.api.metrics import COMMANDS
from linkflow.api.pagination import b64url_decode, b64url_encode
from linkflow.api.params import int_param, path_id, reject_unknown, single
from linkflow.api.publisher import PublishError
from linkflow.model import WorkflowDefinition
from linkflow.model.workspaces import DEFAULT_WORKSPACE

CATALOG_SYNC_SECONDS = 5.0


async def register_workflow(request: web.Request) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ())
    doc = await read_json(request)
    definition, problems = parse_definition(doc)
    if definition is not None:
        try:
            topics = await ctx.publisher.topics(ctx.config.probe_timeout_seconds)
        except Exception as exc:  # KafkaException, or metadata that did not come in time
            raise unavailable("kafka", exc) from exc
        problems = task_queue_problems(definition, topics)
    if problems:
        raise ApiError(
            422,
            "invalid_definition",
            f"the definition has {len(problems)} problem(s)",
            problems=problems,
        )
    workflow_id, version = doc["id"], doc["version"]
    workspace = caller_workspace(request) or DEFAULT_WORKSPACE
    # Another producer may have published this id:version; compare with the topic, not with
    # a table that might lag it.
    await ensure_catalog_current(ctx)
    async with ctx.pool.connection() as conn, conn.transaction():
        # Serialises registrations of one id:version across API instances, so the topic and
        # the table cannot end up holding two different documents for it.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"workflow_definitions/{workflow_id}:{version}",),
        )
        cur = await conn.execute(
            "SELECT definition = %s AS same, registered_at FROM workflow_definitions"
            " WHERE workflow_id = %s AND version = %s",
            (Jsonb(doc), workflow_id, version),
        )
        existing = await cur.fetchone()
        owner = await queries.workflow_owner(conn, workflow_id)
        if owner is not None and owner != workspace:
            raise ApiError(
                409,
                "workflow_id_taken",
                f"workflow id {workflow_id!r} belongs to another workspace; register your "
                "workflow under another id",
            )
        warnings = await _missing_children(conn, definition, workspace)
        if existing is not None:
            if not existing["same"]:
                raise ApiError(
                    409,
                    "version_conflict",
                    f"workflow {workflow_id!r} version {version} is already registered with a "
                    "different definition; register the change as a new version",
                )
            body = _registered(
                workflow_id, version, existing["registered_at"], created=False, warnings=warnings
            )
            return json_response(body, status=200)
        registered_at_ms = ctx.now_ms()
        try:
            await ctx.publisher.publish(
                topic(ctx, transport.DEFINITIONS),
                definition_key(workflow_id, version),
                encode_definition_record(doc, registered_at_ms, workspace),
            )
        except PublishError as exc:
            raise unavailable("kafka", exc) from exc
        COMMANDS.labels("WorkflowDefinition").inc()
        registered_at = datetime.fromtimestamp(registered_at_ms / 1000, tz=UTC)
        await conn.execute(
            "INSERT INTO workflow_definitions"
            " (workflow_id, version, definition, registered_at, workspace)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (workflow_id, version) DO NOTHING",
            (workflow_id, version, Jsonb(doc), registered_at, workspace),
        )
    body = _registered(workflow_id, version, registered_at, created=True, warnings=warnings)
    return json_response(body, status=201, headers={"Location": f"/v1/workflows/{workflow_id}"})


def _registered(
    workflow_id: str,
    version: int,
    registered_at: datetime,
    *,
    created: bool,
    warnings: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "version": version,
        "registered_at": views.timestamp(registered_at),
        "created": created,
        "warnings": warnings,
    }


async def _missing_children(
    conn: queries.Conn, definition: WorkflowDefinition, workspace: str
) -> list[dict[str, Any]]:
    """A warning per subworkflow node naming a workflow (or version) not registered yet:
    not an error, since children are often registered after their parents, but a start
    that reaches the node fails it until they are."""
    warnings = []
    for node in definition.nodes:
        if node.type != "subworkflow":
            continue
        child = node.config.get("workflow_id")
        version = node.config.get("version")
        if not isinstance(child, str) or child == definition.id:
            continue
        exists = await queries.workflow_exists(
            conn, child, version if isinstance(version, int) else None, workspace
        )
        if not exists:
            what = child if not isinstance(version, int) else f"{child} version {version}"
            warnings.append(
                {
                    "message": f"workflow {what} is not registered (yet) in this workspace: "
                    "this node fails until it is",
                    "node_id": node.id,
                    "edge": None,
                    "field": "config.workflow_id",
                }
            )
    return warnings


async def ensure_catalog_current(ctx: ApiContext) -> None:
    if ctx.follower is not None and not await ctx.follower.caught_up(CATALOG_SYNC_SECONDS):
        raise ApiError(
            503,
            "kafka_unavailable",
            f"kafka is unavailable: could not read {transport.DEFINITIONS} to its end",
        )


def _encode_key(key: str) -> str:
    return b64url_encode(key.encode())


def _decode_key(text: str, name: str) -> str:
    try:
        return b64url_decode(text).decode()
    except (binascii.Error, ValueError):
        raise bad_parameter(name, "not a cursor returned by this service") from None


async def list_workflows(request: web.Request) -> web.Response:
    ctx = context(request)
    query = request.query
    reject_unknown(query, ("limit", "cursor"))
    limit = int_param(query, "limit", 100, 1, 500)
    cursor = single(query, "cursor")
    after = _decode_key(cursor, "cursor") if cursor else None
    async with ctx.pool.connection() as conn:
        rows, more = await queries.list_workflows(conn, after, limit, caller_workspace(request))
    return json_response(
        {
            "workflows": [views.workflow_summary(r) for r in rows],
            "next_cursor": _encode_key(rows[-1]["workflow_id"]) if more else None,
        }
    )


async def get_workflow(request: web.Request) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ())
    workflow_id = path_id(request, "workflow_id", "workflow")
    workspace = caller_workspace(request)
    async with ctx.pool.connection() as conn:
        rows = await queries.workflow_versions(conn, workflow_id, workspace)
    if not rows and ctx.follower is not None and await ctx.follower.caught_up(CATALOG_SYNC_SECONDS):
        # Maybe published by another producer a moment ago: look again once caught up.
        async with ctx.pool.connection() as conn:
            rows = await queries.workflow_versions(conn, workflow_id, workspace)
    if not rows:
        raise not_found("workflow", workflow_id)
    return json_response(
        {
            "workflow_id": workflow_id,
            "latest_version": rows[0]["version"],
            "versions": [views.workflow_version(r) for r in rows],
        }
    )


async def workflow_costs(request: web.Request) -> web.Response:
    """What a workflow's executions used: their count, the time their activities ran and
    the usage their handlers reported, summed."""
    ctx = context(request)
    reject_unknown(request.query, ())
    workflow_id = path_id(request, "workflow_id", "workflow")
    workspace = caller_workspace(request)
    async with ctx.pool.connection() as conn:
        if not await queries.workflow_exists(conn, workflow_id, None, workspace):
            raise not_found("workflow", workflow_id)
        row = await queries.workflow_costs(conn, workflow_id, workspace)
    return json_response(
        {
            "workflow_id": workflow_id,
            "executions": row["executions"],
            "running": row["running"],
            "activity_ms": row["activity_ms"],
            "usage": row["usage"],
        }
    )
