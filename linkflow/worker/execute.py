"""Run one handler call: start-to-close enforcement, sync handlers off the loop, and turning
whatever happens into an Outcome. No Kafka here, so it is unit-testable on its own."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from linkflow.worker.context import ActivityContext
from linkflow.worker.errors import ErrorInfo, classify, start_to_close_timeout, unknown_node_type
from linkflow.worker.registry import HandlerSpec

# Heartbeats go out this many times per heartbeat timeout, so one late or lost message
# does not make the history processor time the activity out.
HEARTBEATS_PER_TIMEOUT = 3
MIN_HEARTBEAT_INTERVAL_S = 0.01


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Any = None
    error: ErrorInfo | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def label(self) -> str:
        """The `outcome` metrics label."""
        return "completed" if self.ok else "timed_out" if self.timed_out else "failed"


async def call_handler(
    spec: HandlerSpec, ctx: ActivityContext, value: Any, executor: Executor | None = None
) -> Any:
    """Await an async handler; run a sync one in `executor` (never on the event loop)."""
    if spec.is_async:
        return await spec.fn(ctx, value)
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, spec.fn, ctx, value)
    result = await loop.run_in_executor(executor, call)
    if inspect.isawaitable(result):  # e.g. a lambda or partial wrapping an async function
        result = await result
    return result


async def execute(
    spec: HandlerSpec | None,
    ctx: ActivityContext,
    value: Any,
    *,
    timeout_ms: int | None = None,
    executor: Executor | None = None,
    known: Callable[[], list[str]] = list,
) -> Outcome:
    """Run the handler once and classify the outcome.

    The start-to-close timeout is a local safety net: the history processor enforces it
    authoritatively with a durable timer, but a hung handler must not hold a slot forever.
    An async handler is cancelled at the deadline; a sync one cannot be stopped (its thread
    runs on), but the slot is freed and the failure reported.
    """
    if spec is None:
        return Outcome(error=unknown_node_type(ctx.node_type, known()))
    seconds = timeout_ms / 1000 if timeout_ms else None
    try:
        async with asyncio.timeout(seconds) as scope:
            result = await call_handler(spec, ctx, value, executor)
    except TimeoutError as exc:
        if timeout_ms and scope.expired():
            return Outcome(error=start_to_close_timeout(timeout_ms), timed_out=True)
        return Outcome(error=classify(exc))
    except (Exception, SystemExit) as exc:  # a handler calling sys.exit must not stop the worker
        return Outcome(error=classify(exc))
    return Outcome(result=result)


def heartbeat_interval(heartbeat_ms: int) -> float:
    return max(heartbeat_ms / 1000 / HEARTBEATS_PER_TIMEOUT, MIN_HEARTBEAT_INTERVAL_S)


async def heartbeat_loop(
    ctx: ActivityContext, interval_s: float, send: Callable[[Any], None]
) -> None:
    """Send the handler's latest heartbeat details every `interval_s` until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        send(ctx.heartbeat_details)
