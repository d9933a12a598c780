"""Cost tracking in pure code: results carry usage and handler time into history (engine),
the projection sums them per node over attempts and per execution over nodes (connect),
and the worker's context adds usage up."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connect.projection import State, add_usage, project
from linkflow.engine import ActivityCompleted, ActivityFailed, Engine, Error, StartWorkflow
from linkflow.engine.replay import replay
from linkflow.model import Catalog
from linkflow.testing import chain, node, trigger, workflow
from linkflow.worker.context import ActivityContext
from linkflow.worker.registry import installed_node_types

DOC = workflow(
    "paid",
    [trigger(), node("ask", "http", url="u"), node("tell", "http", url="v")],
    chain("start", "ask", "tell"),
)


def test_usage_and_handler_time_go_into_history_and_replay() -> None:
    catalog = Catalog([DOC], registry=installed_node_types())
    engine = Engine(catalog)
    start = StartWorkflow(request_id="r", execution_id="e", workflow_id="paid")
    first = engine.decide(None, start, 1)
    done = ActivityCompleted(
        execution_id="e",
        activity_id="ask",
        attempt=1,
        result={"ok": 1},
        usage={"tokens": 10.0, "usd": 0.5},
        duration_ms=40,
    )
    second = engine.decide(first.state, done, 2)
    failed = ActivityFailed(
        execution_id="e",
        activity_id="tell",
        attempt=1,
        error=Error(type="Busy", message="later", retryable=False),
        usage={"tokens": 2.0},
        duration_ms=7,
    )
    third = engine.decide(second.state, failed, 3)
    completed = second.events[0].attributes
    assert (completed.usage, completed.duration_ms) == ({"tokens": 10.0, "usd": 0.5}, 40)  # type: ignore[attr-defined]
    assert third.events[0].attributes.usage == {"tokens": 2.0}  # type: ignore[attr-defined]
    history = first.events + second.events + third.events
    assert replay(history, catalog).ok


def _event(n: int, event_type: str, **attributes: Any) -> dict[str, Any]:
    return {
        "execution_id": "e",
        "event_id": n,
        "timestamp_ms": 1000 * n,
        "event_type": event_type,
        "attributes": attributes,
    }


def test_the_projection_sums_attempts_per_node_and_nodes_per_execution() -> None:
    scheduled = {"node_type": "http", "task_queue": "http", "input": {}, "scope": ""}
    events = [
        _event(1, "WorkflowExecutionStarted", workflow_id="w", workflow_version=1, input=None),
        _event(2, "ActivityTaskScheduled", activity_id="a", node_id="a", attempt=1, **scheduled),
        _event(
            3,
            "ActivityTaskFailed",
            activity_id="a",
            attempt=1,
            error={"type": "X"},
            usage={"tokens": 3.0},
            duration_ms=10,
        ),
        _event(4, "ActivityTaskScheduled", activity_id="a", node_id="a", attempt=2, **scheduled),
        _event(
            5,
            "ActivityTaskCompleted",
            activity_id="a",
            attempt=2,
            result=1,
            usage={"tokens": 4.0, "usd": 0.25},
            duration_ms=15,
        ),
        _event(6, "ActivityTaskScheduled", activity_id="b", node_id="b", attempt=1, **scheduled),
        _event(
            7,
            "ActivityTaskCompleted",
            activity_id="b",
            attempt=1,
            result=2,
            usage={},
            duration_ms=5,
        ),
    ]
    state = project(State(), events)
    node_a = state.nodes[("e", "a", "")]
    assert (node_a.duration_ms, json.loads(node_a.usage)) == (25, {"tokens": 7.0, "usd": 0.25})
    assert state.nodes[("e", "b", "")].duration_ms == 5
    execution = state.executions["e"]
    assert execution.activity_ms == 30
    assert json.loads(execution.usage) == {"tokens": 7.0, "usd": 0.25}
    # A replayed (older) event counts nothing twice.
    project(state, events[4:5])
    assert state.executions["e"].activity_ms == 30
    assert add_usage("{}", None) == "{}"


def test_the_handlers_context_adds_usage_up_and_refuses_what_is_not_a_number() -> None:
    ctx = ActivityContext(execution_id="e", activity_id="a", attempt=1, node_id="a")
    ctx.record_usage(tokens=5, usd=0.1)
    ctx.record_usage(tokens=7)
    assert ctx.usage == {"tokens": 12.0, "usd": 0.1}
    with pytest.raises(TypeError, match="usage 'rows' must be a number"):
        ctx.record_usage(rows="many")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ctx.record_usage(ok=True)
