"""Golden histories: each scenario runs in the test environment and its history must equal the
checked-in JSON under tests/golden/, so an unintended change of behaviour fails here.

After an intended change, regenerate them and review the diff:

    LINKFLOW_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/test_engine_golden.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from linkflow.model import Catalog
from linkflow.testing import (
    ActivityError,
    Delayed,
    WorkflowTestEnv,
    chain,
    fold_history,
    history_from_json,
    history_to_json,
    node,
    trigger,
    with_options,
    workflow,
)
from linkflow.worker.registry import installed_node_types

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REGENERATE = os.environ.get("LINKFLOW_REGEN_GOLDEN") == "1"


def order_approval() -> tuple[list[dict[str, Any]], WorkflowTestEnv, list[str]]:
    """Retries with backoff, an approval signal, if/else with a skipped branch, set/transform."""
    doc = workflow(
        "order",
        [
            trigger(),
            with_options(
                node(
                    "charge",
                    "http",
                    url="https://pay.example/{{ trigger.order_id }}",
                    method="POST",
                    body={"amount": "{{ trigger.amount }}"},
                ),
                retry={"max_attempts": 3, "initial_interval": "2s", "jitter": 0.2},
                timeout={"start_to_close": "30s"},
            ),
            node("big", "if", condition="trigger.amount > 100"),
            node("approve", "approval", timeout="1d"),
            node("note", "set", values={"approved_by": "{{ nodes.approve.by }}"}),
            node("ship", "http", url="https://ship.example/{{ trigger.order_id }}"),
        ],
        [
            "start -> charge",
            "charge -> big",
            "big -true-> approve",
            "approve -true-> note",
            "note -> ship",
            "big -false-> ship",
        ],
        output={"order": "{{ trigger.order_id }}", "tracking": "{{ nodes.ship.tracking }}"},
    )
    calls = {"n": 0}

    def http(payload: dict[str, Any]) -> Any:
        if "pay" in payload["url"]:
            calls["n"] += 1
            if calls["n"] == 1:
                raise ActivityError("Unavailable", "payment service busy")
            return {"charged": payload["body"]["amount"]}
        return {"tracking": "TRK-1"}

    env = WorkflowTestEnv([doc], handlers={"http": http})
    run = env.start("order", {"order_id": "o-1", "amount": 250}, execution_id="order-1")
    env.advance(seconds=10)
    run.signal("approval", {"approved": True, "by": "ann"}, request_id="sig-1")
    run.result()
    return [doc], env, ["order-1"]


def parallel_with_failures() -> tuple[list[dict[str, Any]], WorkflowTestEnv, list[str]]:
    """A parallel fan-out with a cap, one item routed to an error branch inside the body, and
    a while loop polling until done."""
    doc = workflow(
        "fanout",
        [
            trigger(),
            node("each", "parallel", items="trigger.items", concurrency=2),
            node("work", "job", item="{{ parallel.item }}", index="{{ parallel.index }}"),
            node("fallback", "transform", value={"failed": "{{ parallel.item }}"}),
            node(
                "poll",
                "while",
                condition="loop.index == 0 || nodes.check.state != 'done'",
                max_iterations=5,
            ),
            node("check", "job", item="status", index="{{ loop.index }}"),
            node("pause", "wait", duration="1s"),
        ],
        [
            "start -> each",
            "each -loop_body-> work",
            "work -error-> fallback",
            "each -loop_done-> poll",
            "poll -loop_body-> check",
            "check -> pause",
        ],
    )

    def job(payload: dict[str, Any]) -> Any:
        if payload["item"] == "status":
            return Delayed(500, {"state": "done" if payload["index"] >= 1 else "running"})
        if payload["item"] == "bad":
            raise ActivityError("Invalid", "bad item", retryable=False)
        return Delayed(1000 * (payload["index"] + 1), {"done": payload["item"]})

    registry = installed_node_types().copy()
    registry.register_activity("job")
    env = WorkflowTestEnv([doc], handlers={"job": job}, registry=registry)
    env.start("fanout", {"items": ["a", "bad", "c"]}, execution_id="fanout-1").result()
    return [doc], env, ["fanout-1"]


def timeouts_then_cancel() -> tuple[list[dict[str, Any]], WorkflowTestEnv, list[str]]:
    """A heartbeat timeout, a retry, an execution-timeout timer, then a graceful cancel."""
    doc = workflow(
        "long",
        [
            trigger(),
            with_options(
                node("crunch", "code", source="crunch()"),
                retry={"max_attempts": 2, "initial_interval": "1s", "jitter": 0},
                timeout={"heartbeat": "2s", "start_to_close": "1m"},
            ),
            node("after", "noop"),
        ],
        chain("start", "crunch", "after"),
        execution_timeout="1h",
    )
    env = WorkflowTestEnv(
        [doc],
        handlers={"code": lambda _: Delayed(20_000, "never", heartbeat_every_ms=None)},
        report_started=True,
    )
    run = env.start("long", execution_id="long-1")
    env.advance(seconds=4)  # the first attempt timed out, the second is running
    run.cancel("operator", request_id="cancel-1")
    return [doc], env, ["long-1"]


def subworkflow_parent_child() -> tuple[list[dict[str, Any]], WorkflowTestEnv, list[str]]:
    child = workflow(
        "enrich",
        [trigger(), node("lookup", "http", url="https://crm/{{ trigger.customer }}")],
        ["start -> lookup"],
        output="{{ nodes.lookup.tier }}",
    )
    parent = workflow(
        "signup",
        [
            trigger(),
            node(
                "sub",
                "subworkflow",
                workflow_id="enrich",
                input={"customer": "{{ trigger.customer }}"},
            ),
            node("route", "switch", value="nodes.sub", cases=[{"name": "gold", "equals": "gold"}]),
            node("vip", "kafka_publish", topic="vip", value="{{ trigger.customer }}"),
            node("regular", "noop"),
        ],
        ["start -> sub", "sub -> route", "route -case:gold-> vip", "route -default-> regular"],
    )
    env = WorkflowTestEnv(
        [parent, child],
        handlers={
            "http": lambda p: {"tier": "gold"},
            "kafka_publish": lambda p: {"offset": 1},
            "noop": lambda p: None,
        },
    )
    run = env.start("signup", {"customer": "c-9"}, execution_id="signup-1")
    run.result()
    return [parent, child], env, env.executions()


def reset_after_a_fix() -> tuple[list[dict[str, Any]], WorkflowTestEnv, list[str]]:
    """A failed execution reset to the decision that started its retry back-off: the copy,
    the execution_reset marker with the back-off timer moved by the time since, then the
    charge run again and the execution completed."""
    doc = workflow(
        "invoice",
        [
            trigger(),
            node("fetch", "http", url="https://erp/{{ trigger.id }}"),
            with_options(
                node("charge", "code", source="x"),
                retry={"max_attempts": 2, "initial_interval": "10s"},
            ),
        ],
        chain("start", "fetch", "charge"),
        output="{{ nodes.charge }}",
    )
    fixed: list[bool] = []

    def charge(_: Any) -> Any:
        if not fixed:
            raise ActivityError("Declined", "card declined")
        return {"paid": True}

    env = WorkflowTestEnv([doc], handlers={"http": lambda p: {"amount": 5}, "code": charge})
    source = env.start("invoice", {"id": 7}, execution_id="inv-1")
    env.run_until_closed(source)
    assert source.status == "failed"
    backoff = next(e for e in source.history if e.event_type == "TimerStarted")
    fixed.append(True)
    env.advance(seconds=3600)
    run = env.reset("inv-1", backoff.event_id, new_execution_id="inv-2", request_id="reset-1")
    assert run.result() == {"paid": True}
    return [doc], env, ["inv-1", "inv-2"]


def saga_compensation() -> tuple[list[dict[str, Any]], WorkflowTestEnv, list[str]]:
    """A saga: flight and hotel booked, the charge declined; the hotel's cancellation fails
    once and is retried, then the flight's runs, then the execution fails with the outcome."""
    doc = workflow(
        "trip",
        [
            trigger(),
            with_options(node("flight", "http", url="https://air/book"), compensation="unbook"),
            with_options(node("hotel", "http", url="https://inn/book"), compensation="unstay"),
            node("charge", "http", url="https://pay/charge"),
            node("unbook", "http", url="https://air/cancel/{{ nodes.flight.ref }}"),
            with_options(
                node("unstay", "http", url="https://inn/cancel/{{ nodes.hotel.ref }}"),
                retry={"max_attempts": 3, "initial_interval": "5s", "jitter": 0},
            ),
        ],
        chain("start", "flight", "hotel", "charge"),
    )
    calls: list[str] = []

    def http(payload: dict[str, Any]) -> Any:
        url = str(payload["url"])
        calls.append(url)
        if url.endswith("/charge"):
            raise ActivityError("Declined", "card declined", retryable=False)
        if "inn/cancel" in url and calls.count(url) == 1:
            raise ActivityError("Unavailable", "inn is busy")
        return {"ref": url.rsplit("/", 2)[-2]}

    env = WorkflowTestEnv([doc], handlers={"http": http})
    run = env.start("trip", {"who": "ana"}, execution_id="trip-1")
    env.run_until_closed(run)
    assert run.status == "failed"
    return [doc], env, ["trip-1"]


SCENARIOS: dict[str, Callable[[], tuple[list[dict[str, Any]], WorkflowTestEnv, list[str]]]] = {
    "saga_compensation": saga_compensation,
    "order_approval": order_approval,
    "parallel_with_failures": parallel_with_failures,
    "timeouts_then_cancel": timeouts_then_cancel,
    "subworkflow_parent_child": subworkflow_parent_child,
    "reset_after_a_fix": reset_after_a_fix,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_golden_history(name: str) -> None:
    definitions, env, executions = SCENARIOS[name]()
    produced = {
        "scenario": SCENARIOS[name].__doc__.strip() if SCENARIOS[name].__doc__ else name,
        "definitions": definitions,
        "executions": {e: history_to_json(env.history(e)) for e in executions},
    }
    path = GOLDEN / f"{name}.json"
    if REGENERATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(produced, indent=1) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert expected["definitions"] == json.loads(json.dumps(definitions))
    for execution_id, history in json.loads(json.dumps(produced["executions"])).items():
        assert history == expected["executions"][execution_id], (
            f"{name}: history of {execution_id} changed"
        )
    assert set(produced["executions"]) == set(expected["executions"])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_golden_history_replays(name: str) -> None:
    """The checked-in histories fold through the appliers into closed executions."""
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    registry = installed_node_types().copy()
    registry.register_activity("job")
    catalog = Catalog(expected["definitions"], registry=registry)
    for execution_id, data in expected["executions"].items():
        history = history_from_json(data)
        state = fold_history(history, catalog)
        assert state.execution_id == execution_id
        assert state.is_closed and history[-1].is_terminal
        assert state.last_event_id == len(history)
