"""What a handler gets besides its input: the activity's identity, its deadline, a way to
report heartbeat details, and long-lived resources shared within the worker."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

T = TypeVar("T")


class Resources:
    """Long-lived objects handlers share within one worker (an HTTP session, a producer),
    created on first use and closed when the worker stops.

    A resource is closed with its `aclose()`, else `close()` (awaited when it is a
    coroutine), or with the `close` function given to `get`.
    """

    def __init__(self) -> None:
        self._items: dict[str, tuple[Any, Callable[[Any], Any] | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @overload
    async def get(
        self,
        key: str,
        factory: Callable[[], Awaitable[T]],
        close: Callable[[T], Any] | None = None,
    ) -> T: ...

    @overload
    async def get(
        self, key: str, factory: Callable[[], T], close: Callable[[T], Any] | None = None
    ) -> T: ...

    async def get(
        self,
        key: str,
        factory: Callable[[], Any],
        close: Callable[[Any], Any] | None = None,
    ) -> Any:
        """The resource under `key`, built by `factory()` (awaited if need be) on first use."""
        item = self._items.get(key)
        if item is not None:
            return item[0]
        # Concurrent first uses must not each build (and leak) their own session.
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            item = self._items.get(key)
            if item is not None:
                return item[0]
            value = factory()
            if inspect.isawaitable(value):
                value = await value
            self._items[key] = (value, close)
            return value

    async def aclose(self) -> None:
        """Close every resource, newest first; one failing to close does not stop the rest."""
        items = list(self._items.values())
        self._items.clear()
        errors: list[BaseException] = []
        for value, close in reversed(items):
            try:
                if close is not None:
                    outcome = close(value)
                elif hasattr(value, "aclose"):
                    outcome = value.aclose()
                elif hasattr(value, "close"):
                    outcome = value.close()
                else:
                    outcome = None
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


@dataclass
class ActivityContext:
    """Passed to every handler as `ctx`.

    `deadline` is a `time.monotonic()` value (None: no start-to-close timeout). Sync
    handlers run in a thread and cannot be interrupted, so long ones should check
    `time_left()` themselves. `heartbeat(details)` is cheap and thread-safe: it records the
    latest details, which the worker sends with its next periodic ActivityHeartbeat.
    `record_usage(tokens=812, usd=0.0031)` adds to what the attempt used, reported with its
    result and summed per node, execution and workflow (docs/workflows.md, Cost tracking).
    """

    execution_id: str
    activity_id: str
    attempt: int
    node_id: str
    node_type: str = ""
    scope: str = ""
    workflow_id: str = ""
    workflow_version: int = 0
    deadline: float | None = None
    heartbeat_ms: int | None = None
    kafka_bootstrap: str | None = None
    resources: Resources = field(default_factory=Resources)
    _heartbeat_details: Any = field(default=None, repr=False)
    _heartbeats: int = field(default=0, repr=False)
    usage: dict[str, float] = field(default_factory=dict)

    def record_usage(self, **amounts: float) -> None:
        """Add `amounts` (name -> a number: tokens, usd, rows, ...) to the attempt's usage."""
        for name, amount in amounts.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float):
                raise TypeError(f"usage {name!r} must be a number, not {amount!r}")
            self.usage[name] = self.usage.get(name, 0.0) + float(amount)

    def heartbeat(self, details: Any = None) -> None:
        """Report progress; `details` (JSON-serialisable) goes out with the next heartbeat."""
        self._heartbeat_details = details
        self._heartbeats += 1

    @property
    def heartbeat_details(self) -> Any:
        return self._heartbeat_details

    @property
    def heartbeat_count(self) -> int:
        """How often the handler called `heartbeat` (for tests and progress checks)."""
        return self._heartbeats

    def time_left(self) -> float | None:
        """Seconds until the start-to-close deadline (may be negative); None without one."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()
