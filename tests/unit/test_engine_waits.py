"""wait (duration, until), wait_for_signal and approval (with timeouts), signal buffering."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.engine import SignalWorkflow
from linkflow.testing import (
    WorkflowFailedError,
    WorkflowStalled,
    WorkflowTestEnv,
    node,
    trigger,
    workflow,
)


def test_wait_duration_fires_after_the_clock_passes_it() -> None:
    doc = workflow(
        "w",
        [trigger(), node("w", "wait", duration="5s"), node("after", "transform", value="done")],
        ["start -> w", "w -> after"],
    )
    env = WorkflowTestEnv([doc])
    run = env.start("w")
    timer = run.events("TimerStarted")[0].attributes
    assert (timer.purpose, timer.node_id, timer.fire_at_ms - env.now_ms) == ("wait", "w", 5000)
    env.advance(seconds=4.999)
    assert run.is_closed is False
    env.advance(ms=1)
    assert run.status == "completed" and run.state.output == "done"
    assert run.event_types()[-4:] == [
        "TimerFired",
        "NodeCompleted",
        "NodeCompleted",
        "WorkflowExecutionCompleted",
    ]


def test_wait_until_and_templated_duration() -> None:
    doc = workflow(
        "until",
        [
            trigger(),
            node("w", "wait", until="{{ trigger.at }}"),
            node("d", "wait", duration="{{ trigger.delay }}"),
        ],
        ["start -> w", "w -> d"],
    )
    env = WorkflowTestEnv([doc], start_ms=0)
    run = env.start("until", {"at": "1970-01-01T00:00:10Z", "delay": "2s"})
    run.result()
    assert env.now_ms == 12_000
    past = env.start("until", {"at": 5, "delay": 0})  # already past: no timer
    assert past.status == "completed" and not past.events("TimerStarted")


def test_wait_with_bad_until_fails_node() -> None:
    doc = workflow("bad", [trigger(), node("w", "wait", until="{{ trigger.at }}")], ["start -> w"])
    run = WorkflowTestEnv([doc]).start("bad", {"at": "tomorrow"})
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    assert info.value.error is not None and info.value.error.type == "InvalidConfig"


def signal_doc(timeout: str | None = None, kind: str = "wait_for_signal") -> dict[str, Any]:
    config: dict[str, Any] = {"signal": "go"}
    if timeout:
        config["timeout"] = timeout
    nodes = [
        trigger(),
        {"id": "s", "type": kind, "config": config},
        node("after", "transform", value="{{ nodes.s }}"),
    ]
    edges = ["start -> s", "s -> after" if kind == "wait_for_signal" else "s -true-> after"]
    if timeout and kind == "wait_for_signal":
        nodes.append(node("late", "transform", value="timed out"))
        edges.append("s -timeout-> late")
    if kind == "approval":
        nodes.append(node("rejected", "transform", value="rejected"))
        edges.append("s -false-> rejected")
    return workflow("sig", nodes, edges)


def test_wait_for_signal_resumes_with_payload() -> None:
    env = WorkflowTestEnv([signal_doc()])
    run = env.start("sig")
    with pytest.raises(WorkflowStalled):
        run.result()
    marker = run.events("MarkerRecorded")[0].attributes
    assert marker.marker_name == "signal_wait_started"
    run.signal("other", 1)  # recorded, buffered, wakes nobody
    assert run.is_closed is False
    run.signal("go", {"x": 1})
    assert run.result() == {"x": 1}
    assert [e.attributes.signal_name for e in run.events("WorkflowExecutionSignaled")] == [
        "other",
        "go",
    ]
    env.assert_replays(run.execution_id)


def test_signal_before_wait_is_buffered() -> None:
    doc = workflow(
        "buf",
        [trigger(), node("w", "wait", duration="1m"), node("s", "wait_for_signal", signal="go")],
        ["start -> w", "w -> s"],
    )
    env = WorkflowTestEnv([doc])
    run = env.start("buf")
    run.signal("go", "early")
    assert run.result() == "early"
    assert run.state.signal_buffer == {}
    assert not run.events("MarkerRecorded")  # never had to wait


def test_one_signal_wakes_one_waiter() -> None:
    doc = workflow(
        "two",
        [
            trigger(),
            node("a", "wait_for_signal", signal="go"),
            node("b", "wait_for_signal", signal="go"),
        ],
        ["start -> a", "start -> b"],
    )
    env = WorkflowTestEnv([doc])
    run = env.start("two")
    run.signal("go", 1)
    assert run.is_closed is False
    assert run.state.node_status("a") == "completed" and run.state.node_status("b") == "waiting"
    run.signal("go", 2)
    assert run.result() == {"a": 1, "b": 2}


def test_duplicate_signal_request_is_ignored() -> None:
    env = WorkflowTestEnv([signal_doc()])
    run = env.start("sig")
    signal = SignalWorkflow(
        request_id="sig-1", execution_id=run.execution_id, signal_name="x", payload=1
    )
    env.send(signal)
    before = len(run.history)
    env.send(signal)
    assert len(run.history) == before


def test_signal_timeout_takes_timeout_handle() -> None:
    env = WorkflowTestEnv([signal_doc("30s")])
    run = env.start("sig")
    assert run.result() == "timed out"
    timer = run.events("TimerStarted")[0].attributes
    assert timer.purpose == "signal_timeout"
    completed = next(
        e.attributes for e in run.events("NodeCompleted") if e.attributes.node_id == "s"
    )
    assert completed.handle == "timeout"
    assert env.now_ms - run.history[0].timestamp_ms == 30_000


def test_signal_in_time_cancels_the_timeout() -> None:
    env = WorkflowTestEnv([signal_doc("30s")])
    run = env.start("sig")
    env.advance(seconds=10)
    run.signal("go", "yes")
    assert run.result() == "yes"
    assert len(run.events("TimerCanceled")) == 1
    assert env.next_due_ms() is None


def test_signal_timeout_without_timeout_edge_fails_the_node() -> None:
    doc = workflow(
        "nt", [trigger(), node("s", "wait_for_signal", signal="go", timeout="1s")], ["start -> s"]
    )
    run = WorkflowTestEnv([doc]).start("nt")
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    assert info.value.error is not None and info.value.error.type == "Timeout"


@pytest.mark.parametrize(
    ("payload", "result"),
    [
        ({"approved": True, "by": "ann"}, {"approved": True, "by": "ann"}),
        ({"approved": False}, "rejected"),
        (True, True),
    ],
)
def test_approval_routes_true_and_false(payload: Any, result: Any) -> None:
    doc = signal_doc(kind="approval")
    run = WorkflowTestEnv([doc]).start("sig")
    run.signal("go", payload)
    assert run.result() == result


def test_approval_default_signal_name_and_timeout() -> None:
    doc = workflow(
        "appr",
        [
            trigger(),
            node("ok", "approval", timeout="1h"),
            node("yes", "transform", value="yes"),
            node("expired", "transform", value="expired"),
        ],
        ["start -> ok", "ok -true-> yes", "ok -timeout-> expired"],
    )
    env = WorkflowTestEnv([doc])
    run = env.start("appr")
    assert run.state.signal_waiters == {"approval": [("", "ok")]}
    assert run.result() == "expired"
    run2 = env.start("appr")
    run2.signal("approval", {"approved": True})
    assert run2.result() == "yes"
