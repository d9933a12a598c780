"""`GET /v1/executions/{id}/events`: a Server-Sent Events live tail of an execution's
history as the visibility sink writes it to Postgres.

Each history row is one SSE message, `id:` = event_id and `data:` = the event as JSON (the
same object as in `/history`). A client that reconnects with `Last-Event-ID` (browsers do
this by themselves) or `?after=` continues after that event with nothing lost or repeated.
Once the execution is closed and its last event sent, an `event: end` message says so and
the stream ends.
"""

from __future__ import annotations

import asyncio
import json
import logging

import psycopg
import psycopg_pool
from aiohttp import web

from linkflow.api import queries, views
from linkflow.api.auth import caller_workspace
from linkflow.api.context import ApiContext, context
from linkflow.api.errors import bad_parameter, not_found
from linkflow.api.filters import TERMINAL_STATUSES
from linkflow.api.metrics import SSE_STREAMS
from linkflow.api.params import int_param, path_id, reject_unknown
from linkflow.api.polling import Backoff

log = logging.getLogger(__name__)

BATCH = 500
RETRY_MS = 1000


def _last_event_id(request: web.Request) -> int:
    header = request.headers.get("Last-Event-ID")
    if header is not None and header.strip():
        text = header.strip()
        if not text.isdigit():
            raise bad_parameter("Last-Event-ID", f"expected an event id, got {text!r}")
        return int(text)
    return int_param(request.query, "after", 0, 0, 2**63 - 1)


def _frame(row: queries.Row) -> bytes:
    data = json.dumps(views.event_view(row), separators=(",", ":"))
    return f"id: {row['event_id']}\ndata: {data}\n\n".encode()


async def stream_events(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    reject_unknown(request.query, ("after",))
    execution_id = path_id(request, "execution_id", "execution")
    last = _last_event_id(request)
    async with ctx.pool.connection() as conn:
        if await queries.execution_status(conn, execution_id, caller_workspace(request)) is None:
            raise not_found("execution", execution_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # proxies must pass events through unbuffered
        }
    )
    await response.prepare(request)
    SSE_STREAMS.inc()
    try:
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        await _tail(ctx, request, response, execution_id, last)
    except (ConnectionResetError, RuntimeError) as exc:
        # The client went away mid-write: nothing to answer.
        log.debug("SSE client of %s gone: %s", execution_id, exc)
    finally:
        SSE_STREAMS.dec()
    return response


async def _tail(
    ctx: ApiContext,
    request: web.Request,
    response: web.StreamResponse,
    execution_id: str,
    last: int,
) -> None:
    config = ctx.config
    backoff = Backoff(config.poll_min_seconds, config.poll_max_seconds, ctx.stopping)
    loop = asyncio.get_running_loop()
    last_write = loop.time()
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        try:
            async with ctx.pool.connection() as conn:
                rows = await queries.history_page(conn, execution_id, last, BATCH)
                state = None if rows else await queries.execution_status(conn, execution_id, None)
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as exc:
            # Postgres away: keep the stream and wait it out; keepalives still flow.
            log.warning("SSE tail of %s: postgres unavailable: %s", execution_id, exc)
            rows, state = [], None
        if rows:
            await response.write(b"".join(_frame(r) for r in rows))
            last = rows[-1]["event_id"]
            last_write = loop.time()
            backoff.reset()
            continue
        if (
            state is not None
            and state["status"] in TERMINAL_STATUSES
            and last >= state["last_event_id"]
        ):
            end = {"execution_id": execution_id, "status": state["status"], "last_event_id": last}
            await response.write(f"event: end\ndata: {json.dumps(end)}\n\n".encode())
            return
        if loop.time() - last_write >= config.sse_keepalive_seconds:
            # Comments keep idle proxies from closing the stream and reveal a gone client.
            await response.write(b": keepalive\n\n")
            last_write = loop.time()
        if not await backoff.sleep():
            return
