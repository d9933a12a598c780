"""`/v1/dlq`: what went to the dead-letter topic and why, and sending records back to where
they came from once the cause is fixed (what `linkflow dlq list | requeue` do, over HTTP
for the web UI)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from linkflow import transport
from linkflow.api.bodies import read_object
from linkflow.api.context import context, topic
from linkflow.api.errors import ApiError, json_response, unavailable
from linkflow.api.params import int_param, reject_unknown, single
from linkflow.dlq_reader import DeadLetter, read_dead_letters, requeue

MAX_REFS = 1000  # per requeue request
READ_TIMEOUT = 20.0


async def _letters(request: web.Request) -> list[DeadLetter]:
    ctx = context(request)
    try:
        # The reader and producer block: off the event loop.
        return await asyncio.to_thread(
            read_dead_letters,
            ctx.config.kafka_bootstrap,
            topic(ctx, transport.DLQ),
            READ_TIMEOUT,
        )
    except (LookupError, TimeoutError, RuntimeError) as exc:
        raise unavailable("kafka", exc) from exc


async def list_dead_letters(request: web.Request) -> web.Response:
    reject_unknown(request.query, ("reason", "limit"))
    reason = single(request.query, "reason")
    limit = int_param(request.query, "limit", 100, 1, 10_000)
    letters = await _letters(request)
    if reason:
        letters = [d for d in letters if d.info.reason == reason]
    newest_first = list(reversed(letters))
    return json_response(
        {"total": len(letters), "dead_letters": [d.to_json() for d in newest_first[:limit]]}
    )


async def requeue_dead_letters(request: web.Request) -> web.Response:
    body = await read_object(request, ("refs",))
    refs = body.get("refs")
    if (
        not isinstance(refs, list)
        or not refs
        or len(refs) > MAX_REFS
        or not all(isinstance(r, str) for r in refs)
    ):
        raise ApiError(
            400,
            "invalid_body",
            f"refs must be a list of 1 to {MAX_REFS} 'partition:offset' strings",
        )
    wanted = set(refs)
    letters = [d for d in await _letters(request) if d.ref in wanted]
    missing = sorted(wanted - {d.ref for d in letters})
    if missing:
        raise ApiError(404, "not_found", f"no dead letter {', '.join(missing)}")
    ctx = context(request)
    try:
        sent = await asyncio.to_thread(requeue, ctx.config.kafka_bootstrap, letters)
    except ValueError as exc:  # a letter that does not say where it came from
        raise ApiError(422, "not_requeueable", str(exc)) from exc
    except TimeoutError as exc:
        raise unavailable("kafka", exc) from exc
    return json_response(
        {"requeued": sent, "to": {d.ref: d.info.topic for d in letters}}, status=202
    )
