"""The pure fold of history events into execution and node-execution rows (connect/projection)."""

from __future__ import annotations

import json
from typing import Any

from connect import projection
from connect.projection import ExecutionRow, NodeRow, State, lookups, project, to_json

T0 = 1_760_000_000_000


class History:
    """Builds one execution's events with consecutive ids."""

    def __init__(self, execution_id: str = "e1") -> None:
        self.execution_id = execution_id
        self.events: list[dict[str, Any]] = []

    def add(self, event_type: str, **attributes: Any) -> History:
        n = len(self.events) + 1
        self.events.append(
            {
                "execution_id": self.execution_id,
                "event_id": n,
                "timestamp_ms": T0 + 1000 * n,
                "event_type": event_type,
                "attributes": attributes,
            }
        )
        return self

    def started(self, **extra: Any) -> History:
        attrs = {
            "workflow_id": "orders",
            "workflow_version": 3,
            "input": {"order": 7},
            "request_id": "req-1",
            "idempotency_key": None,
            "parent_execution_id": None,
            "parent_node_id": None,
            "parent_scope": None,
            "execution_timeout_ms": None,
            "search_attributes": {"customer": "acme"},
        }
        attrs.update(extra)
        return self.add("WorkflowExecutionStarted", **attrs)

    def activity(self, node: str, attempt: int = 1, scope: str = "") -> History:
        act = f"{node}@{scope}" if scope else node
        return self.add(
            "ActivityTaskScheduled",
            activity_id=act,
            node_id=node,
            scope=scope,
            node_type="http",
            task_queue="default",
            attempt=attempt,
            input={"url": "http://x"},
            schedule_to_start_ms=None,
            start_to_close_ms=None,
            heartbeat_ms=None,
        )


def _error(message: str = "boom") -> dict[str, Any]:
    return {"type": "HttpError", "message": message, "retryable": True, "node_id": None}


def fold(events: list[dict[str, Any]], state: State | None = None) -> State:
    return project(state or State(), events)


def test_started_then_completed() -> None:
    h = History().started().add("WorkflowExecutionCompleted", output={"ok": True})
    state = fold(h.events)
    row = state.executions["e1"]
    assert row.status == projection.COMPLETED
    assert row.workflow_id == "orders" and row.workflow_version == 3
    assert json.loads(row.input or "") == {"order": 7}
    assert json.loads(row.output or "") == {"ok": True}
    assert json.loads(row.search_attributes) == {"customer": "acme"}
    assert row.started_at_ms == T0 + 1000
    assert row.closed_at_ms == row.updated_at_ms == T0 + 2000
    assert row.last_event_id == 2
    assert state.changed_executions == {"e1"}


def test_running_until_a_terminal_event() -> None:
    h = History().started().activity("fetch")
    row = fold(h.events).executions["e1"]
    assert row.status == projection.RUNNING
    assert row.closed_at_ms is None


def test_failed_keeps_the_error() -> None:
    h = History().started().add("WorkflowExecutionFailed", error=_error("no route"))
    row = fold(h.events).executions["e1"]
    assert row.status == projection.FAILED
    assert json.loads(row.error or "")["message"] == "no route"


def test_other_terminal_statuses() -> None:
    cases = {
        "WorkflowExecutionTimedOut": ({"timeout_ms": 5000}, projection.TIMED_OUT),
        "WorkflowExecutionCanceled": ({"reason": "user"}, projection.CANCELED),
        "WorkflowExecutionTerminated": (
            {"request_id": "r", "reason": "ops", "identity": "me"},
            projection.TERMINATED,
        ),
        "WorkflowExecutionContinuedAsNew": (
            {"new_execution_id": "e2", "input": {}},
            projection.CONTINUED_AS_NEW,
        ),
    }
    for event_type, (attrs, status) in cases.items():
        row = fold(History().started().add(event_type, **attrs).events).executions["e1"]
        assert row.status == status, event_type
        assert row.closed_at_ms is not None
    timed_out = fold(
        History().started().add("WorkflowExecutionTimedOut", timeout_ms=5000).events
    ).executions["e1"]
    assert json.loads(timed_out.error or "")["details"] == {"timeout_ms": 5000}
    continued = fold(
        History()
        .started()
        .add("WorkflowExecutionContinuedAsNew", new_execution_id="e2", input=1)
        .events
    ).executions["e1"]
    assert continued.new_execution_id == "e2"


def test_cancel_requested_is_a_flag_not_a_status() -> None:
    h = (
        History()
        .started()
        .add("WorkflowExecutionCancelRequested", request_id="r", reason="user", identity="me")
    )
    row = fold(h.events).executions["e1"]
    assert row.cancel_requested is True
    assert row.status == projection.RUNNING


def test_activity_node_lifecycle() -> None:
    h = (
        History()
        .started()
        .activity("fetch")
        .add("ActivityTaskStarted", activity_id="fetch", attempt=1, identity="w1")
        .add("ActivityTaskCompleted", activity_id="fetch", attempt=1, result={"body": 1})
        .add("NodeCompleted", node_id="fetch", scope="", output={"body": 1}, handle="success")
    )
    state = fold(h.events)
    node = state.nodes[("e1", "fetch", "")]
    assert node.status == projection.COMPLETED
    assert node.attempt == 1
    assert node.node_type == "http" and node.task_queue == "default"
    assert node.handle == "success"
    assert json.loads(node.output or "") == {"body": 1}
    assert node.scheduled_at_ms == T0 + 2000
    assert node.started_at_ms == T0 + 3000
    assert node.finished_at_ms == T0 + 5000
    assert node.last_event_id == 5


def test_node_states_step_by_step() -> None:
    h = History().started().activity("fetch")
    state = fold(h.events)
    assert state.nodes[("e1", "fetch", "")].status == projection.SCHEDULED
    h.add("ActivityTaskStarted", activity_id="fetch", attempt=1, identity="w1")
    project(state, h.events[-1:])
    assert state.nodes[("e1", "fetch", "")].status == projection.RUNNING


def test_retry_then_success() -> None:
    h = (
        History()
        .started()
        .activity("fetch")
        .add("ActivityTaskStarted", activity_id="fetch", attempt=1, identity="w1")
        .add("ActivityTaskFailed", activity_id="fetch", attempt=1, error=_error("503"))
        .add(
            "TimerStarted",
            timer_id="t5",
            fire_at_ms=T0 + 9000,
            purpose="retry_backoff",
            node_id="fetch",
            scope="",
        )
    )
    state = fold(h.events)
    node = state.nodes[("e1", "fetch", "")]
    # Between attempts the node waits for its retry; the last error stays visible.
    assert node.status == projection.SCHEDULED
    assert node.finished_at_ms is None
    assert json.loads(node.error or "")["message"] == "503"

    h.add("TimerFired", timer_id="t5").activity("fetch", attempt=2)
    h.add("ActivityTaskStarted", activity_id="fetch", attempt=2, identity="w2")
    h.add("ActivityTaskCompleted", activity_id="fetch", attempt=2, result=1)
    h.add("NodeCompleted", node_id="fetch", scope="", output=1, handle="success")
    project(state, h.events[5:])
    assert node.status == projection.COMPLETED
    assert node.attempt == 2
    assert node.started_at_ms == T0 + 3000  # the first attempt's start


def test_retries_exhausted_fail_the_node() -> None:
    h = (
        History()
        .started()
        .activity("fetch", attempt=3)
        .add("ActivityTaskTimedOut", activity_id="fetch", attempt=3, timeout_type="start_to_close")
    )
    state = fold(h.events)
    node = state.nodes[("e1", "fetch", "")]
    assert node.status == projection.TIMED_OUT
    assert json.loads(node.error or "")["details"] == {"timeout_type": "start_to_close"}
    h.add("NodeFailed", node_id="fetch", scope="", error=_error("gave up"), routed=True)
    project(state, h.events[-1:])
    assert node.status == projection.FAILED
    assert node.routed is True
    assert json.loads(node.error or "")["message"] == "gave up"


def test_a_node_that_failed_and_continued_shows_failed_with_the_success_handle() -> None:
    h = (
        History()
        .started()
        .activity("fetch")
        .add("ActivityTaskFailed", activity_id="fetch", attempt=1, error=_error("gone"))
        .add(
            "NodeCompleted",
            node_id="fetch",
            scope="",
            output={"error": _error("gone")},
            handle="success",
        )
        .add(
            "MarkerRecorded",
            marker_name="error_continued",
            details={"node_id": "fetch", "scope": "", "error": _error("gone")},
        )
    )
    node = fold(h.events).nodes[("e1", "fetch", "")]
    assert (node.status, node.handle, node.routed) == (projection.FAILED, "success", False)
    assert json.loads(node.error or "")["message"] == "gone"
    assert node.finished_at_ms is not None


def test_skipped_and_plain_nodes_without_activities() -> None:
    h = (
        History()
        .started()
        .add("NodeCompleted", node_id="check", scope="", output=True, handle="true")
        .add("NodeSkipped", node_id="else", scope="")
    )
    state = fold(h.events)
    check = state.nodes[("e1", "check", "")]
    assert check.status == projection.COMPLETED and check.handle == "true"
    assert check.started_at_ms == check.finished_at_ms == T0 + 2000
    assert check.attempt == 0 and check.activity_id is None
    assert state.nodes[("e1", "else", "")].status == projection.SKIPPED


def test_scoped_node_instances_are_separate_rows() -> None:
    h = History().started()
    for i in range(3):
        h.activity("body", scope=f"loop[{i}]")
    h.add("ActivityTaskCompleted", activity_id="body@loop[1]", attempt=1, result=i)
    state = fold(h.events)
    assert {k[2] for k in state.nodes} == {"loop[0]", "loop[1]", "loop[2]"}
    assert state.nodes[("e1", "body", "loop[1]")].status == projection.COMPLETED
    assert state.nodes[("e1", "body", "loop[0]")].status == projection.SCHEDULED


def test_wait_and_signal_nodes_run() -> None:
    h = (
        History()
        .started()
        .add("TimerStarted", timer_id="t2", fire_at_ms=T0, purpose="wait", node_id="nap", scope="")
        .add(
            "MarkerRecorded",
            marker_name="signal_wait_started",
            details={"node_id": "approve", "scope": "", "signal_name": "ok"},
        )
        .add(
            "TimerStarted",
            timer_id="t4",
            fire_at_ms=T0,
            purpose="activity_timeout",
            node_id="other",
            scope="",
        )
    )
    state = fold(h.events)
    assert state.nodes[("e1", "nap", "")].status == projection.RUNNING
    assert state.nodes[("e1", "approve", "")].status == projection.RUNNING
    assert ("e1", "other", "") not in state.nodes


def test_nodes_still_open_when_the_execution_closes_show_canceled() -> None:
    for closing in ("WorkflowExecutionCanceled", "WorkflowExecutionTerminated"):
        h = (
            History()
            .started()
            .add("NodeCompleted", node_id="first", scope="", handle="success", output=None)
            .add(
                "MarkerRecorded",
                marker_name="signal_wait_started",
                details={"node_id": "approve", "scope": "", "signal_name": "ok"},
            )
            .activity("slow")
            .add(closing, reason="stop")
        )
        state = fold(h.events)
        assert state.nodes[("e1", "approve", "")].status == projection.CANCELED, closing
        assert state.nodes[("e1", "slow", "")].status == projection.CANCELED
        assert state.nodes[("e1", "slow", "")].finished_at_ms == T0 + 5000
        assert state.nodes[("e1", "first", "")].status == projection.COMPLETED
        # The store loads the execution's open nodes for a batch that closes it.
        assert lookups(h.events[-1:]).closing_ids == {"e1"}
        assert lookups(h.events[:-1]).closing_ids == frozenset()


def test_child_workflow_node() -> None:
    h = (
        History()
        .started()
        .add(
            "ChildWorkflowExecutionStarted",
            node_id="sub",
            scope="",
            child_execution_id="e1/sub-2",
            workflow_id="child",
            workflow_version=1,
            input={"a": 1},
        )
        .add("ChildWorkflowExecutionFailed", child_execution_id="e1/sub-2", error=_error("child"))
    )
    node = fold(h.events).nodes[("e1", "sub", "")]
    assert node.status == projection.FAILED
    assert node.child_execution_id == "e1/sub-2"
    assert json.loads(node.error or "")["message"] == "child"


def test_replay_changes_nothing() -> None:
    h = (
        History()
        .started()
        .activity("fetch")
        .add("NodeCompleted", node_id="fetch", scope="", output=1, handle="success")
        .add("WorkflowExecutionCompleted", output=1)
    )
    state = fold(h.events)
    before_exec = repr(state.executions)
    before_nodes = repr(state.nodes)
    replay = State(executions=state.executions, nodes=state.nodes)
    project(replay, h.events)
    assert repr(replay.executions) == before_exec
    assert repr(replay.nodes) == before_nodes
    assert not replay.changed_executions and not replay.changed_nodes


def test_an_older_event_never_regresses_state() -> None:
    h = History().started().add("WorkflowExecutionCompleted", output=1)
    state = fold(h.events)
    assert projection.apply_event(state, h.events[0]) is False
    assert state.executions["e1"].status == projection.COMPLETED


def test_events_after_what_is_stored_apply_to_loaded_rows() -> None:
    h = (
        History()
        .started()
        .activity("fetch")
        .add("ActivityTaskCompleted", activity_id="fetch", attempt=1, result=2)
        .add("WorkflowExecutionCompleted", output=2)
    )
    first = fold(h.events[:2])
    # A later batch sees only what the store loads, found by the lookups of its events.
    wanted = lookups(h.events[2:])
    assert wanted.execution_ids == {"e1"}
    assert wanted.activity_ids == {("e1", "fetch")}
    loaded = State(executions=dict(first.executions))
    for row in first.nodes.values():
        loaded.add_node(row)
    project(loaded, h.events[2:])
    assert loaded.executions["e1"].status == projection.COMPLETED
    assert loaded.nodes[("e1", "fetch", "")].status == projection.COMPLETED
    assert loaded.changed_nodes == {("e1", "fetch", "")}


def test_lookups_name_every_row_a_batch_can_touch() -> None:
    h = (
        History()
        .started()
        .activity("a", scope="s[0]")
        .add("NodeSkipped", node_id="b", scope="")
        .add("ChildWorkflowExecutionCompleted", child_execution_id="c1", output=None)
        .add("TimerStarted", timer_id="t", fire_at_ms=0, purpose="execution_timeout", scope="")
    )
    wanted = lookups(h.events)
    assert wanted.node_keys == {("e1", "a", "s[0]"), ("e1", "b", "")}
    assert wanted.child_ids == {("e1", "c1")}


def test_events_without_a_start_still_show_the_execution() -> None:
    h = History().started().add("WorkflowExecutionCompleted", output=1)
    row = fold(h.events[1:]).executions["e1"]
    assert row.status == projection.COMPLETED
    assert row.workflow_id == ""
    assert row.last_event_id == 2


def test_activity_events_for_an_unknown_activity_are_ignored_for_nodes() -> None:
    h = History().started().add("ActivityTaskStarted", activity_id="x", attempt=1, identity="w")
    state = fold(h.events)
    assert not state.nodes
    assert state.executions["e1"].last_event_id == 2


def test_to_json_replaces_nul_for_jsonb() -> None:
    assert to_json("a\x00b") == '"a\\ufffdb"'
    # A literal backslash followed by u0000 is not a NUL and must survive.
    assert json.loads(to_json("a\\u0000b")) == "a\\u0000b"
    assert json.loads(to_json({"k\x00": ["\\\x00"]})) == {"k\ufffd": ["\\\ufffd"]}
    assert to_json(None) == "null"


def test_rows_have_the_columns_the_store_reads() -> None:
    # The store builds rows positionally from SELECT lists in dataclass field order.
    assert ExecutionRow.__dataclass_fields__.keys() >= {"search_attributes", "new_execution_id"}
    assert list(NodeRow.__dataclass_fields__)[:6] == [
        "execution_id",
        "node_id",
        "scope",
        "status",
        "updated_at_ms",
        "last_event_id",
    ]
