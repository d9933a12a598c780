"""Tasks in, results out: the worker's view of the `tasks` and `results` message families."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linkflow.codec import EncodeError, Message, encode_result
from linkflow.model.workspaces import DEFAULT_WORKSPACE
from linkflow.transport import MAX_PAYLOAD_BYTES
from linkflow.worker.errors import (
    PAYLOAD_TOO_LARGE,
    RESULT_NOT_SERIALIZABLE,
    RESULT_REJECTED,
    ErrorInfo,
)


@dataclass(frozen=True, slots=True)
class ActivityTask:
    """One attempt of an activity, as decoded from linkflow.tasks.<queue>."""

    execution_id: str
    activity_id: str
    attempt: int
    node_id: str
    node_type: str
    input: Any
    scope: str = ""
    workflow_id: str = ""
    workflow_version: int = 0
    scheduled_at_ms: int = 0
    start_to_close_ms: int | None = None
    heartbeat_ms: int | None = None
    workspace: str = DEFAULT_WORKSPACE
    schedule_to_start_ms: int | None = None

    @property
    def reports_start_at_once(self) -> bool:
        """Whether the engine needs ActivityStarted as soon as the attempt starts: it ends a
        schedule-to-start limit and begins a heartbeat one."""
        return self.schedule_to_start_ms is not None or self.heartbeat_ms is not None

    @classmethod
    def from_message(cls, m: Message) -> ActivityTask:
        """From the decoded (flat) task message."""
        return cls(
            execution_id=m["execution_id"],
            activity_id=m["activity_id"],
            attempt=m["attempt"],
            node_id=m["node_id"],
            node_type=m["node_type"],
            input=m["input"],
            scope=m.get("scope", ""),
            workflow_id=m["workflow_id"],
            workflow_version=m["workflow_version"],
            scheduled_at_ms=m["scheduled_at_ms"],
            start_to_close_ms=m.get("start_to_close_ms"),
            heartbeat_ms=m.get("heartbeat_ms"),
            workspace=m.get("workspace") or DEFAULT_WORKSPACE,
            schedule_to_start_ms=m.get("schedule_to_start_ms"),
        )

    def to_message(self) -> Message:
        """The task message (what the history processor produces; tests and tools use it)."""
        return {
            "task_type": "ActivityTask",
            "execution_id": self.execution_id,
            "activity_id": self.activity_id,
            "attempt": self.attempt,
            "node_id": self.node_id,
            "node_type": self.node_type,
            "scope": self.scope,
            "input": self.input,
            "workflow_id": self.workflow_id,
            "workflow_version": self.workflow_version,
            "scheduled_at_ms": self.scheduled_at_ms,
            "start_to_close_ms": self.start_to_close_ms,
            "heartbeat_ms": self.heartbeat_ms,
            "workspace": self.workspace,
            "schedule_to_start_ms": self.schedule_to_start_ms,
        }

    @property
    def key(self) -> bytes:
        """Results are keyed by execution id, which keeps them with the execution's history."""
        return self.execution_id.encode()


def _result(task: ActivityTask, input_type: str, sent_at_ms: int, **attrs: Any) -> Message:
    return {
        "input_type": input_type,
        "execution_id": task.execution_id,
        "sent_at_ms": sent_at_ms,
        "activity_id": task.activity_id,
        "attempt": task.attempt,
        **attrs,
    }


def started(task: ActivityTask, identity: str, now_ms: int) -> bytes:
    return encode_result(_result(task, "ActivityStarted", now_ms, identity=identity))


def heartbeat(task: ActivityTask, details: Any, identity: str, now_ms: int) -> bytes:
    try:
        return encode_result(
            _result(task, "ActivityHeartbeat", now_ms, details=details, identity=identity)
        )
    except EncodeError:
        # Progress details are a courtesy; the heartbeat itself (liveness) must still go out.
        return encode_result(
            _result(task, "ActivityHeartbeat", now_ms, details=None, identity=identity)
        )


@dataclass(frozen=True, slots=True)
class Measured:
    """What an attempt used: the handler's usage and how long it ran."""

    usage: dict[str, float]
    duration_ms: int | None = None

    def fields(self) -> dict[str, Any]:
        return {"usage": self.usage, "duration_ms": self.duration_ms}


NOT_MEASURED = Measured({})


def completed(
    task: ActivityTask, result: Any, identity: str, now_ms: int, measured: Measured = NOT_MEASURED
) -> bytes:
    """ActivityCompleted; raises EncodeError when `result` is not JSON-serialisable."""
    return encode_result(
        _result(
            task, "ActivityCompleted", now_ms, result=result, identity=identity, **measured.fields()
        )
    )


def failed(
    task: ActivityTask,
    error: ErrorInfo,
    identity: str,
    now_ms: int,
    measured: Measured = NOT_MEASURED,
) -> bytes:
    try:
        return encode_result(
            _result(
                task,
                "ActivityFailed",
                now_ms,
                error=error.record(task.node_id),
                identity=identity,
                **measured.fields(),
            )
        )
    except EncodeError:
        # Details a handler attached that are not JSON must not turn a failure into a crash.
        safe = ErrorInfo(error.type, error.message, error.retryable, {"repr": repr(error.details)})
        return encode_result(
            _result(
                task,
                "ActivityFailed",
                now_ms,
                error=safe.record(task.node_id),
                identity=identity,
                **measured.fields(),
            )
        )


def not_serializable(result: Any, exc: Exception) -> ErrorInfo:
    # Deterministic: the same handler on the same input returns the same unencodable value.
    return ErrorInfo(
        RESULT_NOT_SERIALIZABLE,
        f"the activity's result is not JSON-serialisable: {exc}",
        False,
        {"result_type": type(result).__name__},
    )


def too_large(size: int) -> ErrorInfo:
    # Not retryable: the same handler on the same input returns as much again.
    return ErrorInfo(
        PAYLOAD_TOO_LARGE,
        f"the activity's result is {size} bytes as JSON; the largest payload LinkFlow "
        f"accepts is {MAX_PAYLOAD_BYTES} bytes (return a reference to large data)",
        False,
        {"result_bytes": size, "limit": MAX_PAYLOAD_BYTES},
    )


def rejected(size: int, exc: Exception) -> ErrorInfo:
    return ErrorInfo(
        RESULT_REJECTED,
        f"Kafka refused the activity's result ({size} bytes encoded): {exc}",
        False,
        {"encoded_bytes": size},
    )
