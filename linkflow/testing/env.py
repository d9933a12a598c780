"""An in-memory runner for the pure engine: activity handlers are plain functions, time is a
controllable clock, timers fire when the clock passes them. A workflow with timers, retries
and signals is tested in milliseconds, without Kafka.

    env = WorkflowTestEnv([definition], handlers={"http": fetch})
    run = env.start("order", {"id": 7})
    env.advance(seconds=5)          # fires due timers (waits, backoffs, timeouts)
    run.signal("approval", {"approved": True})
    assert run.result() == {...}    # skips time to the next timer until the run closes

Everything happens synchronously and in a deterministic order: an input's effects (tasks,
child starts, notices to parents) are processed before the next queued input.
"""

from __future__ import annotations

import copy
import heapq
import inspect
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from linkflow.engine import (
    ActivityCompleted,
    ActivityFailed,
    ActivityHeartbeat,
    ActivityStarted,
    ActivityTask,
    CancelActivityTask,
    CancelChildWorkflow,
    CancelTimer,
    CancelWorkflow,
    Effect,
    Engine,
    EngineInput,
    Error,
    ExecutionState,
    FireTimer,
    HistoryEvent,
    NotifyParent,
    ResetWorkflow,
    ScheduleTimer,
    SignalWorkflow,
    StartChildWorkflow,
    StartWorkflow,
    TerminateChildWorkflow,
    TerminateWorkflow,
    fold,
)
from linkflow.model import Catalog, NodeTypeRegistry, WorkflowDefinition
from linkflow.testing.activities import NO_REPLY, ActivityContext, ActivityError, Delayed
from linkflow.worker.registry import installed_node_types

Handler = Callable[..., Any]
DEFAULT_START_MS = 1_700_000_000_000


class WorkflowFailedError(Exception):
    """`result()` of a run that did not complete: failed, timed out, canceled, terminated."""

    def __init__(self, status: str, error: Error | None, execution_id: str) -> None:
        detail = f": {error.type}: {error.message}" if error else ""
        super().__init__(f"execution {execution_id} {status}{detail}")
        self.status = status
        self.error = error
        self.execution_id = execution_id


class WorkflowStalled(Exception):
    """The run is open but nothing is due: it waits for a signal or a held activity."""


@dataclass
class _Due:
    due_ms: int
    seq: int
    item: EngineInput

    def __lt__(self, other: _Due) -> bool:
        return (self.due_ms, self.seq) < (other.due_ms, other.seq)


class WorkflowRun:
    """A handle on one execution in a WorkflowTestEnv."""

    def __init__(self, env: WorkflowTestEnv, execution_id: str) -> None:
        self.env = env
        self.execution_id = execution_id

    def __repr__(self) -> str:
        return f"WorkflowRun({self.execution_id!r}, status={self.status!r})"

    @property
    def state(self) -> ExecutionState:
        return self.env.state(self.execution_id)

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def history(self) -> list[HistoryEvent]:
        return self.env.history(self.execution_id)

    @property
    def is_closed(self) -> bool:
        return self.state.is_closed

    def event_types(self) -> list[str]:
        return [event.event_type for event in self.history]

    def events(self, event_type: str) -> list[HistoryEvent]:
        return [event for event in self.history if event.event_type == event_type]

    def node_output(self, node_id: str, scope: str = "") -> Any:
        for event in reversed(self.history):
            a = event.attributes
            if (
                event.event_type == "NodeCompleted"
                and getattr(a, "node_id", None) == node_id
                and getattr(a, "scope", None) == scope
            ):
                return getattr(a, "output", None)
        raise KeyError(f"node {node_id!r} (scope {scope!r}) did not complete")

    def result(self, *, skip_time: bool = True, limit_ms: int | None = None) -> Any:
        """The output. With `skip_time`, first advance the clock to each next timer until the
        run closes (raises WorkflowStalled when it waits for something time cannot bring)."""
        if skip_time:
            self.env.run_until_closed(self, limit_ms=limit_ms)
        state = self.state
        if state.status == "completed":
            return state.output
        if state.is_open:
            raise WorkflowStalled(f"execution {self.execution_id} is still running")
        return self._raise(state)

    def _raise(self, state: ExecutionState) -> Any:
        raise WorkflowFailedError(state.status, state.error, self.execution_id)

    def signal(self, name: str, payload: Any = None, *, request_id: str | None = None) -> None:
        self.env.signal(self.execution_id, name, payload, request_id=request_id)

    def cancel(self, reason: str = "", *, request_id: str | None = None) -> None:
        self.env.cancel(self.execution_id, reason, request_id=request_id)

    def terminate(self, reason: str = "", *, request_id: str | None = None) -> None:
        self.env.terminate(self.execution_id, reason, request_id=request_id)

    def replayed_state(self) -> ExecutionState:
        """The state rebuilt from this run's history by the appliers alone."""
        return self.env.replay(self.execution_id)


class WorkflowTestEnv:
    def __init__(
        self,
        definitions: Iterable[WorkflowDefinition | Mapping[str, Any] | str] | Catalog = (),
        handlers: Mapping[str, Handler] | None = None,
        *,
        start_ms: int = DEFAULT_START_MS,
        env: Mapping[str, str] | None = None,
        registry: NodeTypeRegistry | None = None,
        report_started: bool = False,
    ) -> None:
        if isinstance(definitions, Catalog):
            self.catalog = definitions
        else:
            # The installed node types: the engine's and every activity handler's
            # declaration, as the API and the processors use.
            self.catalog = Catalog(definitions, registry=registry or installed_node_types())
        self.engine = Engine(self.catalog, env=env)
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.report_started = report_started
        self._now = start_ms
        self._states: dict[str, ExecutionState] = {}
        self._histories: dict[str, list[HistoryEvent]] = {}
        self._queue: deque[EngineInput | ActivityTask] = deque()
        self._agenda: list[_Due] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._arity: dict[int, int] = {}
        #: tasks whose handler returned NO_REPLY, by (execution id, activity id)
        self.held_tasks: dict[tuple[str, str], ActivityTask] = {}
        #: every input delivered to the engine, in order, with its time
        self.delivered: list[tuple[int, EngineInput]] = []
        #: every activity task sent, in order
        self.tasks: list[ActivityTask] = []

    # Clock ---------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return self._now

    def advance(self, seconds: float = 0, *, ms: int = 0) -> None:
        """Move the clock forward, firing every timer (and delayed result) that falls due, each
        at its own time, in order."""
        self.advance_to(self._now + int(seconds * 1000) + ms)

    def advance_to(self, target_ms: int) -> None:
        if target_ms < self._now:
            raise ValueError("the clock does not go back")
        self._drain()
        while self._agenda and self._agenda[0].due_ms <= target_ms:
            due = heapq.heappop(self._agenda)
            self._now = max(self._now, due.due_ms)
            self._queue.append(due.item)
            self._drain()
        self._now = target_ms

    def next_due_ms(self) -> int | None:
        return self._agenda[0].due_ms if self._agenda else None

    def skip_to_next_due(self) -> bool:
        """Advance to the next timer or delayed result; False when nothing is due."""
        due = self.next_due_ms()
        if due is None:
            return False
        self.advance_to(max(due, self._now))
        return True

    def run_until_closed(self, run: WorkflowRun | str, *, limit_ms: int | None = None) -> None:
        execution_id = run.execution_id if isinstance(run, WorkflowRun) else run
        deadline = None if limit_ms is None else self._now + limit_ms
        self._drain()
        while self.state(execution_id).is_open:
            due = self.next_due_ms()
            if due is None or (deadline is not None and due > deadline):
                state = self.state(execution_id)
                raise WorkflowStalled(
                    f"execution {execution_id} is waiting: signals {sorted(state.signal_waiters)},"
                    f" activities {sorted(a for a, r in state.activities.items() if r.pending)},"
                    f" children {sorted(state.children)}"
                )
            self.skip_to_next_due()

    # Commands ------------------------------------------------------------------------------

    def register(self, definition: WorkflowDefinition | Mapping[str, Any] | str) -> None:
        self.catalog.register(definition)

    def start(
        self,
        workflow_id: str,
        input: Any = None,
        *,
        execution_id: str | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
        search_attributes: Mapping[str, str] | None = None,
    ) -> WorkflowRun:
        execution_id = execution_id or f"{workflow_id}-{next(self._ids)}"
        self.send(
            StartWorkflow(
                request_id=request_id or self._request_id(),
                execution_id=execution_id,
                workflow_id=workflow_id,
                workflow_version=version,
                input=input,
                idempotency_key=idempotency_key,
                search_attributes=dict(search_attributes or {}),
            )
        )
        return WorkflowRun(self, execution_id)

    def run(self, execution_id: str) -> WorkflowRun:
        self.state(execution_id)
        return WorkflowRun(self, execution_id)

    def signal(
        self, execution_id: str, name: str, payload: Any = None, *, request_id: str | None = None
    ) -> None:
        self.send(
            SignalWorkflow(
                request_id=request_id or self._request_id(),
                execution_id=execution_id,
                signal_name=name,
                payload=payload,
            )
        )

    def cancel(self, execution_id: str, reason: str = "", *, request_id: str | None = None) -> None:
        self.send(
            CancelWorkflow(
                request_id=request_id or self._request_id(),
                execution_id=execution_id,
                reason=reason,
                identity="test",
            )
        )

    def terminate(
        self, execution_id: str, reason: str = "", *, request_id: str | None = None
    ) -> None:
        self.send(
            TerminateWorkflow(
                request_id=request_id or self._request_id(),
                execution_id=execution_id,
                reason=reason,
                identity="test",
            )
        )

    def reset(
        self,
        execution_id: str,
        event_id: int,
        *,
        new_execution_id: str | None = None,
        reason: str = "",
        request_id: str | None = None,
    ) -> WorkflowRun:
        """A new run of `execution_id` from its event `event_id` (docs/workflows.md,
        `linkflow reset`); the source keeps running unless the test stops it."""
        new_execution_id = new_execution_id or f"{execution_id}-reset-{next(self._ids)}"
        self.send(
            ResetWorkflow(
                request_id=request_id or self._request_id(),
                execution_id=new_execution_id,
                source_execution_id=execution_id,
                reset_event_id=event_id,
                history=[e.to_dict() for e in self.history(execution_id)],
                reason=reason,
                identity="test",
            )
        )
        return WorkflowRun(self, new_execution_id)

    def send(self, inp: EngineInput) -> None:
        """Deliver any input now (duplicates, late results...) and process what follows."""
        self._queue.append(inp)
        self._drain()

    def complete_activity(self, execution_id: str, activity_id: str, result: Any = None) -> None:
        task = self.held_tasks.pop((execution_id, activity_id))
        self.send(
            ActivityCompleted(
                execution_id=execution_id,
                activity_id=activity_id,
                attempt=task.attempt,
                result=result,
            )
        )

    def fail_activity(self, execution_id: str, activity_id: str, error: Error) -> None:
        task = self.held_tasks.pop((execution_id, activity_id))
        self.send(
            ActivityFailed(
                execution_id=execution_id,
                activity_id=activity_id,
                attempt=task.attempt,
                error=error,
            )
        )

    # Inspection ----------------------------------------------------------------------------

    def state(self, execution_id: str) -> ExecutionState:
        try:
            return self._states[execution_id]
        except KeyError:
            raise KeyError(f"no execution {execution_id!r}") from None

    def history(self, execution_id: str) -> list[HistoryEvent]:
        return list(self._histories.get(execution_id, ()))

    def executions(self) -> list[str]:
        return list(self._states)

    def replay(self, execution_id: str) -> ExecutionState:
        state = fold(self._histories[execution_id], self.catalog)
        assert state is not None
        return state

    def assert_replays(self, execution_id: str) -> None:
        """Folding the history through the appliers gives exactly the live state."""
        live = json.dumps(self.state(execution_id).to_dict())
        replayed = json.dumps(self.replay(execution_id).to_dict())
        if live != replayed:
            raise AssertionError(f"replay of {execution_id} differs from the live state")

    # Machinery -----------------------------------------------------------------------------

    def _request_id(self) -> str:
        return f"req-{next(self._ids)}"

    def _drain(self) -> None:
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, ActivityTask):
                self._run_task(item)
            else:
                self._decide(item)

    def _decide(self, inp: EngineInput) -> None:
        self.delivered.append((self._now, inp))
        decision = self.engine.decide(self._states.get(inp.execution_id), inp, self._now)
        if decision.state is None:
            return
        self._states[inp.execution_id] = decision.state
        if decision.events:
            self._histories.setdefault(inp.execution_id, []).extend(decision.events)
        for effect in decision.effects:
            self._effect(effect)

    def _effect(self, effect: Effect) -> None:
        if isinstance(effect, ActivityTask):
            self.tasks.append(effect)
            self._queue.append(effect)
        elif isinstance(effect, ScheduleTimer):
            self._at(
                effect.fire_at_ms,
                FireTimer(
                    execution_id=effect.execution_id,
                    timer_id=effect.timer_id,
                    fired_at_ms=effect.fire_at_ms,
                ),
            )
        elif isinstance(effect, CancelTimer):
            self._agenda = [
                due
                for due in self._agenda
                if not (
                    isinstance(due.item, FireTimer)
                    and due.item.execution_id == effect.execution_id
                    and due.item.timer_id == effect.timer_id
                )
            ]
            heapq.heapify(self._agenda)
        elif isinstance(effect, CancelActivityTask):
            self.held_tasks.pop((effect.execution_id, effect.activity_id), None)
        elif isinstance(effect, StartChildWorkflow | CancelChildWorkflow | TerminateChildWorkflow):
            self._queue.append(effect.command)
        elif isinstance(effect, NotifyParent):
            self._queue.append(effect.outcome)

    def _at(self, due_ms: int, item: EngineInput) -> None:
        heapq.heappush(self._agenda, _Due(due_ms, next(self._seq), item))

    def _call(self, handler: Handler, task: ActivityTask) -> Any:
        arity = self._arity.get(id(handler))
        if arity is None:
            try:
                params = inspect.signature(handler).parameters.values()
                arity = sum(
                    1
                    for p in params
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and p.default is p.empty
                )
            except (TypeError, ValueError):
                arity = 1
            self._arity[id(handler)] = arity
        # A copy: a handler that changes its input must not change the recorded history.
        payload = copy.deepcopy(task.input)
        if arity >= 2:
            return handler(payload, ActivityContext(task, self._now))
        return handler(payload)

    def _run_task(self, task: ActivityTask) -> None:
        handler = self.handlers.get(task.node_type)
        if handler is None:
            raise LookupError(
                f"no test handler for node type {task.node_type!r} (node {task.node_id!r});"
                " pass handlers={...} to WorkflowTestEnv"
            )
        if self.report_started:
            self._decide(self._started(task))
        try:
            outcome = self._call(handler, task)
        except Exception as exc:  # the handler's failure is the activity's failure
            self._queue.append(self._failed(task, exc))
            return
        if outcome is NO_REPLY:
            self.held_tasks[(task.execution_id, task.activity_id)] = task
            return
        if isinstance(outcome, Delayed):
            if outcome.heartbeat_every_ms:
                for at in range(outcome.heartbeat_every_ms, outcome.ms, outcome.heartbeat_every_ms):
                    self._at(
                        self._now + at,
                        ActivityHeartbeat(
                            execution_id=task.execution_id,
                            activity_id=task.activity_id,
                            attempt=task.attempt,
                        ),
                    )
            final = (
                self._failed(task, outcome.error)
                if outcome.error is not None
                else self._completed(task, outcome.result)
            )
            self._at(self._now + outcome.ms, final)
            return
        self._queue.append(self._completed(task, outcome))

    @staticmethod
    def _started(task: ActivityTask) -> ActivityStarted:
        return ActivityStarted(
            execution_id=task.execution_id,
            activity_id=task.activity_id,
            attempt=task.attempt,
            identity="test-worker",
        )

    @staticmethod
    def _completed(task: ActivityTask, result: Any) -> ActivityCompleted:
        return ActivityCompleted(
            execution_id=task.execution_id,
            activity_id=task.activity_id,
            attempt=task.attempt,
            result=result,
            identity="test-worker",
        )

    @staticmethod
    def _failed(task: ActivityTask, exc: Exception) -> ActivityFailed:
        if isinstance(exc, ActivityError):
            error = Error(
                type=exc.type, message=exc.message, retryable=exc.retryable, details=exc.details
            )
        else:
            error = Error(type=type(exc).__name__, message=str(exc))
        return ActivityFailed(
            execution_id=task.execution_id,
            activity_id=task.activity_id,
            attempt=task.attempt,
            error=error,
            identity="test-worker",
        )


__all__ = [
    "NO_REPLY",
    "ActivityContext",
    "ActivityError",
    "Delayed",
    "WorkflowFailedError",
    "WorkflowRun",
    "WorkflowStalled",
    "WorkflowTestEnv",
]
