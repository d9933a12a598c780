"""Replay: decide a recorded history again with the current engine and definitions, and find
the first event where the new decisions differ from the recorded ones (what Temporal's
replayer does before a deploy).

Every run of events in a history was decided from one input, and the first event of the run
records that input (a start, a signal, a result, a fired timer, ...). Replay rebuilds each
input from that event, decides it against the state replay has folded so far, at the
recorded time, and compares the events it gets with the recorded run. A heartbeat is the
one input without an event of its own: its run starts with the re-armed heartbeat timer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from linkflow.engine.context import DecisionContext
from linkflow.engine.engine import Engine
from linkflow.engine.events import (
    ACTIVITY_TIMEOUT,
    EXECUTION_RESET,
    HEARTBEAT,
    ActivityTaskCompleted,
    ActivityTaskFailed,
    ActivityTaskStarted,
    ChildWorkflowExecutionCompleted,
    ChildWorkflowExecutionFailed,
    HistoryEvent,
    MarkerRecorded,
    TimerCanceled,
    TimerStarted,
    WorkflowExecutionCancelRequested,
    WorkflowExecutionSignaled,
    WorkflowExecutionStarted,
    WorkflowExecutionTerminated,
)
from linkflow.engine.events import TimerFired as TimerFiredEvent
from linkflow.engine.inputs import (
    ActivityCompleted,
    ActivityFailed,
    ActivityHeartbeat,
    ActivityStarted,
    CancelWorkflow,
    ChildWorkflowOutcome,
    EngineInput,
    SignalWorkflow,
    StartWorkflow,
    TerminateWorkflow,
    TimerFired,
)
from linkflow.engine.reset import resume
from linkflow.engine.state import ExecutionState
from linkflow.model.catalog import PlanSource
from linkflow.model.limits import MAX_HISTORY_EVENTS


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first difference: the recorded event (None: replay decided more than was
    recorded) and the replayed one (None: replay decided less)."""

    event_id: int
    reason: str
    recorded: HistoryEvent | None = None
    replayed: HistoryEvent | None = None

    def describe(self) -> str:
        lines = [f"diverges at event {self.event_id}: {self.reason}"]
        if self.recorded is not None:
            lines.append(f"  recorded: {_show(self.recorded)}")
        if self.replayed is not None:
            lines.append(f"  replayed: {_show(self.replayed)}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    execution_id: str
    events: int  # recorded events replayed
    divergence: Divergence | None

    @property
    def ok(self) -> bool:
        return self.divergence is None


def replay(
    history: Sequence[HistoryEvent],
    plans: PlanSource,
    *,
    workflow_version: int | None = None,
    max_history_events: int = MAX_HISTORY_EVENTS,
) -> ReplayResult:
    """Replay `history` (one execution, event ids 1..n) against `plans`. With
    `workflow_version`, the execution is replayed as if it had been started on that version
    of its workflow (a shadow replay before a new version is rolled out)."""
    execution_id = history[0].execution_id if history else ""
    steps = replay_steps(
        history, plans, workflow_version=workflow_version, max_history_events=max_history_events
    )
    for step in steps:
        if step.divergence is not None:
            return ReplayResult(execution_id, step.position, step.divergence)
    return ReplayResult(execution_id, len(history), None)


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One recorded decision replayed: `position` events of the history are replayed so far
    and `state` is the state after them; or, with `divergence`, where replay stopped."""

    position: int
    state: ExecutionState | None
    divergence: Divergence | None = None


def replay_steps(
    history: Sequence[HistoryEvent],
    plans: PlanSource,
    *,
    workflow_version: int | None = None,
    max_history_events: int = MAX_HISTORY_EVENTS,
) -> Iterator[ReplayStep]:
    """Replay decision by decision, yielding after each one (the state is the live one, so a
    caller that keeps it must stop iterating); the last step of a divergent history carries
    the divergence."""
    engine = Engine(plans, max_history_events=max_history_events)
    state: ExecutionState | None = None
    owners = _owners(history)
    position = 0
    while position < len(history):
        head = _as_version(history[position], workflow_version, owners[position])
        if _is_reset(head) and state is not None:
            # A reset run's own decision, re-derived from its marker (engine.reset); the
            # events before it were decided as the source execution.
            state.execution_id = head.execution_id
            ctx = DecisionContext(state, head.timestamp_ms, engine.env, plans)
            resume(ctx, head.attributes.details)  # type: ignore[attr-defined]
            events = ctx.events
        else:
            inp = _input_of(head, state)
            if inp is None:
                why = f"{head.event_type} was not decided by the current code at this point"
                yield ReplayStep(position, state, Divergence(head.event_id, why, head))
                return
            decision = engine.decide(state, inp, head.timestamp_ms)
            state = decision.state
            if not decision.events:
                why = (
                    f"the {type(inp).__name__} recorded here changes nothing now "
                    f"({decision.ignored})"
                )
                yield ReplayStep(position, state, Divergence(head.event_id, why, head))
                return
            events = decision.events
        for offset, replayed in enumerate(events):
            index = position + offset
            if index >= len(history):
                why = "the current code decides more events than were recorded"
                yield ReplayStep(index, state, Divergence(replayed.event_id, why, None, replayed))
                return
            recorded = _as_version(history[index], workflow_version, owners[index])
            if recorded != replayed:
                why = (
                    "a different event"
                    if recorded.event_type != replayed.event_type
                    else "the same event type with other attributes"
                )
                yield ReplayStep(
                    index, state, Divergence(recorded.event_id, why, recorded, replayed)
                )
                return
        position += len(events)
        yield ReplayStep(position, state)


def _owners(history: Sequence[HistoryEvent]) -> list[str]:
    """The execution that decided each event: a reset run's copied events were decided by
    its source (ids of child executions and requests name the source), so they replay as
    the source's; a chain of resets has one source per marker."""
    owners = [""] * len(history)
    current = history[-1].execution_id if history else ""
    for index in range(len(history) - 1, -1, -1):
        owners[index] = current
        event = history[index]
        if _is_reset(event):
            current = str(event.attributes.details["source_execution_id"])  # type: ignore[attr-defined]
    return owners


def _is_reset(event: HistoryEvent) -> bool:
    a = event.attributes
    return isinstance(a, MarkerRecorded) and a.marker_name == EXECUTION_RESET


def _as_version(event: HistoryEvent, version: int | None, owner: str) -> HistoryEvent:
    if event.execution_id != owner:
        event = dataclasses.replace(event, execution_id=owner)
    attributes = event.attributes
    if version is None or not isinstance(attributes, WorkflowExecutionStarted):
        return event
    return dataclasses.replace(
        event, attributes=dataclasses.replace(attributes, workflow_version=version)
    )


def _input_of(event: HistoryEvent, state: ExecutionState | None) -> EngineInput | None:
    """The input whose decision begins with `event`, or None if no input does."""
    a = event.attributes
    eid = event.execution_id
    match a:
        case WorkflowExecutionStarted():
            return StartWorkflow(
                request_id=a.request_id,
                execution_id=eid,
                workflow_id=a.workflow_id,
                workflow_version=a.workflow_version,
                input=a.input,
                idempotency_key=a.idempotency_key,
                parent_execution_id=a.parent_execution_id,
                parent_node_id=a.parent_node_id,
                parent_scope=a.parent_scope,
                search_attributes=dict(a.search_attributes),
                workspace=a.workspace,
            )
        case WorkflowExecutionSignaled():
            return SignalWorkflow(
                request_id=a.request_id,
                execution_id=eid,
                signal_name=a.signal_name,
                payload=a.payload,
            )
        case WorkflowExecutionCancelRequested():
            return CancelWorkflow(
                request_id=a.request_id, execution_id=eid, reason=a.reason, identity=a.identity
            )
        case WorkflowExecutionTerminated():
            return TerminateWorkflow(
                request_id=a.request_id, execution_id=eid, reason=a.reason, identity=a.identity
            )
        case ActivityTaskStarted():
            return ActivityStarted(
                execution_id=eid, activity_id=a.activity_id, attempt=a.attempt, identity=a.identity
            )
        case ActivityTaskCompleted():
            return ActivityCompleted(
                execution_id=eid,
                activity_id=a.activity_id,
                attempt=a.attempt,
                result=a.result,
                identity=a.identity,
                usage=dict(a.usage),
                duration_ms=a.duration_ms,
            )
        case ActivityTaskFailed():
            return ActivityFailed(
                execution_id=eid,
                activity_id=a.activity_id,
                attempt=a.attempt,
                error=a.error,
                identity=a.identity,
                usage=dict(a.usage),
                duration_ms=a.duration_ms,
            )
        case TimerFiredEvent():
            return TimerFired(execution_id=eid, timer_id=a.timer_id, fired_at_ms=event.timestamp_ms)
        case ChildWorkflowExecutionCompleted():
            return ChildWorkflowOutcome(
                execution_id=eid,
                child_execution_id=a.child_execution_id,
                completed=True,
                output=a.output,
            )
        case ChildWorkflowExecutionFailed():
            return ChildWorkflowOutcome(
                execution_id=eid,
                child_execution_id=a.child_execution_id,
                completed=False,
                error=a.error,
            )
        case TimerCanceled() | TimerStarted():
            return _heartbeat(event, state)
    return None


def _heartbeat(event: HistoryEvent, state: ExecutionState | None) -> ActivityHeartbeat | None:
    """A heartbeat that re-armed its activity's heartbeat timer: the run it decided starts
    with that timer's cancel (or, for the first arming, its start)."""
    if state is None:
        return None
    a = event.attributes
    for run in state.activities.values():
        if not run.pending:
            continue
        if isinstance(a, TimerCanceled):
            found = run.timers.get(a.timer_id) == HEARTBEAT
        else:
            assert isinstance(a, TimerStarted)
            found = (
                a.purpose == ACTIVITY_TIMEOUT
                and a.timeout_type == HEARTBEAT
                and (a.node_id, a.scope, a.attempt) == (run.node_id, run.scope, run.attempt)
            )
        if found:
            return ActivityHeartbeat(
                execution_id=event.execution_id, activity_id=run.activity_id, attempt=run.attempt
            )
    return None


def _show(event: HistoryEvent) -> str:
    return f"{event.event_type} {event.attributes.to_dict()}"
