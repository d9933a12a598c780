"""Execution state: what the deciders read. Only appliers change it.

Appliers mutate one ExecutionState in place (no copy per event: with many events per second a
copy of the whole state per event would dominate the cost). Replaying a history through the
appliers rebuilds an equal state; `to_dict()` is the canonical form used to compare states and
to persist them (`from_dict` restores one). A caller that needs the state as it was before a
decision must snapshot it first (`to_dict()`), because `Engine.decide` updates it in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from linkflow.engine.events import Error
from linkflow.model.catalog import PlanSource
from linkflow.model.plan import ExecutionPlan
from linkflow.model.workspaces import DEFAULT_WORKSPACE

# Execution status.
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
TIMED_OUT = "timed_out"
CANCELED = "canceled"
TERMINATED = "terminated"
CONTINUED_AS_NEW = "continued_as_new"

# Node status inside a scope.
N_READY = "ready"
N_RUNNING = "running"  # an activity or child workflow is out
N_WAITING = "waiting"  # a timer or a signal
N_LOOPING = "looping"  # a loop node with iterations
N_COMPLETED = "completed"
N_SKIPPED = "skipped"
N_FAILED = "failed"

NodeKey = tuple[str, str]  # (scope, node_id)


@dataclass(slots=True)
class LoopState:
    node_id: str
    kind: str
    items: list[Any] | None
    concurrency: int  # 0: unlimited
    max_iterations: int | None
    next_index: int = 0
    running: dict[int, str] = field(default_factory=dict)  # index -> iteration scope
    results: dict[int, Any] = field(default_factory=dict)
    last_outputs: dict[str, Any] | None = None

    def more(self) -> bool:
        return self.items is not None and self.next_index < len(self.items)

    def needs_decision(self) -> bool:
        """True when the engine has something to decide about this loop: start another
        iteration, evaluate a while condition, or complete."""
        if not self.running:
            return True
        return self.more() and (self.concurrency == 0 or len(self.running) < self.concurrency)


@dataclass(slots=True)
class ScopeState:
    """One scope: the top level ("") or one iteration of a loop ("loop1[3]")."""

    key: str
    parent: str | None = None
    loop_node: str | None = None
    index: int = 0
    item: Any = None
    unresolved: int = 0
    status: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    arrived: dict[str, list[int]] = field(default_factory=dict)  # node -> [resolved, taken]
    taken_from: dict[str, list[str]] = field(default_factory=dict)  # merge: sources taken
    leaves: list[str] = field(default_factory=list)  # completed nodes that took no edge
    loops: dict[str, LoopState] = field(default_factory=dict)


@dataclass(slots=True)
class ActivityRun:
    """An activity node instance, across its attempts."""

    activity_id: str
    node_id: str
    scope: str
    attempt: int
    input: Any
    pending: bool = True  # the current attempt awaits a result
    started: bool = False
    scheduled_at_ms: int = 0
    timers: dict[str, str] = field(default_factory=dict)  # timeout timer id -> timeout type
    retry_timer: str | None = None


@dataclass(slots=True)
class TimerInfo:
    timer_id: str
    fire_at_ms: int
    purpose: str
    node_id: str | None
    scope: str
    started_at_ms: int
    timeout_type: str | None = None
    attempt: int | None = None


@dataclass(slots=True)
class ChildInfo:
    child_execution_id: str
    node_id: str
    scope: str
    workflow_id: str
    workflow_version: int


@dataclass(slots=True)
class WaitInfo:
    """A wait or signal-wait node instance that is waiting."""

    node_id: str
    scope: str
    signal_name: str | None = None
    timer_id: str | None = None


@dataclass(slots=True, eq=False)
class ExecutionState:
    execution_id: str
    plans: PlanSource | None = field(default=None, repr=False)
    plan: ExecutionPlan = field(default_factory=lambda: ExecutionPlan.empty("", 0), repr=False)
    status: str = "new"
    workflow_id: str = ""
    workflow_version: int = 0
    input: Any = None
    request_id: str = ""
    idempotency_key: str | None = None
    parent_execution_id: str | None = None
    parent_node_id: str | None = None
    parent_scope: str | None = None
    search_attributes: dict[str, str] = field(default_factory=dict)
    workspace: str = DEFAULT_WORKSPACE
    execution_timeout_ms: int | None = None
    started_at_ms: int = 0
    closed_at_ms: int | None = None
    last_event_id: int = 0
    cancel_requested: bool = False
    request_ids: set[str] = field(default_factory=set)
    vars: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: Error | None = None
    scopes: dict[str, ScopeState] = field(default_factory=dict)
    ready: dict[NodeKey, None] = field(default_factory=dict)
    attention: dict[NodeKey, None] = field(default_factory=dict)  # loops to decide about
    activities: dict[str, ActivityRun] = field(default_factory=dict)
    timers: dict[str, TimerInfo] = field(default_factory=dict)
    children: dict[str, ChildInfo] = field(default_factory=dict)
    waits: dict[NodeKey, WaitInfo] = field(default_factory=dict)
    signal_waiters: dict[str, list[NodeKey]] = field(default_factory=dict)
    signal_buffer: dict[str, list[Any]] = field(default_factory=dict)
    execution_timer_id: str | None = None
    # Completed nodes that name a compensation, [node_id, scope] in completion order.
    compensable: list[list[str]] = field(default_factory=list)
    # While compensating (engine.compensation): cause, error, reason, pending (the head is in
    # progress), done, failed. None otherwise.
    compensation: dict[str, Any] | None = None

    @property
    def is_open(self) -> bool:
        return self.status == RUNNING

    @property
    def is_closed(self) -> bool:
        return self.status not in (RUNNING, "new")

    def node_status(self, node_id: str, scope: str = "") -> str | None:
        scope_state = self.scopes.get(scope)
        return None if scope_state is None else scope_state.status.get(node_id)

    def node_output(self, node_id: str, scope: str = "") -> Any:
        scope_state = self.scopes.get(scope)
        return None if scope_state is None else scope_state.outputs.get(node_id)

    # Canonical form -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "workflow_id": self.workflow_id,
            "workflow_version": self.workflow_version,
            "input": self.input,
            "request_id": self.request_id,
            "idempotency_key": self.idempotency_key,
            "parent_execution_id": self.parent_execution_id,
            "parent_node_id": self.parent_node_id,
            "parent_scope": self.parent_scope,
            "search_attributes": dict(self.search_attributes),
            "workspace": self.workspace,
            "execution_timeout_ms": self.execution_timeout_ms,
            "started_at_ms": self.started_at_ms,
            "closed_at_ms": self.closed_at_ms,
            "last_event_id": self.last_event_id,
            "cancel_requested": self.cancel_requested,
            "request_ids": sorted(self.request_ids),
            "vars": self.vars,
            "output": self.output,
            "error": None if self.error is None else self.error.to_dict(),
            "scopes": {key: _dump(scope) for key, scope in self.scopes.items()},
            "ready": [list(key) for key in self.ready],
            "attention": [list(key) for key in self.attention],
            "activities": {key: _dump(run) for key, run in self.activities.items()},
            "timers": {key: _dump(timer) for key, timer in self.timers.items()},
            "children": {key: _dump(child) for key, child in self.children.items()},
            "waits": [_dump(wait) for wait in self.waits.values()],
            "signal_waiters": {
                name: [list(key) for key in keys] for name, keys in self.signal_waiters.items()
            },
            "signal_buffer": {name: list(items) for name, items in self.signal_buffer.items()},
            "execution_timer_id": self.execution_timer_id,
            "compensable": [list(item) for item in self.compensable],
            "compensation": self.compensation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], plans: PlanSource | None) -> ExecutionState:
        """Restore a state saved with `to_dict` (the plan is looked up again in `plans`)."""
        state = cls(execution_id=data["execution_id"], plans=plans)
        for name in (
            "status", "workflow_id", "workflow_version", "input", "request_id",
            "idempotency_key", "parent_execution_id", "parent_node_id", "parent_scope",
            "execution_timeout_ms", "started_at_ms", "closed_at_ms", "last_event_id",
            "cancel_requested", "vars", "output", "execution_timer_id",
        ):  # fmt: skip
            setattr(state, name, data[name])
        state.search_attributes = dict(data["search_attributes"])
        state.workspace = data.get("workspace", DEFAULT_WORKSPACE)  # states stored before
        state.request_ids = set(data["request_ids"])
        state.error = None if data["error"] is None else Error.from_dict(data["error"])
        for key, raw in data["scopes"].items():
            loops = {
                node: LoopState(
                    **{
                        **loop,
                        "running": {int(i): s for i, s in loop["running"].items()},
                        "results": {int(i): r for i, r in loop["results"].items()},
                    }
                )
                for node, loop in raw["loops"].items()
            }
            state.scopes[key] = ScopeState(**{**raw, "loops": loops})
        state.ready = {(s, n): None for s, n in data["ready"]}
        state.attention = {(s, n): None for s, n in data["attention"]}
        state.activities = {k: ActivityRun(**v) for k, v in data["activities"].items()}
        state.timers = {k: TimerInfo(**v) for k, v in data["timers"].items()}
        state.children = {k: ChildInfo(**v) for k, v in data["children"].items()}
        state.waits = {(w["scope"], w["node_id"]): WaitInfo(**w) for w in data["waits"]}
        state.signal_waiters = {
            name: [(s, n) for s, n in keys] for name, keys in data["signal_waiters"].items()
        }
        state.signal_buffer = {name: list(items) for name, items in data["signal_buffer"].items()}
        # States stored before compensation existed have neither.
        state.compensable = [list(item) for item in data.get("compensable", ())]
        state.compensation = data.get("compensation")
        if plans is not None and state.workflow_id:
            state.plan = plans.plan(state.workflow_id, state.workflow_version) or (
                ExecutionPlan.empty(state.workflow_id, state.workflow_version)
            )
        return state


_SCALARS = frozenset({str, int, float, bool, type(None)})
# Field names per dataclass type: `fields()` on every value made `to_dict` the processor's
# largest cost per decision.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _dump(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {str(k) if isinstance(k, int) else k: _dump(v) for k, v in value.items()}
    if kind is list:
        return [_dump(v) for v in value]
    names = _FIELD_NAMES.get(kind)
    if names is not None:
        return {name: _dump(getattr(value, name)) for name in names}
    if is_dataclass(value) and not isinstance(value, type):
        _FIELD_NAMES[kind] = tuple(f.name for f in fields(value))
        return _dump(value)
    if isinstance(value, dict):
        return {str(k) if isinstance(k, int) else k: _dump(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value
