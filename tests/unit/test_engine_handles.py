"""Every handle of every node type is taken at least once; every type that evaluates something
routes an evaluation failure to its error handle."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.model import NodeKind, default_registry
from linkflow.testing import Delayed, WorkflowTestEnv, node, trigger, with_options, workflow

BROKEN = "{{ trigger.nope.deeper }}"  # compiles, fails at run time (no such key)

# type -> config whose evaluation fails at run time
FAILING_CONFIG: dict[str, dict[str, Any]] = {
    "if": {"condition": "trigger.nope.deeper"},
    "switch": {"cases": [{"name": "x", "when": "trigger.nope.deeper"}]},
    "foreach": {"items": "trigger.nope.deeper"},
    "parallel": {"items": "trigger.nope.deeper"},
    "while": {"condition": "trigger.nope.deeper", "max_iterations": 3},
    "wait": {"duration": BROKEN},
    "subworkflow": {"workflow_id": "child", "input": BROKEN},
    "set": {"values": {"a": BROKEN}},
    "transform": {"value": BROKEN},
    "http": {"url": BROKEN},
}


@pytest.mark.parametrize("node_type", sorted(FAILING_CONFIG))
def test_error_handle_catches_evaluation_failures(node_type: str) -> None:
    spec = {"id": "x", "type": node_type, "config": FAILING_CONFIG[node_type]}
    nodes = [trigger(), spec, node("caught", "transform", value="{{ nodes.x.error.type }}")]
    edges = ["start -> x", "x -error-> caught"]
    if node_type in ("foreach", "parallel", "while"):
        nodes.append(node("body", "noop"))
        edges.append("x -loop_body-> body")
    child = workflow("child", [trigger()])
    env = WorkflowTestEnv([workflow("wf", nodes, edges), child], handlers={"noop": lambda _: None})
    run = env.start("wf", {})
    assert run.result() == "ExpressionError"
    failed = run.events("NodeFailed")[0].attributes
    assert (failed.node_id, failed.routed) == ("x", True)


def test_every_handle_of_every_builtin_type_is_exercised() -> None:
    """Keeps this file honest: the handles below are all taken by tests in this suite."""
    taken = {
        ("trigger", "success"), ("start", "success"),
        ("if", "true"), ("if", "false"), ("if", "error"),
        ("switch", "case:*"), ("switch", "default"), ("switch", "error"),
        ("merge", "success"),
        ("foreach", "loop_body"), ("foreach", "loop_done"), ("foreach", "error"),
        ("parallel", "loop_body"), ("parallel", "loop_done"), ("parallel", "error"),
        ("while", "loop_body"), ("while", "loop_done"), ("while", "error"),
        ("wait", "success"), ("wait", "error"),
        ("wait_for_signal", "success"), ("wait_for_signal", "timeout"),
        ("wait_for_signal", "error"),
        ("approval", "true"), ("approval", "false"), ("approval", "timeout"), ("approval", "error"),
        ("subworkflow", "success"), ("subworkflow", "error"),
        ("set", "success"), ("set", "error"), ("transform", "success"), ("transform", "error"),
    }  # fmt: skip
    for node_type in default_registry():
        for handle in node_type.handles:
            if node_type.kind is NodeKind.ACTIVITY:
                continue  # activities: success/error, covered for every activity type below
            assert (node_type.name, handle) in taken, (node_type.name, handle)


@pytest.mark.parametrize(
    ("node_type", "config"),
    [
        ("http", {"url": "u"}),
        ("code", {"source": "x"}),
        ("kafka_publish", {"topic": "t", "value": 1}),
        ("noop", {}),
        ("echo", {"value": 1}),
        ("sleep", {"duration": "1s"}),
    ],
)
@pytest.mark.parametrize("outcome", ["success", "error"])
def test_activity_types_success_and_error(
    node_type: str, config: dict[str, Any], outcome: str
) -> None:
    doc = workflow(
        "act",
        [
            {"id": "begin", "type": "start"},
            {"id": "x", "type": node_type, "config": config},
            node("ok", "transform", value="ok"),
            node("bad", "transform", value="bad"),
        ],
        ["begin -> x", "x -> ok", "x -error-> bad"],
    )

    def handler(_: Any) -> Any:
        if outcome == "error":
            raise RuntimeError("no")
        return Delayed(1000, "done")

    run = WorkflowTestEnv([doc], handlers={node_type: handler}).start("act")
    assert run.result() == ("ok" if outcome == "success" else "bad")
    assert run.events("ActivityTaskScheduled")[0].attributes.node_type == node_type


def test_signal_wait_error_handle_when_timeout_has_no_edge() -> None:
    for kind in ("wait_for_signal", "approval"):
        doc = workflow(
            "sw",
            [
                trigger(),
                {"id": "s", "type": kind, "config": {"signal": "go", "timeout": "1s"}},
                node("caught", "transform", value="{{ nodes.s.error.type }}"),
            ],
            ["start -> s", "s -error-> caught"],
        )
        assert WorkflowTestEnv([doc]).start("sw").result() == "Timeout"


def test_task_queue_resolution() -> None:
    doc = workflow(
        "q",
        [
            trigger(),
            node("a", "http", url="u"),  # the type's default queue
            with_options(node("b", "noop"), task_queue="special"),  # the node's
            node("c", "noop"),  # the workflow's
        ],
        ["start -> a", "start -> b", "start -> c"],
        task_queue="wfq",
    )
    env = WorkflowTestEnv([doc], handlers={"http": lambda _: 1, "noop": lambda _: 1})
    run = env.start("q")
    run.result()
    assert [(t.node_id, t.task_queue) for t in env.tasks] == [
        ("a", "http"),
        ("b", "special"),
        ("c", "wfq"),
    ]


def test_running_execution_stays_on_its_version() -> None:
    v1 = workflow(
        "ver",
        [trigger(), node("w", "wait", duration="1m"), node("t", "transform", value="v1")],
        ["start -> w", "w -> t"],
    )
    v2 = {**v1, "version": 2, "nodes": [*v1["nodes"][:2], node("t", "transform", value="v2")]}
    env = WorkflowTestEnv([v1])
    old = env.start("ver")
    env.register(v2)
    new = env.start("ver")
    assert (old.state.workflow_version, new.state.workflow_version) == (1, 2)
    assert old.result() == "v1" and new.result() == "v2"
    pinned = env.start("ver", version=1)
    assert pinned.result() == "v1"
