"""Cancel and terminate from every state; fail and terminate nodes; exactly one terminal event."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.engine import CancelWorkflow, TerminateWorkflow
from linkflow.engine.events import TERMINAL_EVENT_TYPES
from linkflow.testing import (
    NO_REPLY,
    ActivityError,
    WorkflowFailedError,
    WorkflowTestEnv,
    node,
    trigger,
    with_options,
    workflow,
)
from linkflow.worker.registry import installed_node_types

CHILD = workflow("child", [trigger(), node("w", "wait_for_signal", signal="never")], ["start -> w"])


def hang(_: Any) -> Any:
    return NO_REPLY


def always_fail(_: Any) -> Any:
    raise ActivityError("Down", "down")


SCENARIOS: dict[str, tuple[dict[str, Any], str]] = {
    # name: (node after the trigger, what it leaves pending)
    "running activity": (node("x", "http", url="u"), "ActivityTaskCanceled"),
    "waiting timer": (node("x", "wait", duration="1h"), "TimerCanceled"),
    "waiting signal": (node("x", "wait_for_signal", signal="go"), ""),
    "signal with timeout": (node("x", "approval", timeout="1h"), "TimerCanceled"),
    "in retry backoff": (
        with_options(node("x", "flaky"), retry={"max_attempts": 5, "initial_interval": "1m"}),
        "TimerCanceled",
    ),
    "in a child": (node("x", "subworkflow", workflow_id="child"), ""),
    "in a loop": (node("x", "parallel", items="[1, 2]"), "ActivityTaskCanceled"),
}


def scenario_env(name: str) -> tuple[WorkflowTestEnv, Any]:
    spec, _ = SCENARIOS[name]
    nodes = [trigger(), spec]
    edges = ["start -> x"]
    if spec["type"] == "parallel":
        nodes.append(node("body", "http", url="u"))
        edges.append("x -loop_body-> body")

    registry = installed_node_types().copy()
    registry.register_activity("flaky")
    env = WorkflowTestEnv(
        [workflow("wf", nodes, edges), CHILD],
        handlers={"http": hang, "flaky": always_fail},
        registry=registry,
    )
    return env, env.start("wf", execution_id="e1")


def terminal_count(run) -> int:
    return sum(1 for t in run.event_types() if t in TERMINAL_EVENT_TYPES)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cancel_from_every_state(name: str) -> None:
    env, run = scenario_env(name)
    assert run.status == "running"
    pending = SCENARIOS[name][1]
    run.cancel("user asked")
    types = run.event_types()
    assert types[-1] == "WorkflowExecutionCanceled"
    cancel_at = types.index("WorkflowExecutionCancelRequested")
    tail = types[cancel_at + 1 : -1]
    assert all(t in ("ActivityTaskCanceled", "TimerCanceled") for t in tail)
    if pending:
        assert pending in tail
    assert terminal_count(run) == 1
    assert not run.state.activities or not any(r.pending for r in run.state.activities.values())
    assert run.state.timers == {}
    env.assert_replays(run.execution_id)
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    assert info.value.status == "canceled"
    if name == "in a child":
        child = env.run(next(e for e in env.executions() if e != "e1"))
        assert child.status == "canceled"  # the cancel reached the child
        assert len(run.history) == len(types)  # its outcome changed nothing in the parent
    # nothing time can bring changes it either
    env.advance(seconds=7200)
    assert run.event_types() == types


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_terminate_from_every_state(name: str) -> None:
    env, run = scenario_env(name)
    run.terminate("stop now")
    types = run.event_types()
    assert types[-1] == "WorkflowExecutionTerminated"
    assert "WorkflowExecutionCancelRequested" not in types
    assert terminal_count(run) == 1
    assert run.history[-1].attributes.reason == "stop now"
    env.assert_replays(run.execution_id)
    if name == "in a child":
        child = env.run(next(e for e in env.executions() if e != "e1"))
        assert child.status == "terminated"


def test_cancel_and_terminate_after_finish_give_no_events() -> None:
    doc = workflow("done", [trigger()])
    env = WorkflowTestEnv([doc])
    run = env.start("done")
    assert run.status == "completed"
    before = len(run.history)
    run.cancel()
    run.terminate()
    env.send(CancelWorkflow(request_id="c", execution_id=run.execution_id))
    assert len(run.history) == before


def test_duplicate_cancel_and_terminate_give_no_events() -> None:
    env, run = scenario_env("waiting signal")
    cancel = CancelWorkflow(request_id="c1", execution_id="e1", reason="r")
    env.send(cancel)
    before = len(run.history)
    env.send(cancel)
    env.send(TerminateWorkflow(request_id="t1", execution_id="e1"))
    assert len(run.history) == before
    env2, run2 = scenario_env("waiting signal")
    terminate = TerminateWorkflow(request_id="t1", execution_id="e1")
    env2.send(terminate)
    n = len(run2.history)
    env2.send(terminate)
    assert len(run2.history) == n


def test_cancel_after_failure_gives_no_events() -> None:
    doc = workflow("f", [trigger(), node("f", "fail", message="nope")], ["start -> f"])
    env = WorkflowTestEnv([doc])
    run = env.start("f")
    assert run.status == "failed"
    n = len(run.history)
    run.cancel()
    assert len(run.history) == n


def test_fail_node_fails_execution_with_its_error() -> None:
    doc = workflow(
        "f",
        [
            trigger(),
            node("other", "wait", duration="1h"),
            node("f", "fail", message="bad order {{ trigger.id }}", error_type="OrderRejected"),
        ],
        ["start -> other", "start -> f"],
    )
    run = WorkflowTestEnv([doc]).start("f", {"id": 3})
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    error = info.value.error
    assert error is not None and (error.type, error.message, error.node_id) == (
        "OrderRejected",
        "bad order 3",
        "f",
    )
    assert run.event_types()[-3:] == ["NodeFailed", "TimerCanceled", "WorkflowExecutionFailed"]


def test_terminate_node_ends_everything() -> None:
    doc = workflow(
        "t",
        [
            trigger(),
            node("slow", "http", url="u"),
            node("stop", "terminate", reason="enough: {{ trigger.why }}"),
        ],
        ["start -> slow", "start -> stop"],
    )
    env = WorkflowTestEnv([doc], handlers={"http": hang})
    run = env.start("t", {"why": "testing"})
    assert run.status == "terminated"
    last = run.history[-1].attributes
    assert (last.reason, last.identity) == ("enough: testing", "node:stop")
    assert "ActivityTaskCanceled" in run.event_types()
    assert terminal_count(run) == 1
