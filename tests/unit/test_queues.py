"""Which task queues a definition uses, and the registration problem for a queue whose
topic does not exist."""

from __future__ import annotations

from typing import Any

from linkflow.model import WorkflowDefinition, load_definition
from linkflow.queues import missing_task_queues, task_queues
from linkflow.worker.registry import installed_node_types


def definition() -> WorkflowDefinition:
    return load_definition(document(), installed_node_types())


def document() -> dict[str, Any]:
    return {
        "id": "queues",
        "version": 1,
        "settings": {"task_queue": "bulk"},
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "plain", "type": "noop"},
            {"id": "own", "type": "noop", "task_queue": "gpu"},
            {"id": "call", "type": "http", "config": {"url": "http://x"}},
            {"id": "tidy", "type": "set", "config": {"values": {"a": 1}}},
        ],
        "edges": [
            {"source": "start", "target": "plain"},
            {"source": "plain", "target": "own"},
            {"source": "own", "target": "call"},
            {"source": "call", "target": "tidy"},
        ],
    }


def test_queues_come_from_the_node_the_type_or_the_workflow_and_skip_inline_nodes() -> None:
    queues = task_queues(definition())
    assert queues["gpu"] == ["own"]
    assert "plain" in queues["bulk"]
    assert "tidy" not in {n for nodes in queues.values() for n in nodes}


def test_each_node_on_a_queue_without_a_topic_is_a_problem_at_its_task_queue() -> None:
    topics = {"p.linkflow.tasks.bulk", "p.linkflow.tasks.http"}
    problems = missing_task_queues(definition(), topics, prefix="p.")
    assert [(p.node_id, p.field) for p in problems] == [("own", "task_queue")]
    assert "p.linkflow.tasks.gpu" in problems[0].message
    every = {"p.linkflow.tasks." + q for q in ("bulk", "http", "gpu", "default")}
    assert missing_task_queues(definition(), every, prefix="p.") == []
