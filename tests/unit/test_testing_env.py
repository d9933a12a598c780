"""The in-memory test environment itself: clock, handlers, results, helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from linkflow.model import Catalog
from linkflow.testing import (
    NO_REPLY,
    ActivityContext,
    Delayed,
    WorkflowStalled,
    WorkflowTestEnv,
    chain,
    dump_history,
    edge,
    fold_history,
    history_from_json,
    history_to_json,
    load_history,
    node,
    trigger,
    with_options,
    workflow,
)

ORDER = workflow(
    "order",
    [
        trigger(),
        with_options(
            node("charge", "http", url="https://pay/{{ trigger.id }}"),
            retry={"max_attempts": 3, "initial_interval": "2s"},
        ),
        node("approve", "approval", timeout="1d"),
        node("ship", "http", url="https://ship/{{ trigger.id }}"),
        node("cancelled", "transform", value="cancelled"),
    ],
    [
        "start -> charge",
        "charge -> approve",
        "approve -true-> ship",
        "approve -false-> cancelled",
        "approve -timeout-> cancelled",
    ],
    output={"status": "{{ 'ship' in nodes ? 'shipped' : 'cancelled' }}"},
)


def test_the_documented_usage() -> None:
    attempts: list[int] = []

    def http(payload: dict[str, Any], ctx: ActivityContext) -> Any:
        if payload["url"].startswith("https://pay"):
            attempts.append(ctx.attempt)
            if ctx.attempt < 2:
                raise ConnectionError("reset")
            return {"paid": True}
        return {"shipped": True}

    env = WorkflowTestEnv([ORDER], handlers={"http": http})
    run = env.start("order", {"id": 7})
    assert run.status == "running"
    env.advance(seconds=5)  # the retry backoff elapses
    assert attempts == [1, 2]
    run.signal("approval", {"approved": True})
    assert run.result() == {"status": "shipped"}
    env.assert_replays(run.execution_id)


def test_result_skips_time_to_the_approval_timeout() -> None:
    env = WorkflowTestEnv([ORDER], handlers={"http": lambda p: {}})
    run = env.start("order", {"id": 1})
    start = env.now_ms
    assert run.result() == {"status": "cancelled"}
    assert env.now_ms - start == 86_400_000


def test_result_without_skipping_and_stalls() -> None:
    doc = workflow("s", [trigger(), node("w", "wait_for_signal", signal="go")], ["start -> w"])
    env = WorkflowTestEnv([doc])
    run = env.start("s")
    with pytest.raises(WorkflowStalled):
        run.result(skip_time=False)
    with pytest.raises(WorkflowStalled, match="signals \\['go'\\]"):
        run.result()


def test_limit_ms_stops_time_skipping() -> None:
    doc = workflow("w", [trigger(), node("w", "wait", duration="1h")], ["start -> w"])
    env = WorkflowTestEnv([doc])
    run = env.start("w")
    with pytest.raises(WorkflowStalled):
        run.result(limit_ms=1000)
    assert run.result() is None


def test_held_tasks_are_answered_by_the_test() -> None:
    doc = workflow("h", [trigger(), node("a", "http", url="u")], ["start -> a"])
    env = WorkflowTestEnv([doc], handlers={"http": lambda _: NO_REPLY})
    run = env.start("h", execution_id="h1")
    assert list(env.held_tasks) == [("h1", "a")]
    env.complete_activity("h1", "a", {"ok": 1})
    assert run.result() == {"ok": 1}


def test_delayed_results_arrive_with_the_clock() -> None:
    doc = workflow("d", [trigger(), node("a", "http", url="u")], ["start -> a"])
    env = WorkflowTestEnv([doc], handlers={"http": lambda _: Delayed(3000, "late")})
    run = env.start("d")
    env.advance(seconds=2)
    assert run.status == "running"
    env.advance(seconds=1)
    assert run.status == "completed"


def test_missing_handler_is_a_clear_error() -> None:
    doc = workflow("m", [trigger(), node("a", "http", url="u")], ["start -> a"])
    env = WorkflowTestEnv([doc])
    with pytest.raises(LookupError, match="no test handler for node type 'http'"):
        env.start("m")


def test_handler_cannot_change_the_history() -> None:
    doc = workflow(
        "mut", [trigger(), node("a", "http", url="u", headers={"x": "1"})], ["start -> a"]
    )

    def mutate(payload: dict[str, Any]) -> Any:
        payload["headers"]["x"] = "changed"
        return None

    env = WorkflowTestEnv([doc], handlers={"http": mutate})
    run = env.start("mut")
    assert run.events("ActivityTaskScheduled")[0].attributes.input["headers"] == {"x": "1"}
    assert env.catalog.get("mut").node("a").config["headers"] == {"x": "1"}


def test_history_helpers_round_trip(tmp_path: Path) -> None:
    env = WorkflowTestEnv([ORDER], handlers={"http": lambda p: {}})
    run = env.start("order", {"id": 1})
    run.signal("approval", {"approved": False})
    history = run.history
    data = history_to_json(history)
    assert history_from_json(json.loads(json.dumps(data))) == history
    path = tmp_path / "h.json"
    dump_history(history, path)
    assert load_history(path) == history
    state = fold_history(load_history(path), env.catalog)
    assert state.to_dict() == run.state.to_dict()
    with pytest.raises(ValueError):
        fold_history([], Catalog())


def test_builder_shorthands() -> None:
    assert edge("a -> b") == {"source": "a", "target": "b", "handle": "success"}
    assert edge("a -case:x-> b") == {"source": "a", "target": "b", "handle": "case:x"}
    assert edge(("a", "b", "error")) == {"source": "a", "target": "b", "handle": "error"}
    assert chain("a", "b", "c") == ["a -> b", "b -> c"]
    with pytest.raises(ValueError):
        edge("a to b")


def test_clock_cannot_go_back() -> None:
    env = WorkflowTestEnv([])
    with pytest.raises(ValueError):
        env.advance_to(env.now_ms - 1)
