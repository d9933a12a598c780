"""The `http` node against a real aiohttp server on 127.0.0.1: request building, response
parsing, failure classification and credentials."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from linkflow.nodes.credentials import CREDENTIALS, static_headers
from linkflow.nodes.http import http as http_handler
from linkflow.worker import ActivityContext, HandlerRegistry, Outcome, execute


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "query": [[k, v] for k, v in request.query.items()],
            "content_type": request.headers.get("Content-Type"),
            "authorization": request.headers.get("Authorization"),
            "x_custom": request.headers.get("X-Custom"),
            "body": body.decode(),
            "cookie": request.headers.get("Cookie"),
        }
    )


async def _json(request: web.Request) -> web.Response:
    response = web.json_response({"ok": True, "items": [1, 2]})
    response.headers.add("X-Multi", "1")
    response.headers.add("X-Multi", "2")
    response.set_cookie("session", "abc")
    return response


async def _status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    headers = {}
    if code == 429:
        headers["Retry-After"] = "7"
    if code == 503:
        headers["Retry-After"] = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: 0 s
    return web.Response(status=code, text=f"status {code} " + "y" * 5000, headers=headers)


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(30)
    return web.Response(text="late")


def _app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/json", _json)
    app.router.add_get("/text", _fixed(lambda: web.Response(text="héllo")))
    app.router.add_get(
        "/bytes",
        _fixed(lambda: web.Response(body=b"\x00\x01\xff", content_type="application/octet-stream")),
    )
    app.router.add_get(
        "/notjson", _fixed(lambda: web.Response(text="<html>", content_type="application/json"))
    )
    app.router.add_get("/empty", _fixed(lambda: web.Response(status=204)))
    app.router.add_get("/big", _fixed(lambda: web.Response(body=b"z" * 2000)))
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/slow", _slow)
    return app


def _fixed(make: Callable[[], web.StreamResponse]) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return make()

    return handle


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/json")


@pytest.fixture
async def base() -> AsyncIterator[str]:
    server = TestServer(_app(), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def ctx() -> AsyncIterator[ActivityContext]:
    context = ActivityContext(execution_id="e1", activity_id="a1", attempt=1, node_id="call")
    yield context
    await context.resources.aclose()


_registry = HandlerRegistry()
_registry.register("http", http_handler)


async def run(ctx: ActivityContext, config: dict[str, Any]) -> Outcome:
    """Through `execute`, so failures are classified as the worker reports them."""
    return await execute(_registry.get("http"), ctx, config)


async def test_get_json_parses_body_and_returns_status_and_headers(
    base: str, ctx: ActivityContext
) -> None:
    outcome = await run(ctx, {"url": f"{base}/json"})
    assert outcome.ok, outcome.error
    assert outcome.result["status"] == 200
    assert outcome.result["body"] == {"ok": True, "items": [1, 2]}
    assert outcome.result["headers"]["X-Multi"] == "1, 2"
    assert outcome.result["headers"]["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("path", "response_type", "expected"),
    [
        ("/text", "auto", "héllo"),
        ("/bytes", "auto", base64.b64encode(b"\x00\x01\xff").decode()),
        ("/json", "text", '{"ok": true, "items": [1, 2]}'),
        ("/text", "bytes", base64.b64encode("héllo".encode()).decode()),
        ("/notjson", "auto", "<html>"),  # mislabelled JSON: kept as text, not a failure
        ("/empty", "auto", None),
        ("/empty", "json", None),
    ],
)
async def test_response_parsing(
    base: str, ctx: ActivityContext, path: str, response_type: str, expected: Any
) -> None:
    outcome = await run(ctx, {"url": base + path, "response_type": response_type})
    assert outcome.ok, outcome.error
    assert outcome.result["body"] == expected


async def test_strict_json_parsing_fails_for_good(base: str, ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"url": f"{base}/notjson", "response_type": "json"})
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("HttpResponseParseError", False)


async def test_json_body_query_and_headers_are_sent(base: str, ctx: ActivityContext) -> None:
    outcome = await run(
        ctx,
        {
            "url": f"{base}/echo",
            "method": "post",
            "headers": {"X-Custom": 5},
            "query": {"q": "a b", "flag": True, "multi": [1, 2], "skip": None},
            "body": {"name": "ada", "n": [1, 2]},
        },
    )
    assert outcome.ok, outcome.error
    echoed = outcome.result["body"]
    assert echoed["method"] == "POST"
    assert echoed["content_type"] == "application/json"
    assert echoed["body"] == '{"name":"ada","n":[1,2]}'
    assert echoed["query"] == [["q", "a b"], ["flag", "true"], ["multi", "1"], ["multi", "2"]]
    assert echoed["x_custom"] == "5"


async def test_form_and_raw_bodies(base: str, ctx: ActivityContext) -> None:
    form = await run(
        ctx,
        {
            "url": f"{base}/echo",
            "method": "PUT",
            "body": {"a": 1, "b": ["x", "y"]},
            "body_type": "form",
        },
    )
    assert form.ok, form.error
    assert form.result["body"]["content_type"] == "application/x-www-form-urlencoded"
    assert form.result["body"]["body"] == "a=1&b=x&b=y"

    raw = await run(
        ctx,
        {"url": f"{base}/echo", "method": "POST", "body": "a,b\n1,2", "content_type": "text/csv"},
    )
    assert raw.ok, raw.error
    assert raw.result["body"]["content_type"] == "text/csv"
    assert raw.result["body"]["body"] == "a,b\n1,2"


async def test_cookies_never_carry_over_between_calls(base: str, ctx: ActivityContext) -> None:
    assert (await run(ctx, {"url": f"{base}/json"})).ok  # the server sets a cookie
    echoed = await run(ctx, {"url": f"{base}/echo"})
    assert echoed.result["body"]["cookie"] is None


async def test_head_has_no_body_and_redirects_are_followed(base: str, ctx: ActivityContext) -> None:
    head = await run(ctx, {"url": f"{base}/json", "method": "HEAD"})
    assert head.ok and head.result["body"] is None
    followed = await run(ctx, {"url": f"{base}/redirect"})
    assert followed.result["status"] == 200 and followed.result["body"]["ok"] is True
    kept = await run(ctx, {"url": f"{base}/redirect", "follow_redirects": False})
    assert kept.ok and kept.result["status"] == 302


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *[(status, True) for status in (500, 502, 503, 429, 408)],
        *[(status, False) for status in (400, 401, 403, 404, 409, 422)],
    ],
)
async def test_failing_statuses_are_classified(
    base: str, ctx: ActivityContext, status: int, retryable: bool
) -> None:
    outcome = await run(ctx, {"url": f"{base}/status/{status}?token=s3cret"})
    assert outcome.error is not None
    assert outcome.error.type == "HttpError"
    assert outcome.error.retryable is retryable
    details = outcome.error.details
    assert details["status"] == status
    assert details["body"].startswith(f"status {status}") and len(details["body"]) < 4200
    # Query strings often carry secrets: they stay out of messages and details.
    assert "s3cret" not in outcome.error.message and "s3cret" not in details["url"]
    if status == 429:
        assert details["retry_after_s"] == 7
    if status == 503:
        assert details["retry_after_s"] == 0


async def test_expected_statuses_count_as_success(base: str, ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"url": f"{base}/status/404", "expect_status": [404, 410]})
    assert outcome.ok and outcome.result["status"] == 404
    unexpected = await run(ctx, {"url": f"{base}/json", "expect_status": 201})
    assert unexpected.error is not None and unexpected.error.retryable is False


async def test_timeout_is_retryable(base: str, ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"url": f"{base}/slow", "timeout": "200ms"})
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("HttpTimeout", True)


async def test_connection_refused_is_retryable(ctx: ActivityContext) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = await run(ctx, {"url": f"http://127.0.0.1:{port}/x"})
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("HttpConnectionError", True)


async def test_invalid_url_fails_for_good(ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"url": "not a url"})
    assert outcome.error is not None
    assert outcome.error.retryable is False
    assert outcome.error.type in ("HttpInvalidUrl", "HttpInvalidRequest")


async def test_oversized_response_fails_for_good(base: str, ctx: ActivityContext) -> None:
    outcome = await run(ctx, {"url": f"{base}/big", "max_response_bytes": 100})
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("HttpResponseTooLarge", False)


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"url": ""},
        {"url": "http://x", "method": "FETCH"},
        {"url": "http://x", "body": [1], "body_type": "form"},
        {"url": "http://x", "body": {"a": 1}, "body_type": "raw"},
        {"url": "http://x", "timeout": "soon"},
        {"url": "http://x", "headers": {"a": {"nested": 1}}},
        {"url": "http://x", "response_type": "xml"},
        "just a string",
    ],
)
async def test_bad_configs_fail_for_good(ctx: ActivityContext, config: Any) -> None:
    outcome = await run(ctx, config)
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("InvalidConfig", False)


async def test_credentials_inject_headers_by_name(base: str, ctx: ActivityContext) -> None:
    CREDENTIALS.register("test-api", static_headers({"Authorization": "Bearer t0ken"}))

    def broken(request: Any) -> dict[str, str]:
        raise RuntimeError("token endpoint down")

    CREDENTIALS.register("test-broken", broken)
    try:
        outcome = await run(
            ctx,
            {
                "url": f"{base}/echo",
                "headers": {"Authorization": "from the definition"},
                "credentials": "test-api",
            },
        )
        assert outcome.ok, outcome.error
        # The provider's header won over the definition's, and the echo of its secret
        # value is scrubbed from the result.
        assert outcome.result["body"]["authorization"] == "[redacted]"

        missing = await run(ctx, {"url": f"{base}/echo", "credentials": "nobody"})
        assert missing.error is not None
        assert (missing.error.type, missing.error.retryable) == ("CredentialsNotFound", False)

        failing = await run(ctx, {"url": f"{base}/echo", "credentials": "test-broken"})
        assert failing.error is not None
        assert (failing.error.type, failing.error.retryable) == ("CredentialsError", True)
    finally:
        CREDENTIALS.unregister("test-api")
        CREDENTIALS.unregister("test-broken")


async def test_async_credential_providers_see_the_request(base: str, ctx: ActivityContext) -> None:
    seen: list[Any] = []

    async def provider(request: Any) -> dict[str, str]:
        seen.append((request.name, request.method, request.execution_id, request.node_id))
        return {"X-Custom": "signed"}

    CREDENTIALS.register("test-async", provider)
    try:
        outcome = await run(
            ctx, {"url": f"{base}/echo", "method": "DELETE", "credentials": "test-async"}
        )
        assert outcome.result["body"]["x_custom"] == "[redacted]"  # sent, and scrubbed
        assert seen == [("test-async", "DELETE", "e1", "call")]
    finally:
        CREDENTIALS.unregister("test-async")


async def test_one_session_is_shared_within_a_worker(base: str, ctx: ActivityContext) -> None:
    from linkflow.nodes.http import SESSION_RESOURCE

    def not_built() -> aiohttp.ClientSession:
        raise AssertionError("the first call should have built the session")

    await run(ctx, {"url": f"{base}/json"})
    session = await ctx.resources.get(SESSION_RESOURCE, not_built)
    await run(ctx, {"url": f"{base}/json"})
    assert await ctx.resources.get(SESSION_RESOURCE, not_built) is session
    await ctx.resources.aclose()
    assert session.closed
