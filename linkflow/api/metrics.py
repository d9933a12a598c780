"""Request metrics of the query service and the `GET /metrics` handler.

The metrics themselves are defined once for every process in `linkflow.metrics`; they are
labelled by route template, never by raw path, so execution ids cannot blow up the series
count.
"""

from __future__ import annotations

import time

from aiohttp import web

from linkflow import metrics
from linkflow.api.errors import Handler

REQUESTS = metrics.API_REQUESTS
REQUEST_SECONDS = metrics.API_REQUEST_DURATION
COMMANDS = metrics.API_COMMANDS_PUBLISHED
SSE_STREAMS = metrics.API_SSE_STREAMS


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        route = _route(request)
        REQUESTS.labels(request.method, route, str(status)).inc()
        REQUEST_SECONDS.labels(request.method, route).observe(time.perf_counter() - started)


async def metrics_handler(_request: web.Request) -> web.Response:
    body, content_type = metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})
