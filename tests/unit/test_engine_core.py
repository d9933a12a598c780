"""Events, inputs, state, effects and the Engine API: round trips, duplicates, ids, replay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from linkflow.engine import (
    EVENT_TYPES,
    ActivityCompleted,
    ActivityFailed,
    ActivityTask,
    Engine,
    Error,
    ExecutionState,
    FireTimer,
    HistoryEvent,
    NotifyParent,
    ReplayError,
    ScheduleTimer,
    SignalWorkflow,
    StartChildWorkflow,
    StartWorkflow,
    apply_event,
    fold,
    input_from_dict,
    outstanding_effects,
)
from linkflow.engine import events as ev
from linkflow.engine.appliers import registered_event_types
from linkflow.engine.deciders import DECIDERS
from linkflow.engine.inputs import INPUT_TYPES
from linkflow.model import Catalog
from linkflow.testing import chain, node, trigger, with_options, workflow
from linkflow.worker.registry import installed_node_types

ERR = Error(type="T", message="m", retryable=False, node_id="n", details={"k": [1]})

SAMPLES: list[ev.EventAttributes] = [
    ev.WorkflowExecutionStarted(
        workflow_id="w",
        workflow_version=1,
        input={"a": 1},
        request_id="r",
        search_attributes={"k": "v"},
    ),
    ev.WorkflowExecutionCompleted(output=[1]),
    ev.WorkflowExecutionFailed(error=ERR),
    ev.WorkflowExecutionTimedOut(timeout_ms=5),
    ev.WorkflowExecutionCancelRequested(request_id="r", reason="x", identity="i"),
    ev.WorkflowExecutionCanceled(reason="x"),
    ev.WorkflowExecutionTerminated(request_id="r", reason="x", identity="i"),
    ev.WorkflowExecutionContinuedAsNew(new_execution_id="e2", input=None),
    ev.WorkflowExecutionSignaled(request_id="r", signal_name="s", payload={"p": True}),
    ev.NodeCompleted(node_id="n", scope="l[1]", output=None, handle="success"),
    ev.NodeSkipped(node_id="n", scope=""),
    ev.NodeFailed(node_id="n", scope="", error=ERR, routed=True),
    ev.ActivityTaskScheduled(
        activity_id="a",
        node_id="n",
        scope="",
        node_type="http",
        task_queue="q",
        attempt=1,
        input={},
        start_to_close_ms=3,
    ),
    ev.ActivityTaskStarted(activity_id="a", attempt=1, identity="w"),
    ev.ActivityTaskCompleted(activity_id="a", attempt=1, result="r"),
    ev.ActivityTaskFailed(activity_id="a", attempt=1, error=ERR),
    ev.ActivityTaskTimedOut(activity_id="a", attempt=1, timeout_type="heartbeat"),
    ev.ActivityTaskCanceled(activity_id="a", attempt=1, reason="x"),
    ev.TimerStarted(
        timer_id="t1", fire_at_ms=9, purpose="retry_backoff", node_id="n", scope="", attempt=2
    ),
    ev.TimerFired(timer_id="t1"),
    ev.TimerCanceled(timer_id="t1"),
    ev.ChildWorkflowExecutionStarted(
        node_id="n", scope="", child_execution_id="c", workflow_id="w", workflow_version=1, input=1
    ),
    ev.ChildWorkflowExecutionCompleted(child_execution_id="c", output=2),
    ev.ChildWorkflowExecutionFailed(child_execution_id="c", error=ERR),
    ev.MarkerRecorded(marker_name="m", details={"x": 1}),
    ev.CompensationStarted(
        cause="failed", nodes=[{"node_id": "pay", "scope": ""}], error=ERR, reason=""
    ),
    ev.CompensationCompleted(node_id="pay", scope="", compensation_node_id="refund"),
    ev.CompensationFailed(node_id="pay", scope="", compensation_node_id="refund", error=ERR),
]

LINEAR = workflow(
    "lin",
    [trigger(), node("a", "echo", value=1), node("b", "echo", value=2), node("c", "echo", value=3)],
    chain("start", "a", "b", "c"),
)


def test_every_event_type_has_a_sample_an_applier_and_round_trips() -> None:
    assert {s.EVENT_TYPE for s in SAMPLES} == set(EVENT_TYPES)
    assert registered_event_types() == set(EVENT_TYPES)
    for i, attrs in enumerate(SAMPLES, start=1):
        event = HistoryEvent("e", i, 100 + i, attrs)
        data = json.loads(json.dumps(event.to_dict()))
        assert data["event_type"] == attrs.EVENT_TYPE
        assert HistoryEvent.from_dict(data) == event


def test_every_input_type_has_a_decider_and_round_trips() -> None:
    assert set(DECIDERS) == set(INPUT_TYPES.values())
    inp = ActivityFailed(execution_id="e", activity_id="a", attempt=2, error=ERR, identity="w")
    data = json.loads(json.dumps(inp.to_dict()))
    assert data["input_type"] == "ActivityFailed"
    assert input_from_dict(data) == inp
    start = StartWorkflow(
        request_id="r", execution_id="e", workflow_id="w", search_attributes={"a": "b"}
    )
    assert input_from_dict(json.loads(json.dumps(start.to_dict()))) == start


def start(engine: Engine, state: ExecutionState | None = None, **kw: Any):
    args = {"request_id": "r1", "execution_id": "e1", "workflow_id": "lin", **kw}
    return engine.decide(state, StartWorkflow(**args), 1000)


def test_idempotent_start() -> None:
    engine = Engine(Catalog([LINEAR], registry=installed_node_types()))
    first = start(engine, idempotency_key="k")
    assert first.events and first.ignored is None
    state = first.state
    again = start(engine, state, idempotency_key="k")
    assert again.events == [] and again.ignored == "duplicate start"
    other_request_same_key = start(engine, state, request_id="r2", idempotency_key="k")
    assert (
        other_request_same_key.events == [] and other_request_same_key.ignored == "duplicate start"
    )
    other = start(engine, state, request_id="r3")
    # Not a retry but a conflicting start: refused, so the processor dead-letters it.
    assert other.events == [] and other.refusal is not None
    assert other.ignored == other.refusal.reason == "execution_exists"
    assert "'r3'" in other.refusal.detail and "already started" in other.refusal.detail
    assert again.refusal is None


def test_unknown_workflow_gets_started_and_failed() -> None:
    engine = Engine(Catalog(registry=installed_node_types()))
    decision = engine.decide(
        None, StartWorkflow(request_id="r", execution_id="e", workflow_id="ghost"), 5
    )
    assert [e.event_type for e in decision.events] == [
        "WorkflowExecutionStarted",
        "WorkflowExecutionFailed",
    ]
    assert decision.events[-1].attributes.error.type == "UnknownWorkflow"


def test_inputs_for_unknown_or_closed_executions_are_ignored() -> None:
    engine = Engine(Catalog([LINEAR], registry=installed_node_types()))
    assert (
        engine.decide(
            None, SignalWorkflow(request_id="r", execution_id="x", signal_name="s"), 1
        ).ignored
        == "unknown execution"
    )
    # A state with no event yet (what a processor holds before the start) is no execution:
    # a signal must not open a history with WorkflowExecutionSignaled as its event 1.
    blank = ExecutionState("x", plans=engine.plans)
    decision = engine.decide(
        blank, SignalWorkflow(request_id="r", execution_id="x", signal_name="s"), 1
    )
    assert decision.state is None and not decision.events
    assert decision.ignored == "unknown execution"
    state = start(engine).state
    for activity in "abc":
        engine.decide(
            state, ActivityCompleted(execution_id="e1", activity_id=activity, attempt=1), 2
        )
    assert state.status == "completed"
    late = engine.decide(
        state, SignalWorkflow(request_id="r9", execution_id="e1", signal_name="s"), 3
    )
    assert late.events == [] and late.ignored == "execution closed"


def test_stale_and_duplicate_results() -> None:
    engine = Engine(Catalog([LINEAR], registry=installed_node_types()))
    state = start(engine).state
    done = ActivityCompleted(execution_id="e1", activity_id="a", attempt=1, result=1)
    assert engine.decide(state, done, 2).events
    assert engine.decide(state, done, 3).ignored == "stale activity result"
    wrong_attempt = ActivityCompleted(execution_id="e1", activity_id="b", attempt=2)
    assert engine.decide(state, wrong_attempt, 3).ignored == "stale activity result"
    unknown_timer = FireTimer(execution_id="e1", timer_id="t99")
    assert engine.decide(state, unknown_timer, 3).ignored == "timer not pending"


def test_effects_of_a_decision() -> None:
    doc = workflow(
        "fx",
        [
            trigger(),
            with_options(
                node("a", "http", url="u"),
                timeout={"start_to_close": "5s", "heartbeat": "1s"},
                task_queue="q1",
            ),
            node("sub", "subworkflow", workflow_id="lin"),
        ],
        ["start -> a", "start -> sub"],
        execution_timeout="1m",
    )
    engine = Engine(Catalog([doc, LINEAR], registry=installed_node_types()))
    decision = engine.decide(
        None, StartWorkflow(request_id="r", execution_id="p", workflow_id="fx"), 1000
    )
    kinds = [type(e).__name__ for e in decision.effects]
    assert kinds == ["ScheduleTimer", "ActivityTask", "ScheduleTimer", "StartChildWorkflow"]
    task = next(e for e in decision.effects if isinstance(e, ActivityTask))
    assert task.to_dict() == {
        "execution_id": "p", "activity_id": "a", "attempt": 1, "node_id": "a", "node_type": "http",
        "scope": "", "input": {"url": "u"}, "workflow_id": "fx", "workflow_version": 1,
        "scheduled_at_ms": 1000, "start_to_close_ms": 5000, "heartbeat_ms": 1000,
        "workspace": "default", "schedule_to_start_ms": None,
    }  # fmt: skip
    assert task.task_queue == "q1"
    child = next(e for e in decision.effects if isinstance(e, StartChildWorkflow)).command
    assert (child.parent_execution_id, child.parent_node_id, child.workflow_id) == (
        "p",
        "sub",
        "lin",
    )
    timers = [e for e in decision.effects if isinstance(e, ScheduleTimer)]
    assert timers[0].fire_at_ms == 61_000
    # the same effects can be re-derived from the state after a crash
    again = outstanding_effects(decision.state)
    assert [type(e).__name__ for e in again] == ["ActivityTask", "ScheduleTimer", "ScheduleTimer"]
    # a child's terminal event notifies its parent
    cstate = engine.decide(None, child, 1001).state
    for activity in "abc":
        d = engine.decide(
            cstate,
            ActivityCompleted(
                execution_id=child.execution_id, activity_id=activity, attempt=1, result=activity
            ),
            1002,
        )
    notice = [e for e in d.effects if isinstance(e, NotifyParent)]
    assert notice and notice[0].outcome.completed and notice[0].outcome.output == "c"
    assert notice[0].outcome.execution_id == "p"


def test_state_round_trips_and_decides_the_same() -> None:
    catalog = Catalog([LINEAR], registry=installed_node_types())
    engine = Engine(catalog)
    live = start(engine).state
    saved = json.loads(json.dumps(live.to_dict()))
    restored = ExecutionState.from_dict(saved, catalog)
    assert json.dumps(restored.to_dict()) == json.dumps(live.to_dict())
    inp = ActivityCompleted(execution_id="e1", activity_id="a", attempt=1, result=5)
    a = engine.decide(live, inp, 7).events
    b = engine.decide(restored, inp, 7).events
    assert a == b


def test_replay_errors() -> None:
    catalog = Catalog([LINEAR], registry=installed_node_types())
    history = start(Engine(catalog)).events
    with pytest.raises(ReplayError):
        fold([history[0], history[2]], catalog)
    state = fold(history[:1], catalog)
    assert state is not None
    with pytest.raises(ReplayError):
        apply_event(state, HistoryEvent("other", 2, 0, ev.TimerFired(timer_id="t")))
    assert fold([], catalog) is None


def test_decide_batch_equals_one_by_one() -> None:
    catalog = Catalog([LINEAR], registry=installed_node_types())
    inputs = [
        (StartWorkflow(request_id="r", execution_id="e", workflow_id="lin"), 1),
        (ActivityCompleted(execution_id="e", activity_id="a", attempt=1, result=1), 2),
        (ActivityCompleted(execution_id="e", activity_id="a", attempt=1, result=1), 3),
        (ActivityCompleted(execution_id="e", activity_id="b", attempt=1, result=2), 4),
    ]
    batch = Engine(catalog).decide_batch(None, inputs)
    engine = Engine(catalog)
    state = None
    single: list[HistoryEvent] = []
    for inp, now in inputs:
        d = engine.decide(state, inp, now)
        state = d.state
        single.extend(d.events)
    assert batch.events == single
    assert [e.event_id for e in single] == list(range(1, len(single) + 1))


def test_same_input_same_events() -> None:
    runs = []
    for _ in range(2):
        engine = Engine(Catalog([LINEAR], registry=installed_node_types()))
        d = start(engine)
        d2 = engine.decide(
            d.state, ActivityFailed(execution_id="e1", activity_id="a", attempt=1, error=ERR), 9
        )
        runs.append([e.to_dict() for e in d.events + d2.events])
    assert runs[0] == runs[1]
