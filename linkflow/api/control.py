"""`/v1/executions` writes: start, signal, cancel, terminate.

They publish commands to `linkflow.commands` and answer 202 once Kafka has them; the
history processor decides what happens, and the outcome shows up in Postgres through the
visibility sink. `POST /v1/executions?wait=S` then waits (polling Postgres) for the outcome.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from linkflow import transport
from linkflow.api import commands, queries, views
from linkflow.api.auth import caller_workspace
from linkflow.api.bodies import bad_field, int_field, read_object, str_field, str_map_field
from linkflow.api.commands import Command
from linkflow.api.context import ApiContext, context, topic
from linkflow.api.errors import ApiError, json_response, not_found, unavailable
from linkflow.api.filters import TERMINAL_STATUSES
from linkflow.api.metrics import COMMANDS
from linkflow.api.params import float_param, path_id, reject_unknown
from linkflow.api.polling import Backoff
from linkflow.api.publisher import PublishError
from linkflow.api.workflows import ensure_catalog_current
from linkflow.model.limits import MAX_ID_LENGTH

START_FIELDS = (
    "workflow_id",
    "workflow_version",
    "input",
    "idempotency_key",
    "search_attributes",
)


def _check_payload(field: str, value: Any) -> None:
    try:
        transport.check_payload(field, value)
    except transport.PayloadTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc), field=field) from None


async def publish(ctx: ApiContext, command: Command) -> None:
    value = command.encode()
    if len(value) > transport.MAX_RECORD_BYTES:
        raise ApiError(
            413,
            "payload_too_large",
            f"the {command.input_type} command would be {len(value)} bytes; the largest "
            f"LinkFlow accepts is {transport.MAX_RECORD_BYTES}",
        )
    try:
        await ctx.publisher.publish(topic(ctx, transport.COMMANDS), command.key, value)
    except PublishError as exc:
        raise unavailable("kafka", exc) from exc
    COMMANDS.labels(command.input_type).inc()


async def start_execution(request: web.Request) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ("wait",))
    wait = float_param(request.query, "wait", 0.0, 0.0, ctx.config.wait_max_seconds)
    body = await read_object(request, START_FIELDS)
    workflow_id = str_field(body, "workflow_id", required=True, max_length=MAX_ID_LENGTH)
    version = int_field(body, "workflow_version")
    key = str_field(body, "idempotency_key", max_length=MAX_ID_LENGTH)
    if key == "":
        raise bad_field("idempotency_key", "must not be empty")
    search_attributes = str_map_field(body, "search_attributes")
    workspace = caller_workspace(request)

    async with ctx.pool.connection() as conn:
        known = await queries.workflow_exists(conn, workflow_id, version, workspace)
    if not known:
        await ensure_catalog_current(ctx)
        async with ctx.pool.connection() as conn:
            known = await queries.workflow_exists(conn, workflow_id, version, workspace)
    if not known:
        what = f"{workflow_id}" if version is None else f"{workflow_id}:{version}"
        raise not_found("workflow", what)

    _check_payload("input", body.get("input"))
    command = commands.start_command(
        workflow_id,
        now_ms=ctx.now_ms(),
        input=body.get("input"),
        version=version,
        idempotency_key=key,
        search_attributes=search_attributes,
        workspace=workspace,
    )
    await publish(ctx, command)
    execution = (
        await _wait_for_close(ctx, command.execution_id, workspace, wait) if wait > 0 else None
    )
    closed = execution is not None and execution["status"] in TERMINAL_STATUSES
    answer = {
        "execution_id": command.execution_id,
        "request_id": command.request_id,
        "workflow_id": workflow_id,
        "workflow_version": version,
        "idempotency_key": key,
        "execution": execution,
    }
    return json_response(
        answer,
        status=200 if closed else 202,
        headers={"Location": f"/v1/executions/{command.execution_id}"},
    )


async def _wait_for_close(
    ctx: ApiContext, execution_id: str, workspace: str | None, seconds: float
) -> dict[str, Any] | None:
    """The execution once closed, or as last seen (None if not yet visible) at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    backoff = Backoff(ctx.config.poll_min_seconds, ctx.config.poll_max_seconds, ctx.stopping)
    while True:
        async with ctx.pool.connection() as conn:
            state = await queries.execution_status(conn, execution_id, workspace)
            if state is not None and (
                state["status"] in TERMINAL_STATUSES or loop.time() >= deadline
            ):
                row = await queries.get_execution(conn, execution_id, workspace)
                assert row is not None
                nodes = await queries.node_executions(conn, execution_id)
                return views.execution_detail(row, nodes)
        remaining = deadline - loop.time()
        if remaining <= 0 or not await backoff.sleep(remaining):
            return None


async def _open_execution(
    ctx: ApiContext, execution_id: str, workspace: str | None, action: str
) -> bool:
    """Whether the visibility view knows the execution; 409 for one it shows closed.

    An execution the view does not show yet is not refused: the view lags the start, and a
    signal sent right after one must reach it. The command goes on `linkflow.commands`
    keyed by the execution id, so the engine decides it in order after the start, and
    dead-letters it (reason `unknown_execution`) when no such execution ever started, or
    (reason `wrong_workspace`) when it is another workspace's: the command carries the
    caller's workspace."""
    async with ctx.pool.connection() as conn:
        state = await queries.execution_status(conn, execution_id, workspace)
    if state is None:
        return False
    if state["status"] in TERMINAL_STATUSES:
        raise ApiError(
            409,
            "execution_closed",
            f"cannot {action} execution {execution_id!r}: it is already {state['status']}",
            status=state["status"],
        )
    return True


def _accepted(command: Command, visible: bool) -> web.Response:
    return json_response(
        {
            "execution_id": command.execution_id,
            "request_id": command.request_id,
            "execution_visible": visible,
        },
        status=202,
    )


async def signal_execution(request: web.Request) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ())
    execution_id = path_id(request, "execution_id", "execution")
    body = await read_object(request, ("name", "payload"))
    name = str_field(body, "name", required=True, max_length=MAX_ID_LENGTH)
    _check_payload("payload", body.get("payload"))
    workspace = caller_workspace(request)
    visible = await _open_execution(ctx, execution_id, workspace, "signal")
    command = commands.signal_command(
        execution_id, name, body.get("payload"), now_ms=ctx.now_ms(), workspace=workspace
    )
    await publish(ctx, command)
    return _accepted(command, visible)


async def _stop(request: web.Request, action: str) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ())
    execution_id = path_id(request, "execution_id", "execution")
    body = await read_object(request, ("reason", "identity"), optional=True)
    reason = str_field(body, "reason", default="")
    identity = str_field(body, "identity", default=ctx.config.identity) or ctx.config.identity
    workspace = caller_workspace(request)
    visible = await _open_execution(ctx, execution_id, workspace, action)
    build = commands.cancel_command if action == "cancel" else commands.terminate_command
    command = build(execution_id, reason, identity, now_ms=ctx.now_ms(), workspace=workspace)
    await publish(ctx, command)
    return _accepted(command, visible)


async def cancel_execution(request: web.Request) -> web.Response:
    return await _stop(request, "cancel")


async def terminate_execution(request: web.Request) -> web.Response:
    return await _stop(request, "terminate")
