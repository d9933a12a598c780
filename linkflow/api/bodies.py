"""Request bodies: JSON objects with checked fields. A body the handler cannot use is a 400
that names the field, like a bad query parameter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from typing import Any

from aiohttp import web

from linkflow.api.context import context
from linkflow.api.errors import ApiError
from linkflow.api.json_values import value_problem
from linkflow.model.limits import MAX_VERSION

_MISSING: Any = object()


def bad_field(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_body", f"{name}: {message}", field=name)


# Definitions are capped at 1 MiB on Kafka (topics/definitions.yaml); a body larger than
# that could never be registered, so refuse it before reading it all.
MAX_BODY_BYTES = 1024 * 1024


async def read_json(request: web.Request, *, optional: bool = False) -> Any:
    """The decoded JSON body; {} for an empty body when `optional`."""
    limit = MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(
            413,
            "payload_too_large",
            f"the body announces {request.content_length} bytes; at most {limit} are accepted",
        )
    seconds = context(request).config.body_read_seconds
    try:
        async with asyncio.timeout(seconds):
            raw = await request.read()
    except TimeoutError:
        raise ApiError(
            408, "request_timeout", f"the request body did not arrive within {seconds} s"
        ) from None
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "bad_json", "request body is empty; expected a JSON object")
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, "bad_json", f"request body is not valid JSON: {exc}") from None
    problem = value_problem(body)
    if problem:
        raise ApiError(400, "invalid_body", problem)
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def read_object(
    request: web.Request, allowed: Collection[str], *, optional: bool = False
) -> dict[str, Any]:
    body = await read_json(request, optional=optional)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "request body must be a JSON object")
    for name in body:
        if name not in allowed:
            raise bad_field(name, f"unknown field (allowed: {', '.join(sorted(allowed))})")
    return body


def str_field(
    body: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    default: Any = None,
    max_length: int | None = None,
) -> Any:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise bad_field(name, "required")
        return default
    if not isinstance(value, str) or (required and not value):
        raise bad_field(name, "must be a non-empty string" if required else "must be a string")
    if max_length is not None and len(value) > max_length:
        raise bad_field(name, f"longer than {max_length} characters")
    return value


def int_field(
    body: dict[str, Any], name: str, *, minimum: int = 1, maximum: int = MAX_VERSION
) -> int | None:
    """An optional integer field; the default range is that of a workflow version (Avro
    int, PostgreSQL integer)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 3.0 is the integer 3
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise bad_field(name, f"must be an integer from {minimum} to {maximum}")
    return value


def str_map_field(body: dict[str, Any], name: str) -> dict[str, str]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_field(name, "must be an object of string values")
    return value
