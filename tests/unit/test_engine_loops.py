"""foreach, parallel and while: scopes, concurrency caps, iteration results, failures."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.testing import (
    NO_REPLY,
    ActivityError,
    Delayed,
    WorkflowFailedError,
    WorkflowTestEnv,
    node,
    trigger,
    workflow,
)
from linkflow.worker.registry import installed_node_types


def echo(payload: dict[str, Any]) -> Any:
    return payload.get("value")


def max_in_flight(run) -> int:
    """Most activities outstanding at once, from the history."""
    live = 0
    best = 0
    for event in run.history:
        if event.event_type == "ActivityTaskScheduled":
            live += 1
            best = max(best, live)
        elif event.event_type in (
            "ActivityTaskCompleted",
            "ActivityTaskFailed",
            "ActivityTaskCanceled",
            "ActivityTaskTimedOut",
        ):
            live -= 1
    return best


def foreach_doc(
    concurrency: int | None = None, kind: str = "foreach", var: str = "loop"
) -> dict[str, Any]:
    config: dict[str, Any] = {"items": "trigger.xs"}
    if concurrency is not None:
        config["concurrency"] = concurrency
    return workflow(
        "fe",
        [
            trigger(),
            {"id": "l", "type": kind, "config": config},
            node("work", "slow", value="{{ " + var + ".item * 10 + " + var + ".index }}"),
            node("done", "transform", value="{{ nodes.l }}"),
        ],
        ["start -> l", "l -loop_body-> work", "l -loop_done-> done"],
    )


def slow_env(*docs: dict[str, Any], **handlers: Any) -> WorkflowTestEnv:

    registry = installed_node_types().copy()
    registry.register_activity("slow")
    base = {"slow": lambda p: Delayed(1000, p["value"]), "echo": echo}
    return WorkflowTestEnv(list(docs), handlers={**base, **handlers}, registry=registry)


@pytest.mark.parametrize(("concurrency", "expected"), [(None, 1), (1, 1), (2, 2), (0, 5)])
def test_foreach_concurrency_cap_and_ordered_results(
    concurrency: int | None, expected: int
) -> None:
    env = slow_env(foreach_doc(concurrency))
    run = env.start("fe", {"xs": [1, 2, 3, 4, 5]})
    assert run.result() == [10, 21, 32, 43, 54]
    assert max_in_flight(run) == expected
    scopes = [e.attributes.scope for e in run.events("ActivityTaskScheduled")]
    assert scopes == [f"l[{i}]" for i in range(5)]
    env.assert_replays(run.execution_id)


def test_parallel_defaults_to_unlimited_and_uses_parallel_vars() -> None:
    env = slow_env(foreach_doc(kind="parallel", var="parallel"))
    run = env.start("fe", {"xs": [1, 2, 3]})
    assert run.result() == [10, 21, 32]
    assert max_in_flight(run) == 3
    env.assert_replays(run.execution_id)


def test_parallel_with_cap() -> None:
    env = slow_env(foreach_doc(concurrency=2, kind="parallel", var="parallel"))
    run = env.start("fe", {"xs": [1, 2, 3, 4]})
    assert run.result() == [10, 21, 32, 43]
    assert max_in_flight(run) == 2


def test_foreach_empty_items_and_bad_items() -> None:
    env = slow_env(foreach_doc())
    assert env.start("fe", {"xs": []}).result() == []
    bad = env.start("fe", {"xs": 5})
    with pytest.raises(WorkflowFailedError) as info:
        bad.result()
    assert info.value.error is not None and info.value.error.type == "InvalidItems"
    assert info.value.error.node_id == "l"


def test_loop_markers_record_items_and_iterations() -> None:
    env = slow_env(foreach_doc(2))
    run = env.start("fe", {"xs": [7, 8]})
    run.result()
    markers = [
        (e.attributes.marker_name, e.attributes.details) for e in run.events("MarkerRecorded")
    ]
    assert markers[0] == ("loop_started", {"node_id": "l", "scope": "", "items": [7, 8]})
    assert markers[1:] == [
        ("iteration_started", {"node_id": "l", "scope": "", "index": 0}),
        ("iteration_started", {"node_id": "l", "scope": "", "index": 1}),
    ]


def test_iteration_with_several_exit_nodes_gives_a_dict() -> None:
    doc = workflow(
        "multi",
        [
            trigger(),
            node("l", "foreach", items="trigger.xs"),
            node("a", "echo", value="{{ loop.item }}"),
            node("b", "echo", value="{{ loop.index }}"),
        ],
        ["start -> l", "l -loop_body-> a", "l -loop_body-> b"],
    )
    env = slow_env(doc)
    assert env.start("multi", {"xs": ["x", "y"]}).result() == [
        {"a": "x", "b": 0},
        {"a": "y", "b": 1},
    ]


def test_body_nodes_see_outer_outputs_and_own_iteration() -> None:
    doc = workflow(
        "see",
        [
            trigger(),
            node("pre", "echo", value=100),
            node("l", "foreach", items="trigger.xs"),
            node("a", "echo", value="{{ loop.item }}"),
            node("b", "transform", value="{{ nodes.pre + nodes.a }}"),
        ],
        ["start -> pre", "pre -> l", "l -loop_body-> a", "a -> b", "b -> l"],
    )
    env = slow_env(doc)
    assert env.start("see", {"xs": [1, 2]}).result() == [101, 102]


def test_while_condition_sees_last_iteration_and_index() -> None:
    doc = workflow(
        "poll",
        [
            trigger(),
            node(
                "w",
                "while",
                condition="loop.index == 0 || nodes.check.status != 'done'",
                max_iterations=10,
            ),
            node("check", "status"),
            node("after", "transform", value="{{ size(nodes.w) }}"),
        ],
        ["start -> w", "w -loop_body-> check", "check -> w", "w -loop_done-> after"],
    )
    answers = iter(["pending", "pending", "done", "never"])

    registry = installed_node_types().copy()
    registry.register_activity("status")
    env = WorkflowTestEnv(
        [doc], handlers={"status": lambda _: {"status": next(answers)}}, registry=registry
    )
    run = env.start("poll")
    assert run.result() == 3
    assert [e.attributes.scope for e in run.events("ActivityTaskScheduled")] == [
        "w[0]",
        "w[1]",
        "w[2]",
    ]
    env.assert_replays(run.execution_id)


def test_while_max_iterations_fails_and_routes_to_error_edge() -> None:
    doc = workflow(
        "forever",
        [
            trigger(),
            node("w", "while", condition="true", max_iterations=3),
            node("step", "echo", value="{{ loop.index }}"),
            node("handler", "transform", value="{{ nodes.w.error.type }}"),
        ],
        ["start -> w", "w -loop_body-> step", "w -error-> handler"],
    )
    env = slow_env(doc)
    run = env.start("forever")
    assert run.result() == "MaxIterationsExceeded"
    assert len(run.events("ActivityTaskScheduled")) == 3


def test_nested_loops_have_nested_scopes() -> None:
    doc = workflow(
        "nest",
        [
            trigger(),
            node("outer", "foreach", items="trigger.rows", concurrency=2),
            node("inner", "parallel", items="loop.item"),
            node("cell", "echo", value="{{ parallel.item * 10 + loop.index }}"),
        ],
        ["start -> outer", "outer -loop_body-> inner", "inner -loop_body-> cell"],
    )
    env = slow_env(doc)
    run = env.start("nest", {"rows": [[1, 2], [3]]})
    assert run.result() == [[10, 20], [31]]
    scopes = sorted(e.attributes.scope for e in run.events("ActivityTaskScheduled"))
    assert scopes == ["outer[0]/inner[0]", "outer[0]/inner[1]", "outer[1]/inner[0]"]
    env.assert_replays(run.execution_id)


def test_failure_in_body_escalates_to_loop_error_edge_and_cancels_siblings() -> None:
    doc = workflow(
        "esc",
        [
            trigger(),
            node("l", "parallel", items="trigger.xs"),
            node("work", "job", value="{{ parallel.item }}"),
            node("handler", "transform", value="{{ nodes.l.error.message }}"),
        ],
        ["start -> l", "l -loop_body-> work", "l -error-> handler"],
    )

    def job(payload: dict[str, Any]) -> Any:
        if payload["value"] == "bad":
            raise ActivityError("Boom", "bad item", retryable=False)
        return NO_REPLY  # the others hang

    registry = installed_node_types().copy()
    registry.register_activity("job")
    env = WorkflowTestEnv([doc], handlers={"job": job}, registry=registry)
    run = env.start("esc", {"xs": ["ok", "bad", "ok2"]})
    assert run.result() == "bad item"
    canceled = sorted(e.attributes.activity_id for e in run.events("ActivityTaskCanceled"))
    assert canceled == ["work@l[0]", "work@l[2]"]
    failed = [
        (e.attributes.node_id, e.attributes.scope, e.attributes.routed)
        for e in run.events("NodeFailed")
    ]
    assert failed == [("work", "l[1]", False), ("l", "", True)]
    assert not [s for s in run.state.scopes if s]  # iteration scopes are gone
    env.assert_replays(run.execution_id)
    # a late result of a cancelled iteration changes nothing
    before = len(run.history)
    from linkflow.engine import ActivityCompleted

    assert run.execution_id not in {key[0] for key in env.held_tasks}  # cancelled tasks dropped
    env.send(ActivityCompleted(execution_id=run.execution_id, activity_id="work@l[0]", attempt=1))
    assert len(run.history) == before


def test_failure_in_body_without_error_edge_fails_execution() -> None:
    doc = workflow(
        "esc2",
        [
            trigger(),
            node("l", "foreach", items="trigger.xs"),
            node("work", "echo", value="{{ 1 / loop.item }}"),
        ],
        ["start -> l", "l -loop_body-> work"],
    )
    env = slow_env(doc)
    run = env.start("esc2", {"xs": [1, 0]})
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    assert info.value.error is not None and info.value.error.node_id == "work"
    assert run.event_types()[-1] == "WorkflowExecutionFailed"


def test_error_routed_inside_body_keeps_loop_going() -> None:
    doc = workflow(
        "inner_route",
        [
            trigger(),
            node("l", "foreach", items="trigger.xs"),
            node("work", "echo", value="{{ 10 / loop.item }}"),
            node("fallback", "transform", value="fallback"),
        ],
        ["start -> l", "l -loop_body-> work", "work -error-> fallback"],
    )
    env = slow_env(doc)
    assert env.start("inner_route", {"xs": [1, 0, 5]}).result() == [10, "fallback", 2]
