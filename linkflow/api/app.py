"""The aiohttp application of the query service: routes, middlewares and the lifecycle of
its Postgres pool, Kafka producer and definitions follower."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from linkflow import transport
from linkflow.api import (
    auth,
    control,
    credentials,
    dead_letters,
    executions,
    health,
    openapi,
    reset,
    sse,
    ui,
    workflows,
)
from linkflow.api.bodies import MAX_BODY_BYTES
from linkflow.api.catalog import DefinitionFollower
from linkflow.api.context import CONTEXT, ApiConfig, ApiContext
from linkflow.api.errors import error_middleware, json_response
from linkflow.api.metrics import metrics_handler, metrics_middleware
from linkflow.api.publisher import Publisher

log = logging.getLogger(__name__)

POOL_RECONNECT_SECONDS = 2.0

Handler = Callable[[web.Request], Any]


async def _openapi(_request: web.Request) -> web.Response:
    return json_response(openapi.document())


# Every route with the permission it needs (linkflow.api.auth): one declaration for the
# router and for authorization.
ROUTES: tuple[tuple[str, str, Handler, str], ...] = (
    ("GET", "/healthz", health.healthz, auth.OPEN),
    ("GET", "/readyz", health.readyz, auth.OPEN),
    ("GET", "/metrics", metrics_handler, auth.METRICS),
    ("POST", "/v1/workflows", workflows.register_workflow, auth.REGISTER),
    ("GET", "/v1/workflows", workflows.list_workflows, auth.READ),
    ("GET", "/v1/workflows/{workflow_id}", workflows.get_workflow, auth.READ),
    ("GET", "/v1/workflows/{workflow_id}/costs", workflows.workflow_costs, auth.READ),
    ("POST", "/v1/executions", control.start_execution, auth.START),
    ("GET", "/v1/executions", executions.list_executions, auth.READ),
    ("GET", "/v1/executions/{execution_id}", executions.get_execution, auth.READ),
    ("GET", "/v1/executions/{execution_id}/history", executions.get_history, auth.READ),
    ("GET", "/v1/executions/{execution_id}/events", sse.stream_events, auth.READ),
    ("POST", "/v1/executions/{execution_id}/signal", control.signal_execution, auth.SIGNAL),
    ("POST", "/v1/executions/{execution_id}/cancel", control.cancel_execution, auth.CANCEL),
    (
        "POST",
        "/v1/executions/{execution_id}/terminate",
        control.terminate_execution,
        auth.TERMINATE,
    ),
    ("POST", "/v1/executions/{execution_id}/reset", reset.reset_execution, auth.RESET),
    ("GET", "/v1/whoami", health.whoami, auth.READ),
    ("GET", "/v1/dlq", dead_letters.list_dead_letters, auth.READ),
    ("POST", "/v1/credentials", credentials.set_credential, auth.CREDENTIALS),
    ("GET", "/v1/credentials", credentials.list_credentials, auth.CREDENTIALS),
    ("DELETE", "/v1/credentials/{name}", credentials.delete_credential, auth.CREDENTIALS),
    ("POST", "/v1/dlq/requeue", dead_letters.requeue_dead_letters, auth.REQUEUE),
    ("GET", "/openapi.json", _openapi, auth.OPEN),
    *((method, path, handler, auth.OPEN) for method, path, handler in ui.ROUTES),
)
PERMISSIONS = {(method, path): permission for method, path, _, permission in ROUTES}


def create_app(config: ApiConfig) -> web.Application:
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware, auth_middleware(config)],
        client_max_size=MAX_BODY_BYTES,
        # aiohttp answers a request line or header past 8 KiB itself, in plain text; let
        # such requests reach the handlers, which refuse an over-long id with a JSON problem.
        handler_args={"max_line_size": MAX_BODY_BYTES, "max_field_size": MAX_BODY_BYTES},
    )
    for method, path, handler, _permission in ROUTES:
        # No implicit HEAD routes: the router must list exactly what the document does.
        app.router.add_route(method, path, handler)
    app.cleanup_ctx.append(_resources(config))
    app.on_shutdown.append(_stop_streams)
    return app


def auth_middleware(config: ApiConfig) -> Any:
    """Refuses a request its bearer token does not allow (401/403, JSON) before its handler
    runs; with no authenticator configured, lets everything through."""
    authenticator = config.auth

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if authenticator is None:
            return await handler(request)
        resource = request.match_info.route.resource
        key = (request.method, resource.canonical if resource is not None else "")
        permission = PERMISSIONS.get(key)
        if permission is None:  # no such route: the handler answers 404/405
            return await handler(request)
        authorization = request.headers.get("Authorization")
        if authenticator.needs_key_fetch(authorization):
            # May fetch the identity provider's keys: not on the event loop.
            verdict = await asyncio.to_thread(authenticator.check, authorization, permission)
        else:
            verdict = authenticator.check(authorization, permission)
        if isinstance(verdict, auth.Denied):
            headers = {"WWW-Authenticate": "Bearer"} if verdict.status == 401 else {}
            return json_response(auth.problem_body(verdict), status=verdict.status, headers=headers)
        if verdict is not None:
            request[auth.PRINCIPAL] = verdict
        return await handler(request)

    return check


def _resources(config: ApiConfig) -> Callable[[web.Application], Any]:
    async def resources(app: web.Application) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            config.database_url,
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            timeout=config.pool_timeout_seconds,
            # The pool retries a lost connection with a backoff that doubles (1, 2, 4, 8 s,
            # ...): after a 30 s outage the service stayed unready ~20 s after PostgreSQL
            # was back. Giving up on an attempt after this long makes the next request
            # start a new one at once, so the service recovers within a request or two.
            reconnect_timeout=POOL_RECONNECT_SECONDS,
            open=False,
            name="linkflow-api",
        )
        # Not waiting for connections: the service starts (and /readyz says why it is not
        # ready) while Postgres is still coming up.
        await pool.open(wait=False)
        publisher = Publisher(config.kafka_bootstrap, config.publish_timeout_seconds)
        follower = None
        if config.follow_definitions:
            follower = DefinitionFollower(
                config.kafka_bootstrap, pool, config.topic_prefix + transport.DEFINITIONS
            )
            follower.start()
        app[CONTEXT] = ApiContext(config, pool, publisher, follower)
        try:
            yield
        finally:
            if follower is not None:
                await follower.close()
            await publisher.close()
            await pool.close()

    return resources


async def _stop_streams(app: web.Application) -> None:
    if CONTEXT in app:
        app[CONTEXT].stopping.set()
