"""Effects derive from events (outbox pattern): the processor publishes them after it has
written the events. `outstanding_effects` re-derives what may still be owed from a state, which
is always safe to send again after a crash (tasks and timers are keyed; children start
idempotently)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from linkflow.engine.events import (
    COMPENSATE_CANCELED,
    ActivityTaskCanceled,
    ActivityTaskScheduled,
    ActivityTaskTimedOut,
    ChildWorkflowExecutionStarted,
    CompensationStarted,
    HistoryEvent,
    TimerCanceled,
    TimerStarted,
    WorkflowExecutionCanceled,
    WorkflowExecutionCompleted,
    WorkflowExecutionFailed,
    WorkflowExecutionTerminated,
    WorkflowExecutionTimedOut,
)
from linkflow.engine.events import Error as ErrorRecord
from linkflow.engine.ids import child_request_id
from linkflow.engine.inputs import (
    CancelWorkflow,
    ChildWorkflowOutcome,
    StartWorkflow,
    TerminateWorkflow,
)
from linkflow.engine.state import ExecutionState
from linkflow.model.definition import DEFAULT_TASK_QUEUE


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTask:
    """A message for linkflow.tasks.<task_queue>."""

    task_queue: str
    execution_id: str
    activity_id: str
    attempt: int
    node_id: str
    node_type: str
    scope: str
    input: Any
    workflow_id: str
    workflow_version: int
    scheduled_at_ms: int
    start_to_close_ms: int | None
    heartbeat_ms: int | None
    workspace: str
    schedule_to_start_ms: int | None = None
    high_priority: bool = False  # goes to the queue's .high topic (not part of the message)

    def to_dict(self) -> dict[str, Any]:
        return {
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


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelActivityTask:
    """Tell the worker running it (if any) that the attempt is no longer wanted."""

    task_queue: str
    execution_id: str
    activity_id: str
    attempt: int
    reason: str = "canceled"  # or the timeout type of a timed-out attempt
    high_priority: bool = False  # on the topic the task went to


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleTimer:
    execution_id: str
    timer_id: str
    fire_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer:
    execution_id: str
    timer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartChildWorkflow:
    command: StartWorkflow


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelChildWorkflow:
    command: CancelWorkflow


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminateChildWorkflow:
    command: TerminateWorkflow


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyParent:
    outcome: ChildWorkflowOutcome


Effect = (
    ActivityTask
    | CancelActivityTask
    | ScheduleTimer
    | CancelTimer
    | StartChildWorkflow
    | CancelChildWorkflow
    | TerminateChildWorkflow
    | NotifyParent
)


def _task(state: ExecutionState, a: ActivityTaskScheduled, scheduled_at_ms: int) -> ActivityTask:
    node = state.plan.nodes.get(a.node_id)
    return ActivityTask(
        high_priority=node is not None and node.high_priority,
        task_queue=a.task_queue,
        execution_id=state.execution_id,
        activity_id=a.activity_id,
        attempt=a.attempt,
        node_id=a.node_id,
        node_type=a.node_type,
        scope=a.scope,
        input=a.input,
        workflow_id=state.workflow_id,
        workflow_version=state.workflow_version,
        scheduled_at_ms=scheduled_at_ms,
        start_to_close_ms=a.start_to_close_ms,
        heartbeat_ms=a.heartbeat_ms,
        workspace=state.workspace,
        schedule_to_start_ms=a.schedule_to_start_ms,
    )


def _child_start(state: ExecutionState, event_id: int, a: ChildWorkflowExecutionStarted) -> Effect:
    return StartChildWorkflow(
        command=StartWorkflow(
            request_id=child_request_id(state.execution_id, event_id),
            execution_id=a.child_execution_id,
            workflow_id=a.workflow_id,
            workflow_version=a.workflow_version,
            input=a.input,
            parent_execution_id=state.execution_id,
            parent_node_id=a.node_id,
            parent_scope=a.scope,
            workspace=state.workspace,
        )
    )


def _closing(state: ExecutionState, event: HistoryEvent) -> list[Effect]:
    a = event.attributes
    canceled = isinstance(a, WorkflowExecutionCanceled)
    out = _stop_children(state, canceled, f"parent {state.execution_id} closed ({a.EVENT_TYPE})")
    if state.parent_execution_id is not None:
        out.append(NotifyParent(outcome=outcome_for_parent(state, event)))
    return out


def _stop_children(state: ExecutionState, canceled: bool, reason: str) -> list[Effect]:
    """Cancel (or terminate) the running children. The request ids are the same whenever
    it is asked, so a second request (compensation began, then the execution closed) is a
    duplicate the child ignores."""
    out: list[Effect] = []
    for child in state.children.values():
        request_id = f"{state.execution_id}#close#{child.child_execution_id}"
        if canceled:
            out.append(
                CancelChildWorkflow(
                    command=CancelWorkflow(
                        request_id=request_id,
                        execution_id=child.child_execution_id,
                        reason=reason,
                        identity=state.execution_id,
                        workspace=state.workspace,
                    )
                )
            )
        else:
            out.append(
                TerminateChildWorkflow(
                    command=TerminateWorkflow(
                        request_id=request_id,
                        execution_id=child.child_execution_id,
                        reason=reason,
                        identity=state.execution_id,
                        workspace=state.workspace,
                    )
                )
            )
    return out


def outcome_for_parent(state: ExecutionState, terminal: HistoryEvent) -> ChildWorkflowOutcome:
    a = terminal.attributes
    assert state.parent_execution_id is not None
    if isinstance(a, WorkflowExecutionCompleted):
        return ChildWorkflowOutcome(
            execution_id=state.parent_execution_id,
            child_execution_id=state.execution_id,
            completed=True,
            output=a.output,
        )
    if isinstance(a, WorkflowExecutionFailed):
        error = a.error
    elif isinstance(a, WorkflowExecutionTimedOut):
        error = ErrorRecord(type="TimedOut", message=f"timed out after {a.timeout_ms} ms")
    elif isinstance(a, WorkflowExecutionCanceled):
        error = ErrorRecord(type="Canceled", message=a.reason or "canceled", retryable=False)
    elif isinstance(a, WorkflowExecutionTerminated):
        error = ErrorRecord(type="Terminated", message=a.reason or "terminated", retryable=False)
    else:
        error = ErrorRecord(type=a.EVENT_TYPE, message=a.EVENT_TYPE, retryable=False)
    return ChildWorkflowOutcome(
        execution_id=state.parent_execution_id,
        child_execution_id=state.execution_id,
        completed=False,
        error=error,
    )


def effects_of(state: ExecutionState, events: Iterable[HistoryEvent]) -> list[Effect]:
    """Effects of newly decided events (`state` is the state after them)."""
    out: list[Effect] = []
    execution_id = state.execution_id
    for event in events:
        a = event.attributes
        if isinstance(a, ActivityTaskScheduled):
            out.append(_task(state, a, event.timestamp_ms))
        elif isinstance(a, TimerStarted):
            out.append(
                ScheduleTimer(
                    execution_id=execution_id, timer_id=a.timer_id, fire_at_ms=a.fire_at_ms
                )
            )
        elif isinstance(a, TimerCanceled):
            out.append(CancelTimer(execution_id=execution_id, timer_id=a.timer_id))
        elif isinstance(a, ActivityTaskCanceled | ActivityTaskTimedOut):
            node_id = a.activity_id.split("@", 1)[0]
            node = state.plan.nodes.get(node_id)
            reason = a.timeout_type if isinstance(a, ActivityTaskTimedOut) else "canceled"
            out.append(
                CancelActivityTask(
                    task_queue=(node.task_queue if node else None) or DEFAULT_TASK_QUEUE,
                    execution_id=execution_id,
                    activity_id=a.activity_id,
                    attempt=a.attempt,
                    reason=reason,
                    high_priority=node is not None and node.high_priority,
                )
            )
        elif isinstance(a, ChildWorkflowExecutionStarted):
            out.append(_child_start(state, event.event_id, a))
        elif isinstance(a, CompensationStarted):
            reason = f"parent {state.execution_id} is compensating ({a.cause})"
            out.extend(_stop_children(state, a.cause == COMPENSATE_CANCELED, reason))
        elif a.TERMINAL:
            out.extend(_closing(state, event))
    return out


def outstanding_effects(
    state: ExecutionState, history_tail: HistoryEvent | None = None
) -> list[Effect]:
    """What an open execution may still owe the outside world: its pending tasks, timers and
    child starts. For a closed child, pass its terminal event to re-derive the parent notice."""
    out: list[Effect] = []
    if state.is_open:
        for run in state.activities.values():
            if not run.pending:
                continue
            node = state.plan.nodes[run.node_id]
            timeouts = node.timeouts
            out.append(
                ActivityTask(
                    task_queue=node.task_queue or DEFAULT_TASK_QUEUE,
                    execution_id=state.execution_id,
                    activity_id=run.activity_id,
                    attempt=run.attempt,
                    node_id=run.node_id,
                    node_type=node.type,
                    scope=run.scope,
                    input=run.input,
                    workflow_id=state.workflow_id,
                    workflow_version=state.workflow_version,
                    scheduled_at_ms=run.scheduled_at_ms,
                    start_to_close_ms=timeouts.start_to_close_ms,
                    heartbeat_ms=timeouts.heartbeat_ms,
                    workspace=state.workspace,
                    schedule_to_start_ms=timeouts.schedule_to_start_ms,
                    high_priority=node.high_priority,
                )
            )
        for timer in state.timers.values():
            out.append(
                ScheduleTimer(
                    execution_id=state.execution_id,
                    timer_id=timer.timer_id,
                    fire_at_ms=timer.fire_at_ms,
                )
            )
    elif history_tail is not None and history_tail.is_terminal:
        out.extend(_closing(state, history_tail))
    return out
