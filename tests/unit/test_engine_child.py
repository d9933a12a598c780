"""subworkflow: the child runs as its own execution; the parent resumes on its outcome."""

from __future__ import annotations

import pytest

from linkflow.engine import ChildWorkflowOutcome, StartWorkflow
from linkflow.testing import (
    ActivityError,
    WorkflowFailedError,
    WorkflowTestEnv,
    node,
    trigger,
    workflow,
)

CHILD = workflow(
    "child",
    [
        trigger(),
        node("double", "transform", value="{{ trigger.n * 2 }}"),
        node("w", "wait", duration="10s"),
    ],
    ["start -> double", "double -> w"],
    output="{{ nodes.double }}",
)
FAILING_CHILD = workflow("bad_child", [trigger(), node("call", "http", url="u")], ["start -> call"])


def parent(child_id: str = "child", error_edge: bool = False, **config: object) -> dict:
    nodes = [
        trigger(),
        node("sub", "subworkflow", workflow_id=child_id, input={"n": "{{ trigger.n }}"}, **config),
    ]
    edges = ["start -> sub"]
    nodes.append(node("after", "transform", value="{{ nodes.sub }}"))
    edges.append("sub -> after")
    if error_edge:
        nodes.append(node("oops", "transform", value="{{ nodes.sub.error.details.cause.type }}"))
        edges.append("sub -error-> oops")
    return workflow("parent", nodes, edges)


def fail_http(_: object) -> object:
    raise ActivityError("Down", "service down")


def test_child_completes_and_parent_resumes() -> None:
    env = WorkflowTestEnv([parent(), CHILD])
    run = env.start("parent", {"n": 21}, execution_id="p")
    started = run.events("ChildWorkflowExecutionStarted")[0].attributes
    assert started.workflow_id == "child" and started.workflow_version == 1
    assert started.input == {"n": 21}
    child = env.run(started.child_execution_id)
    assert child.state.parent_execution_id == "p" and child.state.parent_node_id == "sub"
    assert child.history[0].attributes.parent_execution_id == "p"
    assert run.result() == 42
    assert "ChildWorkflowExecutionCompleted" in run.event_types()
    env.assert_replays("p")
    env.assert_replays(started.child_execution_id)


def test_child_failure_routes_to_error_edge() -> None:
    env = WorkflowTestEnv(
        [parent("bad_child", error_edge=True), FAILING_CHILD], handlers={"http": fail_http}
    )
    run = env.start("parent", {"n": 1})
    assert run.result() == "Down"
    failed = run.events("ChildWorkflowExecutionFailed")[0].attributes
    assert failed.error.type == "Down"


def test_child_failure_without_error_edge_fails_parent() -> None:
    env = WorkflowTestEnv([parent("bad_child"), FAILING_CHILD], handlers={"http": fail_http})
    run = env.start("parent", {"n": 1})
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    assert info.value.error is not None and info.value.error.type == "ChildWorkflowFailed"


def test_unknown_child_workflow_fails_the_node() -> None:
    doc = parent("nope", error_edge=True)
    env = WorkflowTestEnv([doc])
    run = env.start("parent", {"n": 1})
    failed = run.events("NodeFailed")[0].attributes
    assert failed.error.type == "UnknownWorkflow"


def test_pinned_child_version() -> None:
    child_v2 = {**CHILD, "version": 2, "settings": {"output": "v2"}}
    env = WorkflowTestEnv([parent(version=1), CHILD, child_v2])
    run = env.start("parent", {"n": 2})
    assert run.result() == 4
    env2 = WorkflowTestEnv([parent(), CHILD, child_v2])
    assert env2.start("parent", {"n": 2}).result() == "v2"


def test_child_start_is_idempotent_and_outcome_duplicates_ignored() -> None:
    env = WorkflowTestEnv([parent(), CHILD])
    run = env.start("parent", {"n": 1}, execution_id="p")
    child_id = run.events("ChildWorkflowExecutionStarted")[0].attributes.child_execution_id
    child = env.run(child_id)
    n_child = len(child.history)
    first_start = next(
        inp
        for _, inp in env.delivered
        if isinstance(inp, StartWorkflow) and inp.execution_id == child_id
    )
    env.send(first_start)
    assert len(child.history) == n_child
    run.result()
    n = len(run.history)
    env.send(
        ChildWorkflowOutcome(
            execution_id="p", child_execution_id=child_id, completed=True, output=1
        )
    )
    assert len(run.history) == n


def test_terminating_parent_terminates_child() -> None:
    env = WorkflowTestEnv([parent(), CHILD])
    run = env.start("parent", {"n": 1}, execution_id="p")
    child_id = run.events("ChildWorkflowExecutionStarted")[0].attributes.child_execution_id
    run.terminate("bye")
    assert env.run(child_id).status == "terminated"
    assert run.status == "terminated"
