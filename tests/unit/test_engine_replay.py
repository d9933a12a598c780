"""Replay (`linkflow.engine.replay`): the golden histories decide again exactly as recorded,
and a changed workflow is caught at its first divergent event."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from linkflow.engine.replay import replay
from linkflow.model import Catalog
from linkflow.testing import (
    Delayed,
    WorkflowTestEnv,
    chain,
    history_from_json,
    node,
    trigger,
    with_options,
    workflow,
)
from linkflow.worker.registry import installed_node_types

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _catalog(definitions: list[dict[str, Any]]) -> Catalog:
    registry = installed_node_types().copy()
    registry.register_activity("job")  # the custom activity of parallel_with_failures
    return Catalog(definitions, registry=registry)


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_golden_histories_replay_without_divergence(name: str) -> None:
    golden = _golden(name)
    catalog = _catalog(golden["definitions"])
    for execution_id, events in golden["executions"].items():
        result = replay(history_from_json(events), catalog)
        assert result.ok, result.divergence and result.divergence.describe()
        assert (result.execution_id, result.events) == (execution_id, len(events))


def test_a_changed_condition_diverges_where_the_branch_is_taken() -> None:
    golden = _golden("order_approval")
    changed = copy.deepcopy(golden["definitions"])
    big = next(n for n in changed[0]["nodes"] if n["id"] == "big")
    big["config"]["condition"] = "trigger.amount > 1000"  # 250 no longer takes `true`
    events = golden["executions"]["order-1"]
    result = replay(history_from_json(events), _catalog(changed))

    divergence = result.divergence
    assert divergence is not None and not result.ok
    recorded = next(
        e
        for e in events
        if e["event_type"] == "NodeCompleted" and e["attributes"]["node_id"] == "big"
    )
    assert divergence.event_id == recorded["event_id"]
    assert divergence.reason == "the same event type with other attributes"
    assert divergence.recorded is not None and divergence.replayed is not None
    assert divergence.recorded.attributes.handle == "true"  # type: ignore[attr-defined]
    assert divergence.replayed.attributes.handle == "false"  # type: ignore[attr-defined]
    text = divergence.describe()
    assert f"diverges at event {recorded['event_id']}" in text and "'handle': 'false'" in text


def test_shadow_replay_on_a_new_version() -> None:
    """Recorded on version 1, replayed as version 2, which inserted a node before `ship`:
    version 2 schedules it where version 1 scheduled `ship`."""
    golden = _golden("order_approval")
    v2 = copy.deepcopy(golden["definitions"][0])
    v2["version"] = 2
    v2["nodes"].append({"id": "audit", "type": "noop"})
    v2["edges"] = [e for e in v2["edges"] if (e["source"], e["target"]) != ("note", "ship")]
    v2["edges"] += [{"source": "note", "target": "audit"}, {"source": "audit", "target": "ship"}]
    catalog = _catalog([golden["definitions"][0], v2])
    history = history_from_json(golden["executions"]["order-1"])

    assert replay(history, catalog, workflow_version=1).ok
    divergence = replay(history, catalog, workflow_version=2).divergence
    assert divergence is not None and divergence.replayed is not None
    assert divergence.replayed.attributes.node_id == "audit"  # type: ignore[attr-defined]
    assert divergence.recorded is not None
    assert divergence.recorded.attributes.node_id == "ship"  # type: ignore[attr-defined]


def test_a_history_cut_inside_a_decision_is_reported() -> None:
    events = _golden("order_approval")["executions"]["order-1"][:-1]  # no terminal event
    divergence = replay(
        history_from_json(events), _catalog(_golden("order_approval")["definitions"])
    ).divergence
    assert divergence is not None and divergence.recorded is None
    assert divergence.reason == "the current code decides more events than were recorded"
    assert divergence.event_id == len(events) + 1


def test_an_event_no_input_explains_is_a_divergence() -> None:
    golden = _golden("order_approval")
    events = golden["executions"]["order-1"]
    skipped = events[:1] + events[2:]  # the trigger's NodeCompleted lost, ids renumbered
    for event_id, event in enumerate(skipped, start=1):
        event["event_id"] = event_id
    divergence = replay(history_from_json(skipped), _catalog(golden["definitions"])).divergence
    assert divergence is not None and divergence.event_id == 2


def test_heartbeats_replay() -> None:
    """A heartbeat is the one input without an event of its own: its decision begins with
    the re-armed heartbeat timer."""
    doc = workflow(
        "beat",
        [
            trigger(),
            with_options(node("crunch", "code", source="x"), timeout={"heartbeat": "2s"}),
            node("after", "noop"),
        ],
        chain("start", "crunch", "after"),
    )
    env = WorkflowTestEnv(
        [doc],
        handlers={
            "code": lambda _: Delayed(10_000, "done", heartbeat_every_ms=600),
            "noop": lambda _: None,
        },
        report_started=True,
    )
    env.start("beat", execution_id="beat-1").result()
    history = env.history("beat-1")
    rearmed = [e for e in history if e.event_type == "TimerCanceled"]
    assert len(rearmed) >= 3  # the history really has heartbeat decisions
    result = replay(history, Catalog([doc], registry=installed_node_types()))
    assert result.ok, result.divergence and result.divergence.describe()
