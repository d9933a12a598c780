"""Task priorities: a node's (or the workflow's) `priority: high` sends its tasks, and their
cancellations, to the queue's .high topic; registration needs that topic to exist."""

from __future__ import annotations

import pytest

from linkflow.engine import ActivityTask, Engine, StartWorkflow
from linkflow.engine.effects import CancelActivityTask
from linkflow.engine.inputs import CancelWorkflow
from linkflow.model import Catalog, DefinitionError, load_definition
from linkflow.queues import missing_task_queues
from linkflow.testing import node, trigger, with_options, workflow
from linkflow.worker.registry import installed_node_types
from processors.history_records import outgoing

DOC = workflow(
    "prio",
    [
        trigger(),
        with_options(node("urgent", "http", url="u"), priority="high"),
        node("later", "noop"),
    ],
    ["start -> urgent", "start -> later"],
)


def _topics(doc: dict) -> dict[str, str]:
    engine = Engine(Catalog([doc], registry=installed_node_types()))
    decision = engine.decide(
        None, StartWorkflow(request_id="r", execution_id="e", workflow_id=doc["id"]), 1
    )
    tasks = [e for e in decision.effects if isinstance(e, ActivityTask)]
    records = outgoing([], tasks, 1)
    cancel = engine.decide(decision.state, CancelWorkflow(request_id="c", execution_id="e"), 2)
    cancels = [e for e in cancel.effects if isinstance(e, CancelActivityTask)]
    records += outgoing([], cancels, 2)
    return {
        f"{type(e).__name__}:{e.activity_id}": r.topic
        for e, r in zip(tasks + cancels, records, strict=True)
    }


def test_high_priority_tasks_and_their_cancels_go_to_the_high_topic() -> None:
    assert _topics(DOC) == {
        "ActivityTask:urgent": "linkflow.tasks.http.high",
        "ActivityTask:later": "linkflow.tasks.default",
        "CancelActivityTask:urgent": "linkflow.tasks.http.high",
        "CancelActivityTask:later": "linkflow.tasks.default",
    }


def test_the_workflow_setting_is_the_default_and_a_node_may_say_normal() -> None:
    doc = workflow(
        "prio2",
        [trigger(), node("a", "noop"), with_options(node("b", "noop"), priority="normal")],
        ["start -> a", "start -> b"],
        priority="high",
    )
    topics = _topics(doc)
    assert topics["ActivityTask:a"] == "linkflow.tasks.default.high"
    assert topics["ActivityTask:b"] == "linkflow.tasks.default"


def test_a_bad_priority_is_refused_naming_the_field() -> None:
    bad = with_options(node("a", "noop"), priority="urgent")
    with pytest.raises(DefinitionError) as info:
        load_definition(workflow("p", [trigger(), bad], ["start -> a"]), installed_node_types())
    assert [(p.node_id, p.field) for p in info.value.problems] == [("a", "priority")]
    with pytest.raises(DefinitionError, match=r"settings\.priority"):
        load_definition(workflow("p", [trigger()], [], priority="max"), installed_node_types())


def test_registration_needs_the_high_topic() -> None:
    definition = load_definition(DOC, installed_node_types())
    problems = missing_task_queues(definition, {"linkflow.tasks.http", "linkflow.tasks.default"})
    assert [(p.node_id, p.field) for p in problems] == [("urgent", "priority")]
    assert "linkflow.tasks.http.high" in problems[0].message
    everything = {"linkflow.tasks.http.high", "linkflow.tasks.http", "linkflow.tasks.default"}
    assert missing_task_queues(definition, everything) == []
