"""Every error the query service returns has one JSON shape:

    {"error": {"code": "not_found", "message": "no execution 'e1'"}}

plus `parameter` for a bad query parameter and `problems` for an invalid definition, so a
client branches on `code` and shows `message` to a person.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import psycopg_pool
from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """Raised by handlers; the middleware renders it as the JSON error body."""

    def __init__(self, status: int, code: str, message: str, /, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def bad_parameter(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {message}", parameter=name)


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} {ident!r}")


def unavailable(service: str, exc: BaseException) -> ApiError:
    return ApiError(503, f"{service}_unavailable", f"{service} is unavailable: {exc}")


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return json_response(ApiError(status, code, message, **extra).body(), status=status)


def json_response(data: Any, status: int = 200, **kwargs: Any) -> web.Response:
    # Compact separators: list pages can be large and clients never read them by eye.
    return web.json_response(
        data, status=status, dumps=lambda v: json.dumps(v, separators=(",", ":")), **kwargs
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response(exc.body(), status=exc.status)
    except web.HTTPException as exc:
        # aiohttp's own 404/405/413 (unknown route, wrong method, body too large) would
        # otherwise answer in text/plain.
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status, "http_error"
        )
        message = exc.reason if exc.status != 404 else f"no route {request.path!r}"
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return json_response(
            ApiError(exc.status, code, message).body(), status=exc.status, headers=headers
        )
    except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as exc:
        log.warning("postgres unavailable during %s %s: %s", request.method, request.path, exc)
        return json_response(unavailable("postgres", exc).body(), status=503)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")
