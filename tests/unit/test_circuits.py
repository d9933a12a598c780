"""Circuit breakers (linkflow/worker/circuits.py): they open after enough failures within
the window, fail attempts fast while open, let one probe through afterwards, and share
their state through published records; the http node counts its calls against them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from linkflow.nodes.http import http as http_handler
from linkflow.worker import ActivityContext, HandlerRegistry, execute
from linkflow.worker.circuits import CIRCUIT_OPEN, CIRCUITS, CircuitBreakers, CircuitPolicy
from linkflow.worker.errors import ActivityError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _open_error(breakers: CircuitBreakers, key: str) -> ActivityError:
    with pytest.raises(ActivityError) as caught:
        breakers.check(key)
    assert caught.value.type == CIRCUIT_OPEN and caught.value.retryable
    return caught.value


def test_opens_after_failures_in_the_window_then_a_probe_decides() -> None:
    clock = Clock()
    shared: list[tuple[str, bytes | None]] = []
    breakers = CircuitBreakers(CircuitPolicy(failures=3, window_s=10, open_s=30), clock)
    breakers.publish = lambda key, value: shared.append((key, value))

    for _ in range(2):
        breakers.check("pay:443")
        breakers.failed("pay:443")
    clock.now += 11  # the first two fall out of the window
    for _ in range(2):
        breakers.failed("pay:443")
    breakers.check("pay:443")  # still closed: two failures in the window
    breakers.failed("pay:443")
    error = _open_error(breakers, "pay:443")
    assert "open for 30 s more after 3 failures within 10 s" in error.message
    assert error.details["open_until_ms"] == int((clock.now + 30) * 1000)
    assert [k for k, _ in shared] == ["pay:443"]
    assert json.loads(shared[0][1] or b"")["open_until_ms"] == int((clock.now + 30) * 1000)
    breakers.check("other:443")  # other integrations are not affected

    clock.now += 30
    breakers.check("pay:443")  # the probe goes through ...
    assert "a probe is under way" in _open_error(breakers, "pay:443").message  # ... alone
    breakers.failed("pay:443")  # and fails: open again
    _open_error(breakers, "pay:443")
    clock.now += 30
    breakers.check("pay:443")
    breakers.succeeded("pay:443")  # the probe succeeds: closed, and said so
    breakers.check("pay:443")
    assert shared[-1] == ("pay:443", None)


def test_state_published_by_another_worker_applies_here() -> None:
    clock = Clock()
    here = CircuitBreakers(CircuitPolicy(failures=3), clock)
    there = CircuitBreakers(CircuitPolicy(failures=3), clock)
    there.publish = here.apply  # the topic, in short
    for _ in range(3):
        there.failed("crm:443")
    _open_error(here, "crm:443")  # never failed here, open all the same
    clock.now += 30
    here.check("crm:443")
    here.publish = there.apply
    here.succeeded("crm:443")
    there.check("crm:443")  # closed there too


def test_turned_off_with_zero_failures() -> None:
    breakers = CircuitBreakers(CircuitPolicy(failures=0), Clock())
    for _ in range(100):
        breakers.failed("x:80")
    breakers.check("x:80")


# -- the http node -----------------------------------------------------------------------


@pytest.fixture
def policy() -> Iterator[Clock]:
    clock = Clock()
    saved = (CIRCUITS.policy, CIRCUITS.clock)
    CIRCUITS.policy, CIRCUITS.clock = CircuitPolicy(failures=2, window_s=60, open_s=5), clock
    CIRCUITS.reset()
    yield clock
    CIRCUITS.policy, CIRCUITS.clock = saved
    CIRCUITS.reset()


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[str, list[int], list[int]]]:
    """/ answers the status at the head of `statuses` (200 once it is empty)."""
    statuses: list[int] = []
    calls: list[int] = []

    async def answer(_: web.Request) -> web.Response:
        status = statuses.pop(0) if statuses else 200
        calls.append(status)
        return web.Response(status=status, text="x")

    app = web.Application()
    app.router.add_get("/", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/")), statuses, calls
    await server.close()


async def test_the_http_node_fails_fast_while_its_host_is_down(policy: Clock, flaky: Any) -> None:
    url, statuses, calls = flaky
    statuses.extend([503, 503])
    registry = HandlerRegistry()
    registry.register("http", http_handler)
    ctx = ActivityContext(execution_id="e1", activity_id="a1", attempt=1, node_id="call")
    try:
        outcomes = [await execute(registry.get("http"), ctx, {"url": url}) for _ in range(3)]
        assert [o.error.type for o in outcomes if o.error] == [
            "HttpError",
            "HttpError",
            CIRCUIT_OPEN,
        ]
        assert len(calls) == 2  # the third attempt never reached the server
        policy.now += 5
        probe = await execute(registry.get("http"), ctx, {"url": url})
        assert probe.ok and len(calls) == 3
        # A 404 is the service answering: it does not count against the circuit.
        statuses.extend([404, 404, 404])
        for _ in range(3):
            refused = await execute(registry.get("http"), ctx, {"url": url})
            assert refused.error is not None and refused.error.type == "HttpError"
        assert len(calls) == 6
    finally:
        await ctx.resources.aclose()
