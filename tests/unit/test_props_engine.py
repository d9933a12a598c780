"""Property tests: generated workflows (random DAGs of activities, if nodes, fan-outs, joins,
waits, signal waits with timeouts, parallel and while loops) driven by generated interleavings
with duplicated, reordered and late inputs, cancels and terminates. For every case:

- determinism: the same inputs at the same times give the same events;
- duplicate-freedom: re-delivering an input already delivered gives no events, and nothing
  comes after the terminal event;
- replay equivalence: folding the history through the appliers gives exactly the state the
  deciders worked on (also restoring a saved state mid-run and going on from it);
- every execution ends in exactly one terminal event, the last one.

Together the tests below run 1,100 generated cases (max_examples is set on each).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from linkflow.engine import (
    ActivityCompleted,
    ActivityFailed,
    ActivityStarted,
    ActivityTask,
    CancelWorkflow,
    Engine,
    EngineInput,
    Error,
    ExecutionState,
    FireTimer,
    HistoryEvent,
    ScheduleTimer,
    SignalWorkflow,
    StartWorkflow,
    TerminateWorkflow,
    fold,
)
from linkflow.engine.events import TERMINAL_EVENT_TYPES
from linkflow.expr import compile_expression
from linkflow.model import Catalog
from linkflow.worker.registry import installed_node_types

# cel-python raises the recursion limit the first time it runs; do that before hypothesis
# starts watching it.
compile_expression("trigger.a + 1").evaluate({"trigger": {"a": 1}})

SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
EXECUTION = "exec-1"


@st.composite
def workflows(draw: st.DrawFn, loops: bool = True) -> dict[str, Any]:
    """A random valid DAG. Every node hangs off one or two earlier nodes, so it is acyclic and
    reachable; handles are valid for their source; loop bodies are one activity deep."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "trigger"}]
    edges: list[dict[str, Any]] = []
    attach: list[tuple[str, tuple[str, ...]]] = [("start", ("success",))]
    count = draw(st.integers(1, 7))
    for i in range(count):
        node_id = f"n{i}"
        kind = draw(
            st.sampled_from(
                ["job", "job", "job", "if", "wait", "join"] + (["parallel"] if loops else [])
            )
        )
        if kind == "job":
            spec: dict[str, Any] = {"id": node_id, "type": "http", "config": {"url": f"u{i}"}}
            if draw(st.booleans()):
                spec["retry"] = {
                    "max_attempts": draw(st.integers(1, 3)),
                    "initial_interval": draw(st.sampled_from([0, 1000])),
                    "jitter": 0.5,
                }
            if draw(st.booleans()):
                spec["timeout"] = {"start_to_close": "5s"}
            handles: tuple[str, ...] = ("success", "error")
        elif kind == "if":
            spec = {"id": node_id, "type": "if", "config": {"condition": f"trigger.flags[{i}]"}}
            handles = ("true", "false")
        elif kind == "wait":
            spec = {"id": node_id, "type": "wait", "config": {"duration": "1s"}}
            handles = ("success",)
        elif kind == "signal":
            spec = {
                "id": node_id,
                "type": "wait_for_signal",
                "config": {"signal": "go", "timeout": "10s"},
            }
            handles = ("success", "timeout")
        elif kind == "while":
            spec = {
                "id": node_id,
                "type": "while",
                "config": {"condition": "loop.index < trigger.rounds", "max_iterations": 2},
            }
            body = f"b{i}"
            nodes.append({"id": body, "type": "http", "config": {"url": "{{ loop.index }}"}})
            edges.append({"source": node_id, "target": body, "handle": "loop_body"})
            handles = ("loop_done", "error")
        elif kind == "join":
            spec = {
                "id": node_id,
                "type": "merge",
                "config": {"mode": draw(st.sampled_from(["all", "first"]))},
            }
            handles = ("success",)
        else:
            spec = {
                "id": node_id,
                "type": "parallel",
                "config": {"items": "trigger.items", "concurrency": draw(st.integers(0, 2))},
            }
            body = f"b{i}"
            nodes.append(
                {
                    "id": body,
                    "type": "http",
                    "config": {"url": "{{ parallel.item }}"},
                    "retry": {"max_attempts": 2, "initial_interval": 0},
                }
            )
            edges.append({"source": node_id, "target": body, "handle": "loop_body"})
            handles = ("loop_done", "error")
        nodes.append(spec)
        sources = draw(
            st.lists(
                st.sampled_from(attach),
                min_size=1,
                max_size=2 if kind != "join" else 3,
                unique_by=lambda a: a[0],
            )
        )
        for source, source_handles in sources:
            handle = draw(st.sampled_from(source_handles))
            edges.append({"source": source, "target": node_id, "handle": handle})
        attach.append((node_id, handles))
    settings_doc: dict[str, Any] = {}
    if draw(st.booleans()):
        settings_doc["execution_timeout"] = "1m"
    return {"id": "gen", "version": 1, "nodes": nodes, "edges": edges, "settings": settings_doc}


@dataclass
class Driver:
    """Delivers inputs to one execution in an order the test draws, with duplicates and late
    results, and checks every decision as it goes."""

    engine: Engine
    catalog: Catalog
    data: st.DataObject
    allow_cancel: bool = False
    now: int = 1_000_000
    state: ExecutionState | None = None
    history: list[HistoryEvent] = field(default_factory=list)
    delivered: list[tuple[EngineInput, int]] = field(default_factory=list)
    pool: list[EngineInput | ActivityTask] = field(default_factory=list)
    fire_at: dict[str, int] = field(default_factory=dict)
    checkpoint: tuple[int, str] | None = None

    def deliver(self, inp: EngineInput, duplicate: bool = False) -> None:
        if isinstance(inp, FireTimer):
            self.now = max(self.now, self.fire_at.get(inp.timer_id, self.now))
        else:
            self.now += self.data.draw(st.integers(0, 3000), label="dt")
        decision = self.engine.decide(self.state, inp, self.now)
        self.state = decision.state
        self.delivered.append((inp, self.now))
        events = decision.events
        if duplicate or (self.history and self.history[-1].is_terminal):
            assert events == [], f"{inp} gave {[e.event_type for e in events]}"
        if events:
            assert events[0].event_id == len(self.history) + 1
            assert [e.event_id for e in events] == list(
                range(events[0].event_id, events[-1].event_id + 1)
            )
            terminal = [e for e in events if e.is_terminal]
            assert len(terminal) <= 1 and (not terminal or terminal[0] is events[-1])
        self.history.extend(events)
        for effect in decision.effects:
            if isinstance(effect, ActivityTask):
                self.pool.append(effect)
            elif isinstance(effect, ScheduleTimer):
                self.fire_at[effect.timer_id] = effect.fire_at_ms
                self.pool.append(
                    FireTimer(
                        execution_id=EXECUTION,
                        timer_id=effect.timer_id,
                        fired_at_ms=effect.fire_at_ms,
                    )
                )

    def outcome(self, task: ActivityTask) -> list[EngineInput]:
        """What a worker sends back for a task (possibly nothing: a lost task)."""
        kinds = ["ok", "ok", "fail", "fatal"]
        if task.start_to_close_ms is not None:
            kinds.append("lost")
        kind = self.data.draw(st.sampled_from(kinds), label="outcome")
        started = ActivityStarted(
            execution_id=EXECUTION, activity_id=task.activity_id, attempt=task.attempt
        )
        prefix: list[EngineInput] = (
            [started] if self.data.draw(st.booleans(), label="started") else []
        )
        if kind == "lost":
            return prefix
        if kind == "ok":
            return [
                *prefix,
                ActivityCompleted(
                    execution_id=EXECUTION,
                    activity_id=task.activity_id,
                    attempt=task.attempt,
                    result={"n": task.attempt},
                ),
            ]
        error = Error(
            type="Boom" if kind == "fail" else "Fatal", message="x", retryable=kind == "fail"
        )
        return [
            *prefix,
            ActivityFailed(
                execution_id=EXECUTION,
                activity_id=task.activity_id,
                attempt=task.attempt,
                error=error,
            ),
        ]

    def step(self, extras: bool) -> None:
        # 0..6: progress (the minimal choice, so shrinking heads for plain runs); then a
        # duplicate, a cancel or terminate, a save-and-restore of the state.
        choice = self.data.draw(st.integers(0, 9), label="action") if extras else 0
        if choice == 7 and self.delivered:
            inp, _ = self.data.draw(st.sampled_from(self.delivered), label="dup")
            self.deliver(inp, duplicate=True)
            return
        if choice == 8 and self.allow_cancel:
            request = f"ctl-{len(self.delivered)}"
            if self.data.draw(st.booleans(), label="cancel or terminate"):
                self.deliver(
                    CancelWorkflow(request_id=request, execution_id=EXECUTION, reason="prop")
                )
            else:
                self.deliver(
                    TerminateWorkflow(request_id=request, execution_id=EXECUTION, reason="prop")
                )
            return
        if choice == 9 and self.checkpoint is None and self.state is not None:
            # Save the state as a processor would, and go on from the restored copy.
            saved = json.dumps(self.state.to_dict())
            self.checkpoint = (len(self.history), saved)
            self.state = ExecutionState.from_dict(json.loads(saved), self.catalog)
            return
        index = self.data.draw(st.integers(0, len(self.pool) - 1), label="pick")
        item = self.pool.pop(index)
        if isinstance(item, ActivityTask):
            for inp in self.outcome(item):
                self.deliver(inp)
        else:
            self.deliver(item)

    def run(self, start: StartWorkflow) -> None:
        self.deliver(start)
        for k in range(2):  # signals for wait_for_signal nodes (others time out)
            self.pool.append(
                SignalWorkflow(
                    request_id=f"sig-{k}", execution_id=EXECUTION, signal_name="go", payload=k
                )
            )
        steps = 0
        while self.pool:
            self.step(extras=steps < 60)
            steps += 1
        assert self.state is not None
        assert self.state.is_closed, f"stuck: {self.state.status}, pool empty={not self.pool}"
        # After the end, anything more is ignored.
        for inp, _ in self.delivered[-3:]:
            self.deliver(inp, duplicate=True)


def check(driver: Driver, doc: dict[str, Any]) -> None:
    history = driver.history
    assert driver.state is not None
    terminals = [e for e in history if e.event_type in TERMINAL_EVENT_TYPES]
    assert len(terminals) == 1 and terminals[0] is history[-1]
    event(f"ends {terminals[0].event_type}")
    kinds = (
        "NodeSkipped",
        "ActivityTaskTimedOut",
        "MarkerRecorded",
        "TimerFired",
        "WorkflowExecutionSignaled",
    )
    for kind in kinds:
        if any(e.event_type == kind for e in history):
            event(f"has {kind}")
    if any(e.event_type == "NodeFailed" and e.attributes.routed for e in history):
        event("has routed failure")
    assert [e.event_id for e in history] == list(range(1, len(history) + 1))
    # replay equivalence
    replayed = fold(history, driver.catalog)
    assert replayed is not None
    assert json.dumps(replayed.to_dict()) == json.dumps(driver.state.to_dict())
    if driver.checkpoint is not None:
        upto, saved = driver.checkpoint
        partial = fold(history[:upto], driver.catalog)
        assert partial is not None and json.dumps(partial.to_dict()) == saved
    # determinism: the same inputs at the same times, on a fresh engine
    catalog = Catalog([doc], registry=installed_node_types())
    engine = Engine(catalog)
    state = None
    again: list[HistoryEvent] = []
    for inp, now in driver.delivered:
        decision = engine.decide(state, inp, now)
        state = decision.state
        again.extend(decision.events)
    assert [e.to_dict() for e in again] == [e.to_dict() for e in history]


def start_input(data: st.DataObject) -> StartWorkflow:
    flags = data.draw(st.lists(st.booleans(), min_size=8, max_size=8), label="flags")
    items = data.draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3), label="items")
    return StartWorkflow(
        request_id="start-1",
        execution_id=EXECUTION,
        workflow_id="gen",
        input={"flags": flags, "items": items},
    )


@settings(max_examples=500, **SETTINGS)
@given(doc=workflows(), data=st.data())
def test_props_generated_workflows_and_interleavings(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    catalog = Catalog([doc], registry=installed_node_types())
    driver = Driver(Engine(catalog), catalog, data)
    driver.run(start_input(data))
    check(driver, doc)


@settings(max_examples=350, **SETTINGS)
@given(doc=workflows(), data=st.data())
def test_props_cancel_and_terminate_anywhere(doc: dict[str, Any], data: st.DataObject) -> None:
    catalog = Catalog([doc], registry=installed_node_types())
    driver = Driver(Engine(catalog), catalog, data, allow_cancel=True)
    driver.run(start_input(data))
    check(driver, doc)


FAN = {
    "id": "gen",
    "version": 1,
    "nodes": [{"id": "start", "type": "trigger"}]
    + [
        {
            "id": f"a{i}",
            "type": "http",
            "config": {"url": "u"},
            "retry": {"max_attempts": 3, "initial_interval": "1s"},
            "timeout": {"start_to_close": "10s"},
        }
        for i in range(4)
    ]
    + [
        {"id": "join", "type": "merge"},
        {"id": "last", "type": "http", "config": {"url": "{{ nodes.join }}"}},
    ],
    "edges": [{"source": "start", "target": f"a{i}"} for i in range(4)]
    + [
        {"source": f"a{i}", "target": "join", "handle": h}
        for i in range(4)
        for h in ("success", "error")
    ]
    + [{"source": "join", "target": "last"}],
}


@settings(max_examples=250, **SETTINGS)
@given(data=st.data())
def test_props_fan_out_join_with_duplicates_and_late_results(data: st.DataObject) -> None:
    catalog = Catalog([FAN], registry=installed_node_types())
    driver = Driver(Engine(catalog), catalog, data)
    driver.run(start_input(data))
    check(driver, FAN)
