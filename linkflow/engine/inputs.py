"""Engine inputs (the commands and results topics), as docs/events.md lists them. Every input
carries `sent_at_ms` (the producer's clock, informational only); the engine's time is the
`now_ms` the caller passes with the input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from linkflow.engine.events import Error

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


class EngineInput:
    __slots__ = ()
    INPUT_TYPE: ClassVar[str] = ""
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ()
    execution_id: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.INPUT_TYPE = cls.__name__

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input_type": self.INPUT_TYPE}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, Error):
                value = value.to_dict()
            elif isinstance(value, Mapping):
                value = dict(value)
            out[name] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class StartWorkflow(EngineInput):
    request_id: str
    execution_id: str
    workflow_id: str
    workflow_version: int | None = None  # None: the latest registered version
    input: Any = None
    idempotency_key: str | None = None
    parent_execution_id: str | None = None
    parent_node_id: str | None = None
    parent_scope: str | None = None
    search_attributes: Mapping[str, str] = field(default_factory=dict)
    workspace: str | None = None  # None: the default workspace
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalWorkflow(EngineInput):
    request_id: str
    execution_id: str
    signal_name: str
    payload: Any = None
    workspace: str | None = None  # the sender's; None: not checked
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelWorkflow(EngineInput):
    request_id: str
    execution_id: str
    reason: str = ""
    identity: str = ""
    workspace: str | None = None  # the sender's; None: not checked
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminateWorkflow(EngineInput):
    request_id: str
    execution_id: str
    reason: str = ""
    identity: str = ""
    workspace: str | None = None  # the sender's; None: not checked
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetWorkflow(EngineInput):
    """Start `execution_id` as a new run of `source_execution_id` from its event
    `reset_event_id`: `history` is the source's history (event dicts from event 1, at least
    through the end of the decision that wrote `reset_event_id`)."""

    request_id: str
    execution_id: str
    source_execution_id: str
    reset_event_id: int
    history: list[dict[str, Any]]
    reason: str = ""
    identity: str = ""
    workspace: str | None = None  # the sender's; None: not checked
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityCompleted(EngineInput):
    execution_id: str
    activity_id: str
    attempt: int
    result: Any = None
    identity: str = ""
    usage: Mapping[str, float] = field(default_factory=dict)  # what the handler reported
    duration_ms: int | None = None  # how long the handler ran
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityFailed(EngineInput):
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("error",)
    execution_id: str
    activity_id: str
    attempt: int
    error: Error
    identity: str = ""
    usage: Mapping[str, float] = field(default_factory=dict)
    duration_ms: int | None = None
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityHeartbeat(EngineInput):
    execution_id: str
    activity_id: str
    attempt: int
    details: Any = None
    identity: str = ""
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityStarted(EngineInput):
    execution_id: str
    activity_id: str
    attempt: int
    identity: str = ""
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired(EngineInput):
    execution_id: str
    timer_id: str
    fired_at_ms: int = 0
    sent_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildWorkflowOutcome(EngineInput):
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("error",)
    execution_id: str  # the parent
    child_execution_id: str
    completed: bool
    output: Any = None
    error: Error | None = None
    sent_at_ms: int = 0


Input = (
    StartWorkflow
    | SignalWorkflow
    | CancelWorkflow
    | TerminateWorkflow
    | ResetWorkflow
    | ActivityCompleted
    | ActivityFailed
    | ActivityHeartbeat
    | ActivityStarted
    | TimerFired
    | ChildWorkflowOutcome
)

INPUT_TYPES: Mapping[str, type[EngineInput]] = {
    cls.INPUT_TYPE: cls
    for cls in (
        StartWorkflow,
        SignalWorkflow,
        CancelWorkflow,
        TerminateWorkflow,
        ResetWorkflow,
        ActivityCompleted,
        ActivityFailed,
        ActivityHeartbeat,
        ActivityStarted,
        TimerFired,
        ChildWorkflowOutcome,
    )
}


def input_from_dict(data: Mapping[str, Any]) -> EngineInput:
    """The inverse of `to_dict` (which records the type under "input_type")."""
    cls = INPUT_TYPES[str(data["input_type"])]
    kwargs: dict[str, Any] = {}
    for name in _field_names(cls):
        if name in data:
            value = data[name]
            if name in cls.ERROR_FIELDS and value is not None:
                value = Error.from_dict(value)
            kwargs[name] = value
    return cls(**kwargs)
