"""Sequence, parallel branches and joins, if/switch with dead-path elimination, merge,
set/transform, and the workflow output."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.engine import ActivityCompleted, Engine, StartWorkflow
from linkflow.model import Catalog
from linkflow.testing import WorkflowFailedError, WorkflowTestEnv, chain, node, trigger, workflow
from linkflow.worker.registry import installed_node_types


def echo(payload: dict[str, Any]) -> Any:
    return payload.get("value")


def env_for(*docs: dict[str, Any], **handlers: Any) -> WorkflowTestEnv:
    return WorkflowTestEnv(list(docs), handlers={"echo": echo, "noop": lambda _: None, **handlers})


def node_events(run, event_type: str) -> list[tuple[str, str]]:
    return [(e.attributes.node_id, e.attributes.scope) for e in run.events(event_type)]


def test_linear_three_activities_exact_history() -> None:
    doc = workflow(
        "lin",
        [
            trigger(),
            node("a", "echo", value="{{ trigger.x }}"),
            node("b", "echo", value="{{ nodes.a + 1 }}"),
            node("c", "echo", value="{{ nodes.b * 10 }}"),
        ],
        chain("start", "a", "b", "c"),
    )
    env = env_for(doc)
    run = env.start("lin", {"x": 1})
    assert run.result() == 20
    assert run.event_types() == [
        "WorkflowExecutionStarted",
        "NodeCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskCompleted",
        "NodeCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskCompleted",
        "NodeCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskCompleted",
        "NodeCompleted",
        "WorkflowExecutionCompleted",
    ]
    assert [e.event_id for e in run.history] == list(range(1, 13))
    assert {e.timestamp_ms for e in run.history} == {env.now_ms}
    env.assert_replays(run.execution_id)


def test_independent_branches_run_in_parallel_and_join() -> None:
    doc = workflow(
        "fan",
        [
            trigger(),
            node("a", "echo", value=1),
            node("b", "echo", value=2),
            node("c", "echo", value=3),
            node("join", "transform", value="{{ nodes.a + nodes.b + nodes.c }}"),
        ],
        ["start -> a", "start -> b", "start -> c", "a -> join", "b -> join", "c -> join"],
    )
    engine = Engine(Catalog([doc], registry=installed_node_types()))
    decision = engine.decide(
        None, StartWorkflow(request_id="r", execution_id="e", workflow_id="fan"), 0
    )
    scheduled = [
        e.attributes.node_id for e in decision.events if e.event_type == "ActivityTaskScheduled"
    ]
    assert scheduled == ["a", "b", "c"]  # all three at once
    state = decision.state
    for activity, value in (("c", 3), ("a", 1)):
        d = engine.decide(
            state,
            ActivityCompleted(execution_id="e", activity_id=activity, attempt=1, result=value),
            1,
        )
        assert [e.event_type for e in d.events] == ["ActivityTaskCompleted", "NodeCompleted"]
    d = engine.decide(
        state, ActivityCompleted(execution_id="e", activity_id="b", attempt=1, result=2), 2
    )
    assert [e.event_type for e in d.events][-2:] == ["NodeCompleted", "WorkflowExecutionCompleted"]
    assert state.output == 6


@pytest.mark.parametrize(("n", "taken", "skipped"), [(9, "big", "small"), (1, "small", "big")])
def test_if_branches_rejoin_with_dead_path_elimination(n: int, taken: str, skipped: str) -> None:
    doc = workflow(
        "if",
        [
            trigger(),
            node("check", "if", condition="trigger.n > 5"),
            node("big", "echo", value="big"),
            node("big2", "echo", value="big2"),
            node("small", "echo", value="small"),
            node("after", "transform", value="{{ trigger.n }}"),
        ],
        [
            "start -> check",
            "check -true-> big",
            "big -> big2",
            "check -false-> small",
            "big2 -> after",
            "small -> after",
        ],
    )
    run = env_for(doc).start("if", {"n": n})
    assert run.result() == n
    skipped_nodes = [node_id for node_id, _ in node_events(run, "NodeSkipped")]
    assert skipped in skipped_nodes
    if skipped == "big":
        assert skipped_nodes == ["big", "big2"]  # the skip propagates down the dead branch
    assert run.node_output("check") == {"result": n > 5}
    completed = [
        e.attributes for e in run.events("NodeCompleted") if e.attributes.node_id == "check"
    ]
    assert completed[0].handle == ("true" if n > 5 else "false")
    assert run.node_output(taken) == taken


@pytest.mark.parametrize(
    ("n", "handle", "ran"),
    [(50, "case:big", "b"), (7, "case:mid", "m"), (1, "default", "d")],
)
def test_switch_cases_and_default(n: int, handle: str, ran: str) -> None:
    doc = workflow(
        "sw",
        [
            trigger(),
            node(
                "s",
                "switch",
                cases=[
                    {"name": "big", "when": "trigger.n > 10"},
                    {"name": "mid", "when": "trigger.n > 5"},
                ],
            ),
            node("b", "echo", value="b"),
            node("m", "echo", value="m"),
            node("d", "echo", value="d"),
            node("end", "merge"),
        ],
        [
            "start -> s",
            "s -case:big-> b",
            "s -case:mid-> m",
            "s -default-> d",
            "b -> end",
            "m -> end",
            "d -> end",
        ],
    )
    run = env_for(doc).start("sw", {"n": n})
    assert run.result() == {ran: ran}
    s_done = next(e.attributes for e in run.events("NodeCompleted") if e.attributes.node_id == "s")
    assert s_done.handle == handle
    assert sorted(n for n, _ in node_events(run, "NodeSkipped")) == sorted({"b", "m", "d"} - {ran})


def test_switch_on_value() -> None:
    doc = workflow(
        "sv",
        [
            trigger(),
            node(
                "s",
                "switch",
                value="trigger.kind",
                cases=[{"name": "a", "equals": "A"}, {"name": "b", "equals": "B"}],
            ),
            node("x", "echo", value="x"),
            node("y", "echo", value="y"),
        ],
        ["start -> s", "s -case:b-> x", "s -default-> y"],
    )
    env = env_for(doc)
    assert env.start("sv", {"kind": "B"}).result() == "x"
    assert env.start("sv", {"kind": "Z"}).result() == "y"
    # case a has no edge: the if/switch node itself is the exit
    assert env.start("sv", {"kind": "A"}).result() == {"case": "a"}


def test_merge_first_fires_on_first_branch() -> None:
    doc = workflow(
        "mf",
        [
            trigger(),
            node("fast", "echo", value="fast"),
            node("slow", "sleepy", value="slow"),
            {"id": "m", "type": "merge", "config": {"mode": "first"}},
            node("after", "transform", value="{{ nodes.m }}"),
        ],
        ["start -> fast", "start -> slow", "fast -> m", "slow -> m", "m -> after"],
    )
    from linkflow.testing import Delayed

    registry = installed_node_types().copy()
    registry.register_activity("sleepy")
    env = WorkflowTestEnv(
        [doc],
        handlers={"echo": echo, "sleepy": lambda p: Delayed(5000, p["value"])},
        registry=registry,
    )
    run = env.start("mf")
    # after ran before the slow branch finished
    assert run.node_output("after") == "fast"
    assert run.is_closed is False
    assert run.result() == "fast"
    assert run.node_output("slow") == "slow"  # it still ran to the end


def test_merge_all_collects_taken_branches_only() -> None:
    doc = workflow(
        "ma",
        [
            trigger(),
            node("c", "if", condition="false"),
            node("x", "echo", value="x"),
            node("y", "echo", value="y"),
            node("z", "echo", value="z"),
            node("m", "merge"),
        ],
        ["start -> c", "c -true-> x", "c -false-> y", "start -> z", "x -> m", "y -> m", "z -> m"],
    )
    assert env_for(doc).start("ma").result() == {"y": "y", "z": "z"}


def test_all_branches_dead_skips_join() -> None:
    doc = workflow(
        "dead",
        [
            trigger(),
            node("c", "if", condition="false"),
            node("x", "echo", value=1),
            node("j", "merge"),
            node("k", "noop"),
        ],
        ["start -> c", "c -true-> x", "x -> j", "j -> k"],
    )
    run = env_for(doc).start("dead")
    assert run.result() == {"result": False}
    assert [n for n, _ in node_events(run, "NodeSkipped")] == ["x", "j", "k"]


def test_set_updates_vars_and_transform() -> None:
    doc = workflow(
        "vars",
        [
            trigger(),
            node("s1", "set", values={"count": 1, "name": "{{ trigger.name }}"}),
            node("s2", "set", values={"count": "{{ vars.count + 1 }}"}),
            node(
                "t",
                "transform",
                value={"greeting": "hello {{ vars.name }}", "n": "{{ vars.count }}"},
            ),
        ],
        chain("start", "s1", "s2", "t"),
    )
    run = env_for(doc).start("vars", {"name": "ada"})
    assert run.result() == {"greeting": "hello ada", "n": 2}
    assert run.state.vars == {"count": 2, "name": "ada"}
    assert run.node_output("s1") == {"count": 1, "name": "ada"}


def test_output_expression_and_exit_nodes() -> None:
    nodes = [trigger(), node("a", "echo", value=1), node("b", "echo", value=2)]
    edges = ["start -> a", "start -> b"]
    env = env_for(
        workflow("exits", nodes, edges),
        workflow(
            "expr",
            nodes,
            edges,
            output={"sum": "{{ nodes.a + nodes.b }}", "id": "{{ execution.id }}"},
        ),
        workflow("bad", nodes, edges, output="{{ nodes.a.missing }}"),
    )
    assert env.start("exits").result() == {"a": 1, "b": 2}
    run = env.start("expr", execution_id="e-42")
    assert run.result() == {"sum": 3, "id": "e-42"}
    bad = env.start("bad")
    with pytest.raises(WorkflowFailedError) as info:
        bad.result()
    assert info.value.error is not None and info.value.error.type == "ExpressionError"
    assert "nodes.a.missing" in info.value.error.message


def test_expression_error_fails_the_node_not_the_engine() -> None:
    doc = workflow(
        "ee",
        [
            trigger(),
            node("a", "echo", value="{{ trigger.missing.deeper }}"),
            node("h", "echo", value="handled"),
        ],
        ["start -> a", "a -error-> h"],
    )
    run = env_for(doc).start("ee", {})
    assert run.result() == "handled"
    failed = run.events("NodeFailed")[0].attributes
    assert failed.node_id == "a" and failed.routed is True
    assert failed.error.type == "ExpressionError"
    assert "trigger.missing.deeper" in failed.error.message
    assert failed.error.details["field"] == "value"
    with pytest.raises(KeyError):
        run.node_output("a")  # no NodeCompleted for a
    assert run.state.node_output("a")["error"]["type"] == "ExpressionError"


def test_env_allow_list_and_execution_scope() -> None:
    doc = workflow(
        "envs",
        [
            trigger(),
            node(
                "t",
                "transform",
                value={"region": "{{ env.REGION }}", "wf": "{{ execution.workflow_id }}"},
            ),
        ],
        ["start -> t"],
    )
    env = WorkflowTestEnv([doc], env={"REGION": "eu"})
    assert env.start("envs").result() == {"region": "eu", "wf": "envs"}


def test_trigger_only_workflow_outputs_its_input() -> None:
    env = env_for(workflow("t", [trigger()]))
    assert env.start("t", {"a": 1}).result() == {"a": 1}
