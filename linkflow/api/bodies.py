"""Request bodies: JSON objects with checked fields. A body the handler cannot use is a 400
that names the field, like a bad query parameter."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from aiohttp import web

from linkflow.api.errors import ApiError

_MISSING: Any = object()


def bad_field(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_body", f"{name}: {message}", field=name)


async def read_json(request: web.Request, *, optional: bool = False) -> Any:
    """The decoded JSON body; {} for an empty body when `optional`."""
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "bad_json", "request body is empty; expected a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"request body is not valid JSON: {exc}") from None
    if _holds_nul(body):
        # PostgreSQL text and jsonb cannot hold U+0000: accepted here, such a value would
        # stall the visibility sink later instead of failing this request now.
        raise ApiError(400, "invalid_body", "strings in the body must not contain U+0000")
    return body


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


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
    body: dict[str, Any], name: str, *, required: bool = False, default: Any = None
) -> Any:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise bad_field(name, "required")
        return default
    if not isinstance(value, str) or (required and not value):
        raise bad_field(name, "must be a non-empty string" if required else "must be a string")
    return value


def int_field(body: dict[str, Any], name: str, *, minimum: int = 1) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 3.0 is the integer 3
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_field(name, f"must be an integer >= {minimum}")
    return value


def str_map_field(body: dict[str, Any], name: str) -> dict[str, str]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_field(name, "must be an object of string values")
    return value
