"""Liveness and readiness probes.

`/healthz` answers while the process serves HTTP at all. `/readyz` asks both backing
services and answers 503 naming each one that did not answer, so an orchestrator stops
routing to an instance that cannot do its work.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from linkflow import transport
from linkflow.api import auth
from linkflow.api.context import ApiContext, context, topic
from linkflow.api.errors import json_response

REQUIRED_TOPICS = (transport.COMMANDS, transport.DEFINITIONS)


async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def whoami(request: web.Request) -> web.Response:
    """The caller's name, role and permissions (the UI shows only the buttons they allow)."""
    return json_response(auth.whoami_body(request.get(auth.PRINCIPAL)))


async def _check_postgres(ctx: ApiContext, timeout: float) -> dict[str, Any]:
    try:
        async with asyncio.timeout(timeout):
            async with ctx.pool.connection(timeout=timeout) as conn:
                await conn.execute("SELECT 1")
    except Exception as exc:
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": True}


async def _check_kafka(ctx: ApiContext, timeout: float) -> dict[str, Any]:
    try:
        topics = await asyncio.wait_for(ctx.publisher.topics(timeout), timeout + 1)
    except Exception as exc:
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    missing = [t for t in (topic(ctx, name) for name in REQUIRED_TOPICS) if t not in topics]
    if missing:
        return {"ok": False, "error": f"topics missing: {', '.join(missing)}"}
    return {"ok": True}


async def readyz(request: web.Request) -> web.Response:
    ctx = context(request)
    timeout = ctx.config.probe_timeout_seconds
    postgres, kafka = await asyncio.gather(
        _check_postgres(ctx, timeout), _check_kafka(ctx, timeout)
    )
    checks = {"kafka": kafka, "postgres": postgres}
    failed = [name for name, check in checks.items() if not check["ok"]]
    if not failed:
        return json_response({"status": "ready", "checks": checks})
    message = "; ".join(f"{name}: {checks[name]['error']}" for name in failed)
    return json_response(
        {"error": {"code": "not_ready", "message": message, "failed": failed}, "checks": checks},
        status=503,
    )
