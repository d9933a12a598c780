"""`http`: one HTTP request with aiohttp.

Config: `url`; `method` (GET); `headers`; `query` (values: strings, numbers, booleans or
lists of them); `body` with `body_type` json (the default for non-strings), form (an
object, sent url-encoded) or raw (a string, sent as is with `content_type`); `timeout`
(milliseconds or e.g. "30s"; default 30 s); `response_type` auto (by Content-Type), json,
text or bytes (base64); `follow_redirects` (true); `expect_status` (a status or list that
counts as success; default: below 400); `credentials` (the name of a credential whose
headers are added: a provider registered in the worker, or one stored with `linkflow
credentials set`; see linkflow.nodes.credentials; its values are scrubbed from the result
and errors); `max_response_bytes` (10 MiB).

Result: `{"status": int, "headers": {name: value}, "body": ...}`. Failures are classified
in linkflow.nodes.http_errors.

One aiohttp session per worker keeps connections pooled; it has no cookie jar, so nothing
leaks from one execution's calls into another's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from linkflow.nodes import _config as cfg
from linkflow.nodes.credentials import CREDENTIALS, CredentialRequest
from linkflow.nodes.http_errors import (
    HTTP_CONNECTION_ERROR,
    HTTP_ERROR,
    HTTP_RESPONSE_PARSE_ERROR,
    HTTP_RESPONSE_TOO_LARGE,
    HTTP_TIMEOUT,
    status_error,
    transport_error,
)
from linkflow.secrets.redact import redact, secrets_of
from linkflow.worker.circuits import CIRCUITS
from linkflow.worker.context import ActivityContext
from linkflow.worker.errors import ActivityError
from linkflow.worker.registry import activity

NODE_TYPE = "http"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
BODY_TYPES = ("json", "form", "raw")
RESPONSE_TYPES = ("auto", "json", "text", "bytes")
DEFAULT_TIMEOUT_MS = 30_000
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
SESSION_RESOURCE = "linkflow.nodes.http.session"

_SCALAR = {"type": ["string", "number", "boolean"]}
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "description": "The URL (templates allowed)."},
        "method": {
            "type": "string",
            "enum": [*METHODS, *(m.lower() for m in METHODS)],
            "description": "Default GET.",
        },
        "headers": {"type": "object", "additionalProperties": _SCALAR},
        "query": {
            "type": "object",
            "additionalProperties": {
                "anyOf": [_SCALAR, {"type": "null"}, {"type": "array", "items": _SCALAR}]
            },
        },
        "body": {"description": "Sent as body_type says (JSON by default for non-strings)."},
        "body_type": {
            "type": "string",
            "enum": list(BODY_TYPES),
            "description": "json, form (an object, url-encoded) or raw (a string).",
        },
        "content_type": {"type": "string", "description": "For a raw body."},
        "timeout": {
            "type": ["integer", "string"],
            "description": 'Milliseconds or e.g. "30s"; default 30 s.',
        },
        "response_type": {
            "type": "string",
            "enum": list(RESPONSE_TYPES),
            "description": "auto (by Content-Type, the default), json, text or bytes (base64).",
        },
        "follow_redirects": {"type": "boolean", "description": "Default true."},
        "expect_status": {
            "oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}],
            "description": "Status(es) that count as success; default: below 400.",
        },
        "credentials": {
            "type": "string",
            "description": "A credential (stored with `linkflow credentials set`, or a "
            "provider registered in the worker) whose headers are added; its secret values "
            "are replaced by [redacted] in the result and in errors.",
        },
        "circuit": {
            "type": "string",
            "description": "The circuit breaker this call counts against; default its URL's "
            "host:port (see docs/workflows.md, Circuit breakers).",
        },
        "max_response_bytes": {
            "type": "integer",
            "minimum": 0,
            "description": "Default 10 MiB; a bigger response fails the node.",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    query: list[tuple[str, str]]
    body_kwargs: dict[str, Any]
    timeout_s: float
    response_type: str
    follow_redirects: bool
    expect_status: frozenset[int] | None
    credentials: str | None
    max_response_bytes: int
    circuit: str | None = None


def parse_config(config: Any) -> HttpRequest:
    """The request a config describes; ActivityError(InvalidConfig) for a bad one."""
    c = cfg.as_mapping(NODE_TYPE, config)
    method = cfg.string(NODE_TYPE, c, "method", "GET").upper()
    if method not in METHODS:
        raise cfg.invalid(NODE_TYPE, f"'method' must be one of {', '.join(METHODS)}")
    expect = c.get("expect_status")
    if isinstance(expect, int) and not isinstance(expect, bool):
        expect = [expect]
    if expect is not None and (
        not isinstance(expect, list) or not all(isinstance(s, int) for s in expect)
    ):
        raise cfg.invalid(NODE_TYPE, "'expect_status' must be a status or a list of statuses")
    credentials = c.get("credentials")
    if credentials is not None and not isinstance(credentials, str):
        raise cfg.invalid(NODE_TYPE, "'credentials' must be the name of a credential provider")
    limit = c.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise cfg.invalid(NODE_TYPE, "'max_response_bytes' must be a non-negative integer")
    circuit = c.get("circuit")
    if circuit is not None and (not isinstance(circuit, str) or not circuit):
        raise cfg.invalid(NODE_TYPE, "'circuit' must be a non-empty string")
    follow = c.get("follow_redirects", True)
    if not isinstance(follow, bool):
        raise cfg.invalid(NODE_TYPE, "'follow_redirects' must be true or false")
    return HttpRequest(
        method=method,
        url=cfg.string(NODE_TYPE, c, "url"),
        headers=_headers(c.get("headers")),
        query=_query(c.get("query")),
        body_kwargs=_body(c),
        timeout_s=cfg.duration_s(NODE_TYPE, c, "timeout", DEFAULT_TIMEOUT_MS),
        response_type=cfg.choice(NODE_TYPE, c, "response_type", RESPONSE_TYPES, "auto"),
        follow_redirects=follow,
        expect_status=frozenset(expect) if expect is not None else None,
        credentials=credentials,
        max_response_bytes=limit,
        circuit=circuit,
    )


def _scalar(value: Any) -> str:
    if isinstance(value, bool):  # aiohttp rejects bools; spell them as JSON does
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise cfg.invalid(NODE_TYPE, f"expected a string, number or boolean, got {value!r}")


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise cfg.invalid(NODE_TYPE, "'headers' must be an object")
    return {str(k): _scalar(v) for k, v in value.items()}


def _query(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise cfg.invalid(NODE_TYPE, "'query' must be an object")
    pairs = []
    for key, item in value.items():
        if item is None:
            continue
        for one in item if isinstance(item, list) else [item]:
            pairs.append((str(key), _scalar(one)))
    return pairs


def _body(c: Mapping[str, Any]) -> dict[str, Any]:
    if c.get("body") is None:
        return {}
    body = c["body"]
    default = "raw" if isinstance(body, str) else "json"
    kind = cfg.choice(NODE_TYPE, c, "body_type", BODY_TYPES, default)
    content_type = c.get("content_type")
    if kind == "json":
        data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
        return {"data": data, "content_type": content_type or "application/json"}
    if kind == "form":
        if not isinstance(body, Mapping):
            raise cfg.invalid(NODE_TYPE, "a form body must be an object")
        return {"data": _query(body), "content_type": content_type}
    if not isinstance(body, str):
        raise cfg.invalid(NODE_TYPE, "a raw body must be a string")
    return {"data": body.encode(), "content_type": content_type or "text/plain; charset=utf-8"}


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


@activity(
    NODE_TYPE,
    config_schema=CONFIG_SCHEMA,
    description="One HTTP request. A status that does not count as success fails the node "
    "(5xx, 408 and 429 are retryable); `credentials` adds a stored credential's headers.",
    output='`{"status": int, "headers": {name: value}, "body": ...}`',
    task_queue="http",
)
async def http(ctx: ActivityContext, config: Any) -> dict[str, Any]:
    req = parse_config(config)
    headers = dict(req.headers)
    kwargs = dict(req.body_kwargs)
    content_type = kwargs.pop("content_type", None)
    if content_type and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    circuit = req.circuit or _host(req.url)
    CIRCUITS.check(circuit)  # first: an open circuit needs no credentials resolved
    secrets: list[str] = []
    if req.credentials:
        try:
            resolved = await CREDENTIALS.resolve(
                CredentialRequest(
                    req.credentials, req.method, req.url, ctx.execution_id, ctx.node_id
                )
            )
        except BaseException:
            CIRCUITS.abandoned(circuit)  # no call made: no verdict on the service
            raise
        # Applied last: a definition cannot override what the provider vouches for.
        headers.update(resolved.headers)
        secrets = secrets_of(resolved.secrets)
    try:
        result = await _call(ctx, req, headers, kwargs)
    except ActivityError as exc:
        # The service's fault (down, slow, overloaded) counts against its circuit; a
        # refusal of this request (other 4xx, a bad URL) shows the service is there.
        if exc.type in (HTTP_TIMEOUT, HTTP_CONNECTION_ERROR) or (
            exc.type == HTTP_ERROR and exc.retryable
        ):
            CIRCUITS.failed(circuit)
        else:
            CIRCUITS.succeeded(circuit)
        if not secrets:
            raise
        # A server that echoes the credential must not put it into history or logs.
        raise ActivityError(
            exc.type,
            redact(exc.message, secrets),
            retryable=exc.retryable,
            details=redact(exc.details, secrets),
        ) from None
    except BaseException:
        CIRCUITS.abandoned(circuit)
        raise
    CIRCUITS.succeeded(circuit)
    return redact(result, secrets)  # type: ignore[no-any-return]


def _host(url: str) -> str:
    try:
        parsed = URL(url)
        return f"{parsed.host}:{parsed.port}" if parsed.host else "<invalid url>"
    except (ValueError, TypeError):
        return "<invalid url>"


async def _call(
    ctx: ActivityContext, req: HttpRequest, headers: dict[str, str], kwargs: dict[str, Any]
) -> dict[str, Any]:
    session = await ctx.resources.get(SESSION_RESOURCE, _session)
    try:
        async with session.request(
            req.method,
            req.url,
            params=req.query or None,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=req.timeout_s),
            allow_redirects=req.follow_redirects,
            **kwargs,
        ) as response:
            raw = await _read(response, req)
            # Cost tracking: every request made and the bytes it brought back, failed or not.
            ctx.record_usage(http_requests=1, http_response_bytes=len(raw))
            status, reason = response.status, response.reason or ""
            response_headers = _response_headers(response)
            content_type = response.content_type
            charset = response.charset or "utf-8"
    except ActivityError:
        raise
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        raise transport_error(req.method, req.url, exc) from exc

    ok = status in req.expect_status if req.expect_status is not None else status < 400
    if not ok:
        text = _parse(raw, "auto", content_type, charset, lenient=True)
        raise status_error(req.method, req.url, status, reason, response_headers, text)
    body = None if req.method == "HEAD" else _parse(raw, req.response_type, content_type, charset)
    return {"status": status, "headers": response_headers, "body": body}


async def _read(response: aiohttp.ClientResponse, req: HttpRequest) -> bytes:
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        buffer += chunk
        if len(buffer) > req.max_response_bytes:
            raise ActivityError(
                HTTP_RESPONSE_TOO_LARGE,
                f"{req.method} response is larger than {req.max_response_bytes} bytes",
                retryable=False,
                details={"status": response.status, "max_response_bytes": req.max_response_bytes},
            )
    return bytes(buffer)


def _response_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _is_text(content_type: str) -> bool:
    return content_type.startswith("text/") or content_type in (
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
    )


def _parse(
    raw: bytes, response_type: str, content_type: str, charset: str, *, lenient: bool = False
) -> Any:
    if response_type == "auto":
        if not raw:
            return None
        if _is_json(content_type):
            response_type = "json"
            lenient = True  # a server mislabelling its body should not fail the call
        elif _is_text(content_type) or lenient:
            response_type = "text"
        else:
            response_type = "bytes"
    if response_type == "bytes":
        return base64.b64encode(raw).decode("ascii")
    try:
        text = raw.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        text = raw.decode("utf-8", errors="replace")
    if response_type == "text":
        return text
    try:
        return json.loads(text, parse_constant=_reject_constant) if text.strip() else None
    except ValueError as exc:
        if lenient:
            return text
        raise ActivityError(
            HTTP_RESPONSE_PARSE_ERROR,
            f"the response is not JSON: {exc}",
            retryable=False,
            details={"body": text[:1000]},
        ) from None


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: the result could not be reported.
    raise ValueError(f"{name} is not valid JSON")
