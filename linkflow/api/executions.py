"""`/v1/executions` reads: list with filters and keyset pages, one execution with its node
states, and its history page by page."""

from __future__ import annotations

from aiohttp import web

from linkflow.api import queries, views
from linkflow.api.auth import caller_workspace
from linkflow.api.context import context
from linkflow.api.errors import json_response, not_found
from linkflow.api.filters import parse_execution_filter
from linkflow.api.pagination import Cursor, encode_cursor
from linkflow.api.params import int_param, path_id, reject_unknown

HISTORY_DEFAULT_LIMIT = 200
HISTORY_MAX_LIMIT = 1000


async def list_executions(request: web.Request) -> web.Response:
    ctx = context(request)
    flt = parse_execution_filter(request.query)
    async with ctx.pool.connection() as conn:
        rows, more = await queries.list_executions(conn, flt, caller_workspace(request))
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(Cursor(last["started_at"], last["execution_id"], flt.order))
    return json_response(
        {
            "executions": [views.execution_summary(r) for r in rows],
            "next_cursor": next_cursor,
        }
    )


async def get_execution(request: web.Request) -> web.Response:
    ctx = context(request)
    reject_unknown(request.query, ())
    execution_id = path_id(request, "execution_id", "execution")
    async with ctx.pool.connection() as conn:
        row = await queries.get_execution(conn, execution_id, caller_workspace(request))
        if row is None:
            raise not_found("execution", execution_id)
        nodes = await queries.node_executions(conn, execution_id)
    return json_response(views.execution_detail(row, nodes))


async def get_history(request: web.Request) -> web.Response:
    ctx = context(request)
    query = request.query
    reject_unknown(query, ("after", "limit"))
    after = int_param(query, "after", 0, 0, 2**63 - 1)
    limit = int_param(query, "limit", HISTORY_DEFAULT_LIMIT, 1, HISTORY_MAX_LIMIT)
    execution_id = path_id(request, "execution_id", "execution")
    async with ctx.pool.connection() as conn:
        if await queries.execution_status(conn, execution_id, caller_workspace(request)) is None:
            raise not_found("execution", execution_id)
        rows = await queries.history_page(conn, execution_id, after, limit + 1)
    page = rows[:limit]
    return json_response(
        {
            "execution_id": execution_id,
            "events": [views.event_view(r) for r in page],
            # Event ids are the cursor: dense, ordered, and meaningful to a reader.
            "next_after": page[-1]["event_id"] if len(rows) > limit else None,
        }
    )
