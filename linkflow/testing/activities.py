"""How test activity handlers answer: return a value, raise, or say how long they take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linkflow.engine.effects import ActivityTask


class ActivityError(Exception):
    """Raise from a handler to fail the attempt with a chosen error type (and retryability)."""

    def __init__(
        self, type: str, message: str = "", *, retryable: bool = True, details: Any = None
    ) -> None:
        super().__init__(message or type)
        self.type = type
        self.message = message or type
        self.retryable = retryable
        self.details = details


@dataclass(frozen=True)
class Delayed:
    """The attempt takes `ms` of (test) time, then returns `result` or raises `error`.
    With `heartbeat_every_ms` the worker heartbeats while it runs."""

    ms: int
    result: Any = None
    error: Exception | None = None
    heartbeat_every_ms: int | None = None


class _NoReply:
    def __repr__(self) -> str:
        return "NO_REPLY"


#: Return this from a handler to simulate a lost task or a hung worker: no result is sent.
#: The test may answer later with `env.complete_activity` / `env.fail_activity`.
NO_REPLY: Any = _NoReply()


@dataclass(frozen=True)
class ActivityContext:
    """What a handler that takes two arguments gets as its second one."""

    task: ActivityTask
    now_ms: int

    @property
    def attempt(self) -> int:
        return self.task.attempt

    @property
    def node_id(self) -> str:
        return self.task.node_id

    @property
    def execution_id(self) -> str:
        return self.task.execution_id
