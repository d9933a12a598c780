"""Reset (`linkflow.engine.reset`): a new run goes on from a point of another execution's
history, keeping what was done before it, and replays like any other history."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.engine.events import EXECUTION_RESET, HistoryEvent
from linkflow.engine.inputs import ResetWorkflow
from linkflow.engine.replay import replay
from linkflow.engine.reset import plan_reset
from linkflow.model import Catalog
from linkflow.testing import (
    NO_REPLY,
    ActivityError,
    WorkflowTestEnv,
    chain,
    node,
    trigger,
    workflow,
)
from linkflow.worker.registry import installed_node_types

ORDER = workflow(
    "order",
    [trigger(), node("fetch", "code", source="x"), node("charge", "http", url="http://pay")],
    chain("start", "fetch", "charge"),
)


class Calls:
    def __init__(self) -> None:
        self.fetch = 0
        self.charge = 0
        self.charge_fails = True

    def fetch_handler(self, _: Any) -> Any:
        self.fetch += 1
        return {"sku": "A"}

    def charge_handler(self, _: Any) -> Any:
        self.charge += 1
        if self.charge_fails:
            raise ActivityError("Declined", "card declined", retryable=False)
        return {"paid": True}


def _env(calls: Calls, *definitions: dict[str, Any]) -> WorkflowTestEnv:
    return WorkflowTestEnv(
        definitions or [ORDER],
        handlers={"code": calls.fetch_handler, "http": calls.charge_handler},
    )


def _event_id(history: list[HistoryEvent], event_type: str, node_id: str | None = None) -> int:
    return next(
        e.event_id
        for e in history
        if e.event_type == event_type
        and (node_id is None or getattr(e.attributes, "node_id", None) == node_id)
    )


def _marker(history: list[HistoryEvent]) -> dict[str, Any]:
    found = [
        e.attributes.details  # type: ignore[attr-defined]
        for e in history
        if e.event_type == "MarkerRecorded" and e.attributes.marker_name == EXECUTION_RESET  # type: ignore[attr-defined]
    ]
    assert len(found) == 1
    details: dict[str, Any] = found[0]
    return details


def test_a_failed_execution_reset_after_the_fix_runs_only_what_followed_the_cut() -> None:
    calls = Calls()
    env = _env(calls)
    source = env.start("order", {"n": 1}, execution_id="o-1", idempotency_key="k1")
    assert source.status == "failed"
    cut = _event_id(source.history, "NodeCompleted", "fetch")

    calls.charge_fails = False  # the cause is fixed
    env.advance(30)
    run = env.reset("o-1", cut, new_execution_id="o-1-again", reason="card fixed")

    assert run.status == "completed"
    assert run.node_output("charge") == {"paid": True}
    assert (calls.fetch, calls.charge) == (1, 2)  # fetch kept, charge run again
    history = run.history
    # fetch's NodeCompleted and charge's scheduling were one decision: both are kept.
    scheduled = _event_id(source.history, "ActivityTaskScheduled", "charge")
    assert scheduled > cut
    kept = [e.to_dict() for e in history[:scheduled]]
    expected = [{**e.to_dict(), "execution_id": "o-1-again"} for e in source.history[:scheduled]]
    expected[0]["attributes"]["idempotency_key"] = None
    assert kept == expected
    details = _marker(history)
    assert details["source_execution_id"] == "o-1"
    assert (details["reset_event_id"], details["last_event_id"]) == (cut, scheduled)
    assert details["reason"] == "card fixed"
    assert history[scheduled].timestamp_ms == env.now_ms  # the marker: now, after the copies
    # The copied charge attempt went to a worker again, for the new execution.
    again = [t for t in env.tasks if t.execution_id == "o-1-again"]
    assert [(t.node_id, t.attempt) for t in again] == [("charge", 1)]
    assert env.state("o-1").status == "failed"  # the source is left as it was
    env.assert_replays("o-1-again")
    catalog = Catalog([ORDER], registry=installed_node_types())
    result = replay(history, catalog)
    assert result.ok, result.divergence and result.divergence.describe()


def test_pending_timers_keep_the_time_they_had_left() -> None:
    doc = workflow(
        "pause",
        [trigger(), node("w", "wait", duration="60s"), node("after", "transform", value="ok")],
        chain("start", "w", "after"),
    )
    env = WorkflowTestEnv([doc])
    source = env.start("pause", execution_id="p-1")
    started = source.state.timers
    (timer,) = started.values()
    env.advance(10)
    env.terminate("p-1", "stuck")
    env.advance(50)  # the source's timer would have fired by now
    run = env.reset("p-1", _event_id(source.history, "TimerStarted"), new_execution_id="p-2")

    (moved,) = run.state.timers.values()
    last_kept = run.history[_marker(run.history)["last_event_id"] - 1]
    elapsed = env.now_ms - last_kept.timestamp_ms
    assert moved.fire_at_ms == timer.fire_at_ms + elapsed
    assert moved.fire_at_ms - env.now_ms == 60_000  # a full minute left, as at the cut
    env.advance(59.999)
    assert run.status == "running"
    env.advance(0.001)
    assert run.status == "completed"
    env.assert_replays("p-2")
    result = replay(run.history, Catalog([doc], registry=installed_node_types()))
    assert result.ok, result.divergence and result.divergence.describe()


def test_a_repeated_reset_command_is_a_duplicate_and_a_different_one_is_refused() -> None:
    calls = Calls()
    env = _env(calls)
    source = env.start("order", execution_id="o-1")
    cut = _event_id(source.history, "NodeCompleted", "fetch")
    calls.charge_fails = False
    env.reset("o-1", cut, new_execution_id="o-2", request_id="r-1")
    events = len(env.history("o-2"))
    command = ResetWorkflow(
        request_id="r-1",
        execution_id="o-2",
        source_execution_id="o-1",
        reset_event_id=cut,
        history=[e.to_dict() for e in source.history],
    )
    decision = env.engine.decide(env.state("o-2"), command, env.now_ms)
    assert (decision.ignored, decision.events, decision.refusal) == ("duplicate reset", [], None)
    other = ResetWorkflow(**{**_fields(command), "request_id": "r-2"})
    decision = env.engine.decide(env.state("o-2"), other, env.now_ms)
    assert decision.refusal is not None and decision.refusal.reason == "execution_exists"
    assert len(env.history("o-2")) == events


def _fields(command: ResetWorkflow) -> dict[str, Any]:
    return {k: v for k, v in command.to_dict().items() if k != "input_type"}


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("closing", "belongs to the decision that closed the execution"),
        ("beyond", "the history has events 1 to"),
        ("holes", "the history must be whole"),
        ("changed", "does not replay on this engine at event"),
    ],
)
def test_resets_that_cannot_be_done_are_refused_with_the_reason(case: str, problem: str) -> None:
    calls = Calls()
    env = _env(calls)
    source = env.start("order", execution_id="o-1")
    history = source.history
    event_id = _event_id(history, "NodeCompleted", "fetch")
    plans: Any = env.catalog
    if case == "closing":
        event_id = len(history)
    elif case == "beyond":
        event_id = len(history) + 1
    elif case == "holes":
        history = history[:3] + history[4:]
    elif case == "changed":
        changed = workflow(
            "order",
            [trigger(), node("fetch", "http", url="http://x"), node("charge", "http", url="u")],
            chain("start", "fetch", "charge"),
        )
        plans = Catalog([changed], registry=installed_node_types())
    plan = plan_reset(history, event_id, "o-2", plans)
    assert isinstance(plan, str) and problem in plan

    command = ResetWorkflow(
        request_id="r",
        execution_id="o-2",
        source_execution_id="o-1",
        reset_event_id=event_id,
        history=[e.to_dict() for e in history],
    )
    decision = env.engine.decide(None, command, env.now_ms)
    if case != "changed":  # the engine's own catalog still has the recorded version
        assert decision.refusal is not None and decision.refusal.reason == "bad_reset"
        assert problem in decision.refusal.detail and decision.events == []


def test_a_running_child_or_a_child_execution_cannot_be_reset() -> None:
    child = workflow("child", [trigger(), node("slow", "code", source="x")], chain("start", "slow"))
    parent = workflow(
        "parent",
        [trigger(), node("sub", "subworkflow", workflow_id="child"), node("end", "noop")],
        chain("start", "sub", "end"),
    )
    env = WorkflowTestEnv([child, parent], handlers={"code": lambda _: NO_REPLY, "noop": _none})
    source = env.start("parent", execution_id="par")
    (child_id,) = source.state.children
    started = _event_id(source.history, "ChildWorkflowExecutionStarted")
    plan = plan_reset(source.history, started, "par-2", env.catalog)
    assert isinstance(plan, str) and f"child execution {child_id!r}" in plan
    plan = plan_reset(env.history(child_id), 1, "c-2", env.catalog)
    assert isinstance(plan, str) and "reset the parent instead" in plan


def _none(_: Any) -> None:
    return None


def test_a_reset_of_a_reset_with_a_finished_child_replays() -> None:
    """Copied events name the source (its child executions' ids): replay decides them as
    the source's, for each reset of a chain."""
    child = workflow("child", [trigger(), node("work", "noop")], chain("start", "work"))
    parent = workflow(
        "parent",
        [
            trigger(),
            node("sub", "subworkflow", workflow_id="child"),
            node("charge", "http", url="http://pay"),
        ],
        chain("start", "sub", "charge"),
    )
    calls = Calls()
    env = WorkflowTestEnv([child, parent], handlers={"noop": _none, "http": calls.charge_handler})
    first = env.start("parent", execution_id="a")
    assert first.status == "failed"
    cut = _event_id(first.history, "ChildWorkflowExecutionCompleted")
    second = env.reset("a", cut, new_execution_id="b")
    assert second.status == "failed"  # charge still declines
    calls.charge_fails = False
    third = env.reset("b", len(second.history) - 3, new_execution_id="c")
    assert third.status == "completed"
    catalog = Catalog([child, parent], registry=installed_node_types())
    for run in (second, third):
        result = replay(run.history, catalog)
        assert result.ok, result.divergence and result.divergence.describe()
        env.assert_replays(run.execution_id)
    assert len([e for e in third.history if e.event_type == "MarkerRecorded"]) == 2
