"""The pure part of the sink: fold history events into execution and node-execution rows.

No I/O here. The store loads the current rows of the executions a batch touches, `project`
folds the batch's events into them in memory, and the store writes back the rows it marks
changed. Idempotence lives here: an execution row remembers the id of the last history event
applied to it (`last_event_id`), and an event whose id is not greater is ignored, so a
replayed batch (after a crash, an offset reset or a rebalance) changes nothing.

Event ids of one execution are consecutive and all events of one execution are in one
partition, so the execution row's `last_event_id` is a watermark for its node rows too.

JSON values are carried as JSON text (what the store sends to jsonb) so a JSON `null` payload
and an absent one stay distinct, and nothing is serialized twice. Times are epoch ms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from linkflow.model.workspaces import DEFAULT_WORKSPACE

# Execution statuses (executions.status).
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
TIMED_OUT = "timed_out"
CANCELED = "canceled"
TERMINATED = "terminated"
CONTINUED_AS_NEW = "continued_as_new"
EXECUTION_STATUSES = (
    RUNNING,
    COMPLETED,
    FAILED,
    TIMED_OUT,
    CANCELED,
    TERMINATED,
    CONTINUED_AS_NEW,
)

# Node statuses (node_executions.status); FAILED, COMPLETED, CANCELED, TIMED_OUT, RUNNING above.
SCHEDULED = "scheduled"
SKIPPED = "skipped"
NODE_STATUSES = (SCHEDULED, RUNNING, COMPLETED, FAILED, SKIPPED, CANCELED, TIMED_OUT)
# A node in one of these is still waiting for something; when its execution closes it never
# will, and it shows as canceled from then on.
OPEN_NODE_STATUSES = (SCHEDULED, RUNNING)
# Events that close an execution (and so every node of it still open).
CLOSING_EVENTS = frozenset(
    {
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
        "WorkflowExecutionTimedOut",
        "WorkflowExecutionCanceled",
        "WorkflowExecutionTerminated",
        "WorkflowExecutionContinuedAsNew",
    }
)

# Timer purposes and marker names written by the engine (see linkflow/engine/events.py).
_RETRY_BACKOFF = "retry_backoff"
_NODE_WAIT_PURPOSES = frozenset({"wait", "signal_timeout"})
_NODE_RUNNING_MARKERS = frozenset({"signal_wait_started", "loop_started"})
_ERROR_CONTINUED = "error_continued"

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# PostgreSQL's jsonb cannot hold U+0000; the JSON text escapes it as \u0000. Only an escape
# preceded by an even number of backslashes is a NUL (an odd number means a literal "\u0000").
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def to_json(value: Any) -> str:
    """JSON text that PostgreSQL's jsonb accepts (U+0000 becomes U+FFFD)."""
    text = _ENCODER.encode(value)
    if "\\u0000" in text:
        text = _NUL_ESCAPE.sub(r"\1\\ufffd", text)
    return text


def _error(type_: str, message: str, details: Any = None) -> dict[str, Any]:
    """An Error record (docs/events.md) for outcomes whose event carries none."""
    return {
        "type": type_,
        "message": message,
        "retryable": False,
        "node_id": None,
        "details": details,
    }


@dataclass(slots=True)
class ExecutionRow:
    execution_id: str
    workflow_id: str
    workflow_version: int
    started_at_ms: int
    updated_at_ms: int
    last_event_id: int
    status: str = RUNNING
    input: str | None = None
    output: str | None = None
    error: str | None = None
    closed_at_ms: int | None = None
    request_id: str | None = None
    parent_execution_id: str | None = None
    parent_node_id: str | None = None
    parent_scope: str | None = None
    idempotency_key: str | None = None
    execution_timeout_ms: int | None = None
    search_attributes: str = "{}"
    cancel_requested: bool = False
    close_reason: str | None = None
    new_execution_id: str | None = None
    workspace: str = DEFAULT_WORKSPACE
    activity_ms: int = 0
    usage: str = "{}"


@dataclass(slots=True)
class NodeRow:
    execution_id: str
    node_id: str
    scope: str
    status: str
    updated_at_ms: int
    last_event_id: int
    attempt: int = 0
    activity_id: str | None = None
    node_type: str | None = None
    task_queue: str | None = None
    child_execution_id: str | None = None
    handle: str | None = None
    routed: bool = False
    input: str | None = None
    output: str | None = None
    error: str | None = None
    scheduled_at_ms: int | None = None
    started_at_ms: int | None = None
    finished_at_ms: int | None = None
    duration_ms: int | None = None  # summed over attempts
    usage: str = "{}"  # JSON: summed over attempts

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.execution_id, self.node_id, self.scope)


NodeKey = tuple[str, str, str]  # (execution_id, node_id, scope)


@dataclass(slots=True)
class State:
    """The rows a batch may change, as loaded from the store, changed in place by `project`."""

    executions: dict[str, ExecutionRow] = field(default_factory=dict)
    nodes: dict[NodeKey, NodeRow] = field(default_factory=dict)
    changed_executions: set[str] = field(default_factory=set)
    changed_nodes: set[NodeKey] = field(default_factory=set)
    # Secondary keys: events after ActivityTaskScheduled / ChildWorkflowExecutionStarted name
    # the node only by activity id or child execution id.
    by_activity: dict[tuple[str, str], NodeKey] = field(default_factory=dict)
    by_child: dict[tuple[str, str], NodeKey] = field(default_factory=dict)

    def add_node(self, row: NodeRow) -> None:
        self.nodes[row.key] = row
        if row.activity_id is not None:
            self.by_activity[(row.execution_id, row.activity_id)] = row.key
        if row.child_execution_id is not None:
            self.by_child[(row.execution_id, row.child_execution_id)] = row.key


@dataclass(frozen=True, slots=True)
class Lookups:
    """What the store must load before `project` runs on a batch."""

    execution_ids: frozenset[str]
    node_keys: frozenset[NodeKey]
    activity_ids: frozenset[tuple[str, str]]  # (execution_id, activity_id)
    child_ids: frozenset[tuple[str, str]]  # (execution_id, child_execution_id)
    # Executions the batch closes: every open node of theirs is loaded.
    closing_ids: frozenset[str] = frozenset()


_BY_NODE_KEY = frozenset(
    {
        "NodeCompleted",
        "NodeSkipped",
        "NodeFailed",
        "ActivityTaskScheduled",
        "ChildWorkflowExecutionStarted",
    }
)
_BY_ACTIVITY = frozenset(
    {
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "ActivityTaskFailed",
        "ActivityTaskTimedOut",
        "ActivityTaskCanceled",
    }
)
_BY_CHILD = frozenset({"ChildWorkflowExecutionCompleted", "ChildWorkflowExecutionFailed"})


def _node_key_of(execution_id: str, event_type: str, a: Mapping[str, Any]) -> NodeKey | None:
    if event_type in _BY_NODE_KEY:
        return (execution_id, a["node_id"], a.get("scope") or "")
    if event_type == "TimerStarted" and a.get("node_id") is not None:
        return (execution_id, a["node_id"], a.get("scope") or "")
    if event_type == "MarkerRecorded":
        details = a.get("details")
        if isinstance(details, dict) and isinstance(details.get("node_id"), str):
            return (execution_id, details["node_id"], str(details.get("scope") or ""))
    return None


def lookups(events: Iterable[Mapping[str, Any]]) -> Lookups:
    execution_ids: set[str] = set()
    node_keys: set[NodeKey] = set()
    activity_ids: set[tuple[str, str]] = set()
    child_ids: set[tuple[str, str]] = set()
    closing_ids: set[str] = set()
    for event in events:
        execution_id = event["execution_id"]
        execution_ids.add(execution_id)
        event_type = event["event_type"]
        a = event["attributes"]
        if event_type in CLOSING_EVENTS:
            closing_ids.add(execution_id)
        elif event_type in _BY_ACTIVITY:
            activity_ids.add((execution_id, a["activity_id"]))
        elif event_type in _BY_CHILD:
            child_ids.add((execution_id, a["child_execution_id"]))
        else:
            key = _node_key_of(execution_id, event_type, a)
            if key is not None:
                node_keys.add(key)
    return Lookups(
        frozenset(execution_ids),
        frozenset(node_keys),
        frozenset(activity_ids),
        frozenset(child_ids),
        frozenset(closing_ids),
    )


def project(state: State, events: Iterable[Mapping[str, Any]]) -> State:
    """Fold `events` (decoded history envelopes, in partition order) into `state`."""
    for event in events:
        apply_event(state, event)
    return state


def apply_event(state: State, event: Mapping[str, Any]) -> bool:
    """Apply one event; False when it was already applied (or older) and so ignored."""
    execution_id: str = event["execution_id"]
    event_id: int = event["event_id"]
    ts: int = event["timestamp_ms"]
    event_type: str = event["event_type"]
    a: Mapping[str, Any] = event["attributes"]

    row = state.executions.get(execution_id)
    if row is not None and event_id <= row.last_event_id:
        return False
    if event_type == "WorkflowExecutionStarted":
        row = _started(execution_id, event_id, ts, a)
        state.executions[execution_id] = row
    elif row is None:
        # History before this event is gone (retention, or its Started went to the DLQ):
        # still show the execution rather than drop what is known about it.
        row = ExecutionRow(execution_id, "", 0, ts, ts, 0)
        state.executions[execution_id] = row
        _apply_execution(row, event_type, ts, a)
    else:
        _apply_execution(row, event_type, ts, a)
    if event_type in _MEASURED:
        row.activity_ms += a.get("duration_ms") or 0
        row.usage = add_usage(row.usage, a.get("usage"))
    row.last_event_id = event_id
    row.updated_at_ms = ts
    state.changed_executions.add(execution_id)
    _apply_node(state, execution_id, event_id, ts, event_type, a)
    if event_type in CLOSING_EVENTS:
        _close_open_nodes(state, execution_id, event_id, ts)
    return True


_MEASURED = frozenset({"ActivityTaskCompleted", "ActivityTaskFailed"})


def add_usage(total: str, usage: Mapping[str, float] | None) -> str:
    """The JSON object `total` with `usage` added to it, name by name."""
    if not usage:
        return total
    summed: dict[str, float] = json.loads(total)
    for name, amount in usage.items():
        summed[name] = summed.get(name, 0) + amount
    return json.dumps(summed, sort_keys=True, separators=(",", ":"))


def _close_open_nodes(state: State, execution_id: str, event_id: int, ts: int) -> None:
    """A node still waiting (a wait, an approval, an activity) when its execution closed
    never finishes: show it canceled, not running forever."""
    for key, node in state.nodes.items():
        if key[0] == execution_id and node.status in OPEN_NODE_STATUSES:
            _finish(node, CANCELED, ts)
            node.updated_at_ms = ts
            node.last_event_id = event_id
            state.changed_nodes.add(key)


def _started(execution_id: str, event_id: int, ts: int, a: Mapping[str, Any]) -> ExecutionRow:
    return ExecutionRow(
        execution_id=execution_id,
        workflow_id=a["workflow_id"],
        workflow_version=a["workflow_version"],
        started_at_ms=ts,
        updated_at_ms=ts,
        last_event_id=event_id,
        input=to_json(a.get("input")),
        request_id=a.get("request_id"),
        parent_execution_id=a.get("parent_execution_id"),
        parent_node_id=a.get("parent_node_id"),
        parent_scope=a.get("parent_scope"),
        idempotency_key=a.get("idempotency_key"),
        execution_timeout_ms=a.get("execution_timeout_ms"),
        search_attributes=to_json(a.get("search_attributes") or {}),
        workspace=a.get("workspace") or DEFAULT_WORKSPACE,
    )


def _close(row: ExecutionRow, status: str, ts: int) -> None:
    row.status = status
    row.closed_at_ms = ts


def _apply_execution(row: ExecutionRow, event_type: str, ts: int, a: Mapping[str, Any]) -> None:
    if event_type == "WorkflowExecutionCompleted":
        row.output = to_json(a.get("output"))
        _close(row, COMPLETED, ts)
    elif event_type == "WorkflowExecutionFailed":
        row.error = to_json(a["error"])
        _close(row, FAILED, ts)
    elif event_type == "WorkflowExecutionTimedOut":
        timeout_ms = a.get("timeout_ms")
        row.error = to_json(
            _error(
                "WorkflowExecutionTimedOut",
                f"execution timed out after {timeout_ms} ms",
                {"timeout_ms": timeout_ms},
            )
        )
        _close(row, TIMED_OUT, ts)
    elif event_type == "WorkflowExecutionCancelRequested":
        row.cancel_requested = True
    elif event_type == "WorkflowExecutionCanceled":
        row.close_reason = a.get("reason")
        _close(row, CANCELED, ts)
    elif event_type == "WorkflowExecutionTerminated":
        row.close_reason = a.get("reason")
        _close(row, TERMINATED, ts)
    elif event_type == "WorkflowExecutionContinuedAsNew":
        row.new_execution_id = a.get("new_execution_id")
        _close(row, CONTINUED_AS_NEW, ts)


def _node(state: State, key: NodeKey, event_id: int, ts: int, status: str) -> NodeRow:
    row = state.nodes.get(key)
    if row is None:
        row = NodeRow(key[0], key[1], key[2], status, ts, event_id)
        state.nodes[key] = row
    return row


def _finish(row: NodeRow, status: str, ts: int) -> None:
    row.status = status
    row.finished_at_ms = ts
    if row.started_at_ms is None:
        row.started_at_ms = ts


def _apply_node(
    state: State,
    execution_id: str,
    event_id: int,
    ts: int,
    event_type: str,
    a: Mapping[str, Any],
) -> None:
    row: NodeRow | None
    if event_type in _BY_ACTIVITY:
        key = state.by_activity.get((execution_id, a["activity_id"]))
        row = state.nodes.get(key) if key is not None else None
        if row is None:
            return  # its ActivityTaskScheduled was never seen; nothing to attach it to
        if a.get("attempt") is not None:
            row.attempt = a["attempt"]
        if event_type == "ActivityTaskStarted":
            row.status = RUNNING
            if row.started_at_ms is None:
                row.started_at_ms = ts
        elif event_type == "ActivityTaskCompleted":
            row.output = to_json(a.get("result"))
            _finish(row, COMPLETED, ts)
        elif event_type == "ActivityTaskFailed":
            row.error = to_json(a["error"])
            _finish(row, FAILED, ts)
        elif event_type == "ActivityTaskTimedOut":
            kind = a.get("timeout_type")
            row.error = to_json(
                _error("ActivityTaskTimedOut", f"{kind} timeout", {"timeout_type": kind})
            )
            _finish(row, TIMED_OUT, ts)
        else:  # ActivityTaskCanceled
            _finish(row, CANCELED, ts)
        if event_type in _MEASURED:
            duration = a.get("duration_ms")
            if duration is not None:
                row.duration_ms = (row.duration_ms or 0) + duration
            row.usage = add_usage(row.usage, a.get("usage"))
    elif event_type in _BY_CHILD:
        key = state.by_child.get((execution_id, a["child_execution_id"]))
        row = state.nodes.get(key) if key is not None else None
        if row is None:
            return
        if event_type == "ChildWorkflowExecutionCompleted":
            row.output = to_json(a.get("output"))
            _finish(row, COMPLETED, ts)
        else:
            row.error = to_json(a["error"])
            _finish(row, FAILED, ts)
    else:
        node_key = _node_key_of(execution_id, event_type, a)
        if node_key is None:
            return
        row = _apply_keyed(state, node_key, event_id, ts, event_type, a)
        if row is None:
            return
    row.last_event_id = event_id
    row.updated_at_ms = ts
    state.changed_nodes.add(row.key)


def _apply_keyed(
    state: State,
    key: NodeKey,
    event_id: int,
    ts: int,
    event_type: str,
    a: Mapping[str, Any],
) -> NodeRow | None:
    if event_type == "ActivityTaskScheduled":
        row = _node(state, key, event_id, ts, SCHEDULED)
        row.status = SCHEDULED
        row.attempt = a["attempt"]
        row.activity_id = a["activity_id"]
        row.node_type = a.get("node_type")
        row.task_queue = a.get("task_queue")
        row.input = to_json(a.get("input"))
        row.finished_at_ms = None
        if row.scheduled_at_ms is None:
            row.scheduled_at_ms = ts
        state.by_activity[(key[0], row.activity_id)] = key
        return row
    if event_type == "NodeCompleted":
        row = _node(state, key, event_id, ts, COMPLETED)
        row.output = to_json(a.get("output"))
        row.handle = a.get("handle")
        _finish(row, COMPLETED, ts)
        return row
    if event_type == "NodeSkipped":
        row = _node(state, key, event_id, ts, SKIPPED)
        _finish(row, SKIPPED, ts)
        return row
    if event_type == "NodeFailed":
        row = _node(state, key, event_id, ts, FAILED)
        row.error = to_json(a["error"])
        row.routed = bool(a.get("routed"))
        _finish(row, FAILED, ts)
        return row
    if event_type == "ChildWorkflowExecutionStarted":
        row = _node(state, key, event_id, ts, RUNNING)
        row.status = RUNNING
        row.child_execution_id = a["child_execution_id"]
        row.input = to_json(a.get("input"))
        if row.started_at_ms is None:
            row.started_at_ms = ts
        state.by_child[(key[0], row.child_execution_id)] = key
        return row
    if event_type == "TimerStarted":
        purpose = a.get("purpose")
        if purpose == _RETRY_BACKOFF:
            # The failed attempt will be retried: the node is waiting, not failed.
            existing = state.nodes.get(key)
            if existing is None:
                return None
            existing.status = SCHEDULED
            existing.finished_at_ms = None
            return existing
        if purpose in _NODE_WAIT_PURPOSES:
            return _start_waiting(state, key, event_id, ts)
        return None  # activity and execution timeouts change no node's state
    if event_type == "MarkerRecorded":
        marker = a.get("marker_name")
        if marker in _NODE_RUNNING_MARKERS:
            return _start_waiting(state, key, event_id, ts)
        if marker == _ERROR_CONTINUED:
            # The node failed and went on (on_error: continue): its NodeCompleted came
            # just before; show the failure, with the success handle it took.
            row = _node(state, key, event_id, ts, FAILED)
            details = a.get("details")
            error = details.get("error") if isinstance(details, dict) else None
            row.error = to_json(error)
            _finish(row, FAILED, ts)
            return row
        return None
    return None


def _start_waiting(state: State, key: NodeKey, event_id: int, ts: int) -> NodeRow | None:
    row = _node(state, key, event_id, ts, RUNNING)
    if row.status in (COMPLETED, FAILED, SKIPPED, CANCELED, TIMED_OUT):
        return None  # a timer or marker may follow the outcome; the outcome stands
    row.status = RUNNING
    if row.started_at_ms is None:
        row.started_at_ms = ts
    return row
