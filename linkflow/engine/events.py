"""History events: the envelope and one frozen attributes class per event type, with names and
fields exactly as docs/events.md lists them (the contract shared with the Avro schemas)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from linkflow.model.workspaces import DEFAULT_WORKSPACE

# Timer purposes (TimerStarted.purpose).
WAIT = "wait"
RETRY_BACKOFF = "retry_backoff"
ACTIVITY_TIMEOUT = "activity_timeout"
SIGNAL_TIMEOUT = "signal_timeout"
EXECUTION_TIMEOUT = "execution_timeout"

# Activity timeout kinds (ActivityTaskTimedOut.timeout_type, TimerStarted.timeout_type).
SCHEDULE_TO_START = "schedule_to_start"
START_TO_CLOSE = "start_to_close"
HEARTBEAT = "heartbeat"

# MarkerRecorded names the engine writes (see docs/events.md, engine additions).
LOOP_STARTED = "loop_started"
ITERATION_STARTED = "iteration_started"
SIGNAL_WAIT_STARTED = "signal_wait_started"
# After the NodeCompleted of a node that failed and went on (`on_error: continue`), so a
# reader of history (the visibility sink) can show it failed; the engine ignores it.
ERROR_CONTINUED = "error_continued"
# First event after the history a reset execution copied from its source (details: source
# execution, the event asked for, the last event kept, the shift applied to its timers).
EXECUTION_RESET = "execution_reset"


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    type: str
    message: str
    retryable: bool = True
    node_id: str | None = None
    details: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "retryable": self.retryable,
            "node_id": self.node_id,
            "details": self.details,
        }

    def with_details(self, **extra: Any) -> Error:
        """This error with `extra` added to its details (details that are not an object
        are kept under "details")."""
        details = dict(self.details) if isinstance(self.details, dict) else {}
        if self.details is not None and not isinstance(self.details, dict):
            details["details"] = self.details
        details.update(extra)
        return Error(
            type=self.type,
            message=self.message,
            retryable=self.retryable,
            node_id=self.node_id,
            details=details,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Error:
        return cls(
            type=str(data["type"]),
            message=str(data.get("message", "")),
            retryable=bool(data.get("retryable", True)),
            node_id=data.get("node_id"),
            details=data.get("details"),
        )


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_PLAIN = frozenset({str, int, float, bool, type(None), list})


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


class EventAttributes:
    """Base of the attributes classes; EVENT_TYPE is the name on the wire."""

    __slots__ = ()
    EVENT_TYPE: ClassVar[str] = ""
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ()
    TERMINAL: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.EVENT_TYPE = cls.__name__

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            kind = type(value)
            if kind in _PLAIN:  # most fields: no isinstance against the Mapping ABC (slow)
                pass
            elif kind is dict:
                value = dict(value)
            elif isinstance(value, Error):
                value = value.to_dict()
            elif isinstance(value, Mapping):
                value = dict(value)
            out[name] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionStarted(EventAttributes):
    workflow_id: str
    workflow_version: int
    input: Any
    request_id: str
    idempotency_key: str | None = None
    parent_execution_id: str | None = None
    parent_node_id: str | None = None
    parent_scope: str | None = None
    execution_timeout_ms: int | None = None
    search_attributes: Mapping[str, str] = field(default_factory=dict)
    workspace: str = DEFAULT_WORKSPACE


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionCompleted(EventAttributes):
    TERMINAL: ClassVar[bool] = True
    output: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionFailed(EventAttributes):
    TERMINAL: ClassVar[bool] = True
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("error",)
    error: Error


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionTimedOut(EventAttributes):
    TERMINAL: ClassVar[bool] = True
    timeout_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionCancelRequested(EventAttributes):
    request_id: str
    reason: str
    identity: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionCanceled(EventAttributes):
    TERMINAL: ClassVar[bool] = True
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionTerminated(EventAttributes):
    TERMINAL: ClassVar[bool] = True
    request_id: str
    reason: str
    identity: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionContinuedAsNew(EventAttributes):
    TERMINAL: ClassVar[bool] = True
    new_execution_id: str
    input: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionSignaled(EventAttributes):
    request_id: str
    signal_name: str
    payload: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeCompleted(EventAttributes):
    node_id: str
    scope: str
    output: Any
    handle: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSkipped(EventAttributes):
    node_id: str
    scope: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFailed(EventAttributes):
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("error",)
    node_id: str
    scope: str
    error: Error
    routed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskScheduled(EventAttributes):
    activity_id: str
    node_id: str
    scope: str
    node_type: str
    task_queue: str
    attempt: int
    input: Any
    schedule_to_start_ms: int | None = None
    start_to_close_ms: int | None = None
    heartbeat_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskStarted(EventAttributes):
    activity_id: str
    attempt: int
    identity: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskCompleted(EventAttributes):
    activity_id: str
    attempt: int
    result: Any
    identity: str = ""
    usage: Mapping[str, float] = field(default_factory=dict)
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskFailed(EventAttributes):
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("error",)
    activity_id: str
    attempt: int
    error: Error
    identity: str = ""
    usage: Mapping[str, float] = field(default_factory=dict)
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskTimedOut(EventAttributes):
    activity_id: str
    attempt: int
    timeout_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskCanceled(EventAttributes):
    activity_id: str
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerStarted(EventAttributes):
    timer_id: str
    fire_at_ms: int
    purpose: str
    node_id: str | None = None
    scope: str = ""
    # Engine additions: which activity timeout this is, and which attempt it concerns
    # (the attempt to start, for retry_backoff).
    timeout_type: str | None = None
    attempt: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired(EventAttributes):
    timer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerCanceled(EventAttributes):
    timer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildWorkflowExecutionStarted(EventAttributes):
    node_id: str
    scope: str
    child_execution_id: str
    workflow_id: str
    workflow_version: int
    input: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildWorkflowExecutionCompleted(EventAttributes):
    child_execution_id: str
    output: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildWorkflowExecutionFailed(EventAttributes):
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("error",)
    child_execution_id: str
    error: Error


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkerRecorded(EventAttributes):
    marker_name: str
    details: Any


# Why compensation began (CompensationStarted.cause).
COMPENSATE_FAILED = "failed"
COMPENSATE_CANCELED = "canceled"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompensationStarted(EventAttributes):
    """The execution failed or was cancelled after nodes with a compensation completed: their
    compensations run one at a time, in `nodes` order (the reverse of completion), then the
    execution closes with the terminal event `cause` names (`error` or `reason` kept for it)."""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("error",)
    cause: str
    nodes: Sequence[Mapping[str, str]]  # [{"node_id", "scope"}], in the order they run
    error: Error | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CompensationCompleted(EventAttributes):
    node_id: str  # the node undone
    scope: str
    compensation_node_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CompensationFailed(EventAttributes):
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("error",)
    node_id: str
    scope: str
    compensation_node_id: str
    error: Error


EVENT_TYPES: Mapping[str, type[EventAttributes]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        WorkflowExecutionStarted,
        WorkflowExecutionCompleted,
        WorkflowExecutionFailed,
        WorkflowExecutionTimedOut,
        WorkflowExecutionCancelRequested,
        WorkflowExecutionCanceled,
        WorkflowExecutionTerminated,
        WorkflowExecutionContinuedAsNew,
        WorkflowExecutionSignaled,
        NodeCompleted,
        NodeSkipped,
        NodeFailed,
        ActivityTaskScheduled,
        ActivityTaskStarted,
        ActivityTaskCompleted,
        ActivityTaskFailed,
        ActivityTaskTimedOut,
        ActivityTaskCanceled,
        TimerStarted,
        TimerFired,
        TimerCanceled,
        ChildWorkflowExecutionStarted,
        ChildWorkflowExecutionCompleted,
        ChildWorkflowExecutionFailed,
        MarkerRecorded,
        CompensationStarted,
        CompensationCompleted,
        CompensationFailed,
    )
}

TERMINAL_EVENT_TYPES = frozenset(name for name, cls in EVENT_TYPES.items() if cls.TERMINAL)


def attributes_from_dict(event_type: str, data: Mapping[str, Any]) -> EventAttributes:
    cls = EVENT_TYPES[event_type]
    kwargs: dict[str, Any] = {}
    names = _field_names(cls)
    for name in names:
        if name in data:
            value = data[name]
            if name in cls.ERROR_FIELDS and value is not None:
                value = Error.from_dict(value)
            kwargs[name] = value
    return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """The envelope: ids are consecutive per execution from 1; the timestamp is the `now` of
    the input that caused the event."""

    execution_id: str
    event_id: int
    timestamp_ms: int
    attributes: EventAttributes

    @property
    def event_type(self) -> str:
        return self.attributes.EVENT_TYPE

    @property
    def is_terminal(self) -> bool:
        return self.attributes.TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "event_id": self.event_id,
            "timestamp_ms": self.timestamp_ms,
            "event_type": self.attributes.EVENT_TYPE,
            "attributes": self.attributes.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEvent:
        return cls(
            execution_id=str(data["execution_id"]),
            event_id=int(data["event_id"]),
            timestamp_ms=int(data["timestamp_ms"]),
            attributes=attributes_from_dict(str(data["event_type"]), data["attributes"]),
        )
