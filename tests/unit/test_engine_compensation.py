"""Compensation (saga) in the pure engine: completed nodes are undone once each, newest first,
when the execution fails or is cancelled; retries, failures, cancel and terminate while
compensating, validation of the `compensation` key, and a property test over chains."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkflow.model import DefinitionError, load_definition
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


class Service:
    """An http handler that records the urls it was called with and fails those listed."""

    def __init__(self, failing: dict[str, int] | None = None) -> None:
        self.calls: list[str] = []
        self.failing = dict(failing or {})  # url -> failures left (-1: for ever)

    def __call__(self, payload: dict[str, Any]) -> Any:
        url = str(payload["url"])
        self.calls.append(url)
        left = self.failing.get(url, 0)
        if left:
            self.failing[url] = left - 1 if left > 0 else left
            raise ActivityError("Unavailable", f"{url} is down")
        return {"url": url, "id": f"id-of-{url}"}


def trip(undo_retry: dict[str, Any] | None = None, hold: bool = False) -> dict[str, Any]:
    """flight -> hotel -> charge (or a wait for a signal), flight and hotel undoable."""
    undo_hotel = node("cancel_hotel", "http", url="cancel-hotel/{{ nodes.hotel.id }}")
    if undo_retry is not None:
        undo_hotel = with_options(undo_hotel, retry=undo_retry)
    last = (
        node("hold", "wait_for_signal", signal="go")
        if hold
        else node("charge", "http", url="charge")
    )
    return workflow(
        "trip",
        [
            trigger(),
            with_options(node("flight", "http", url="flight"), compensation="cancel_flight"),
            with_options(node("hotel", "http", url="hotel"), compensation="cancel_hotel"),
            last,
            node("cancel_flight", "http", url="cancel-flight"),
            undo_hotel,
        ],
        ["start -> flight", "flight -> hotel", f"hotel -> {last['id']}"],
    )


def test_a_failure_undoes_the_completed_nodes_newest_first_then_fails() -> None:
    service = Service({"charge": -1})
    env = WorkflowTestEnv([trip()], handlers={"http": service})
    run = env.start("trip")
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    assert service.calls == [
        "flight",
        "hotel",
        "charge",
        "cancel-hotel/id-of-hotel",
        "cancel-flight",
    ]
    started = run.events("CompensationStarted")[0].attributes
    assert started.cause == "failed" and started.error.type == "Unavailable"
    assert [n["node_id"] for n in started.nodes] == ["hotel", "flight"]
    done = [e.attributes.node_id for e in run.events("CompensationCompleted")]
    assert done == ["hotel", "flight"]
    error = info.value.error
    assert error is not None and error.type == "Unavailable" and error.node_id == "charge"
    assert error.details["compensation"] == {"completed": ["hotel", "flight"], "failed": []}
    assert run.event_types()[-1] == "WorkflowExecutionFailed"
    env.assert_replays(run.execution_id)


def test_a_successful_execution_compensates_nothing() -> None:
    service = Service()
    env = WorkflowTestEnv([trip()], handlers={"http": service})
    run = env.start("trip")
    run.result()
    assert service.calls == ["flight", "hotel", "charge"]
    assert not run.events("CompensationStarted")


def test_only_completed_nodes_are_undone() -> None:
    service = Service({"hotel": -1})
    env = WorkflowTestEnv([trip()], handlers={"http": service})
    run = env.start("trip")
    with pytest.raises(WorkflowFailedError):
        run.result()
    assert service.calls == ["flight", "hotel", "cancel-flight"]
    assert [e.attributes.node_id for e in run.events("CompensationCompleted")] == ["flight"]


def test_a_compensation_retries_with_its_own_policy_and_one_that_fails_does_not_stop_the_rest() -> (
    None
):
    retry = {"max_attempts": 3, "initial_interval": "1s", "jitter": 0}
    service = Service({"charge": -1, "cancel-hotel/id-of-hotel": 2})
    env = WorkflowTestEnv([trip(undo_retry=retry)], handlers={"http": service})
    run = env.start("trip")
    with pytest.raises(WorkflowFailedError):
        run.result()
    assert service.calls.count("cancel-hotel/id-of-hotel") == 3  # two failures, then done
    assert [e.attributes.node_id for e in run.events("CompensationCompleted")] == [
        "hotel",
        "flight",
    ]

    service = Service({"charge": -1, "cancel-hotel/id-of-hotel": -1})
    env = WorkflowTestEnv([trip(undo_retry=retry)], handlers={"http": service})
    run = env.start("trip")
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    failed = run.events("CompensationFailed")
    assert [(e.attributes.node_id, e.attributes.compensation_node_id) for e in failed] == [
        ("hotel", "cancel_hotel")
    ]
    assert failed[0].attributes.error.details["attempts"] == 3
    assert service.calls[-1] == "cancel-flight"  # still undone after the hotel's failed
    summary = info.value.error.details["compensation"]  # type: ignore[union-attr]
    assert summary["completed"] == ["flight"]
    assert [f["node_id"] for f in summary["failed"]] == ["hotel"]
    env.assert_replays(run.execution_id)


def test_a_cancel_compensates_then_cancels_and_a_second_cancel_changes_nothing() -> None:
    service = Service()
    env = WorkflowTestEnv([trip(hold=True)], handlers={"http": service})
    run = env.start("trip")
    env.advance(0)
    assert service.calls == ["flight", "hotel"]
    assert run.status == "running"
    run.cancel("customer changed plans")
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    assert info.value.status == "canceled"
    assert service.calls[2:] == ["cancel-hotel/id-of-hotel", "cancel-flight"]
    started = run.events("CompensationStarted")[0].attributes
    assert (started.cause, started.reason) == ("canceled", "customer changed plans")
    assert run.event_types()[-1] == "WorkflowExecutionCanceled"
    env.assert_replays(run.execution_id)


def test_a_cancel_while_compensating_is_recorded_and_a_terminate_stops_at_once() -> None:
    service = Service({"charge": -1})
    handlers = {"http": lambda p: NO_REPLY if str(p["url"]).startswith("cancel") else service(p)}
    env = WorkflowTestEnv([trip()], handlers=handlers)
    run = env.start("trip")
    env.advance(0)
    assert run.events("CompensationStarted") and run.status == "running"
    run.cancel("again")
    assert run.status == "running" and run.event_types()[-1] == "WorkflowExecutionCancelRequested"
    run.terminate("enough")
    assert run.status == "terminated"
    assert "ActivityTaskCanceled" in run.event_types()
    assert not run.events("CompensationCompleted")
    env.assert_replays(run.execution_id)


def test_a_node_that_failed_and_went_on_is_not_undone() -> None:
    doc = workflow(
        "onward",
        [
            trigger(),
            with_options(node("a", "http", url="a"), compensation="undo_a"),
            with_options(node("b", "http", url="b"), compensation="undo_b", on_error="continue"),
            node("c", "http", url="c"),
            node("undo_a", "http", url="undo-a"),
            node("undo_b", "http", url="undo-b"),
        ],
        ["start -> a", "a -> b", "b -> c"],
    )
    service = Service({"b": -1, "c": -1})
    env = WorkflowTestEnv([doc], handlers={"http": service})
    run = env.start("onward")
    with pytest.raises(WorkflowFailedError):
        run.result()
    assert [c for c in service.calls if c.startswith("undo")] == ["undo-a"]
    env.assert_replays(run.execution_id)


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=6),
    data=st.data(),
)
def test_each_completed_node_is_compensated_exactly_once_in_reverse_order(
    size: int, data: st.DataObject
) -> None:
    fail_at = data.draw(st.integers(min_value=0, max_value=size), label="fail_at")
    undoable = data.draw(st.lists(st.booleans(), min_size=size, max_size=size), label="undo")
    steps = [f"s{i}" for i in range(size)]
    nodes: list[dict[str, Any]] = [trigger()]
    for step, undo in zip(steps, undoable, strict=True):
        spec = node(step, "http", url=step)
        if undo:
            spec = with_options(spec, compensation=f"undo_{step}")
            nodes.append(node(f"undo_{step}", "http", url=f"undo-{step}"))
        nodes.append(spec)
    edges = [f"{a} -> {b}" for a, b in zip(["start", *steps], steps, strict=False)]
    failing = {steps[fail_at]: -1} if fail_at < size else {}
    service = Service(failing)
    env = WorkflowTestEnv([workflow("chain", nodes, edges)], handlers={"http": service})
    run = env.start("chain")
    if fail_at == size:
        run.result()
        expected: list[str] = []
    else:
        with pytest.raises(WorkflowFailedError):
            run.result()
        expected = [f"undo-{s}" for s, u in zip(steps, undoable, strict=True) if u][
            : sum(undoable[:fail_at])
        ]
        expected.reverse()
    undone = [c for c in service.calls if c.startswith("undo-")]
    assert undone == expected
    assert len(run.events("CompensationCompleted")) == len(expected)
    env.assert_replays(run.execution_id)


@pytest.mark.parametrize(
    ("options", "extra", "edges", "message"),
    [
        ({"compensation": "nope"}, [], [], "no node 'nope'"),
        ({"compensation": "a"}, [], [], "cannot compensate itself"),
        (
            {"compensation": "u"},
            [node("u", "http", url="x")],
            ["a -> u"],
            "node 'u' has edges",
        ),
        (
            {"compensation": "u"},
            [node("u", "transform", value=1)],
            [],
            "runs on a worker",
        ),
        ({"compensation": ""}, [], [], "must be the id of a node"),
    ],
)
def test_a_bad_compensation_is_refused_naming_the_node_and_field(
    options: dict[str, Any], extra: list[dict[str, Any]], edges: list[str], message: str
) -> None:
    doc = workflow(
        "bad",
        [trigger(), with_options(node("a", "http", url="x"), **options), *extra],
        ["start -> a", *edges],
    )
    with pytest.raises(DefinitionError) as info:
        load_definition(doc, installed_node_types())
    problems = [p for p in info.value.problems if p.field == "compensation"]
    assert problems and problems[0].node_id == "a", info.value.problems
    assert message in problems[0].message


def test_a_compensation_node_undoes_one_node_and_loops_have_none() -> None:
    shared = workflow(
        "shared",
        [
            trigger(),
            with_options(node("a", "http", url="a"), compensation="u"),
            with_options(node("b", "http", url="b"), compensation="u"),
            node("u", "http", url="u"),
        ],
        ["start -> a", "a -> b"],
    )
    with pytest.raises(DefinitionError, match="node 'u' already compensates 'a'"):
        load_definition(shared, installed_node_types())
    looped = workflow(
        "looped",
        [
            trigger(),
            node("each", "foreach", items="{{ trigger.items }}"),
            with_options(node("a", "http", url="a"), compensation="u"),
            node("u", "http", url="u"),
        ],
        ["start -> each", "each -loop_body-> a"],
    )
    with pytest.raises(DefinitionError, match="inside the body of loop 'each'"):
        load_definition(looped, installed_node_types())
