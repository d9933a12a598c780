"""Workflow definitions as the API sees them: validation (delegated to linkflow.model, which
reports every problem with its node or edge and field) and the `linkflow.definitions` record."""

from __future__ import annotations

from typing import Any

from linkflow.codec import encode_definition
from linkflow.model import validate_document
from linkflow.queues import missing_task_queues
from linkflow.worker.registry import installed_node_types


def validate_definition(doc: Any) -> list[dict[str, Any]]:
    """Every problem in `doc` as JSON objects; empty when the definition is valid. Node
    types added through the `linkflow.nodes` entry points are known."""
    return [
        {"message": p.message, "node_id": p.node_id, "edge": p.edge, "field": p.field}
        for p in validate_document(doc, installed_node_types())
    ]


def task_queue_problems(doc: Any, topics: set[str]) -> list[dict[str, Any]]:
    """`validate_definition`'s form of the problems of `missing_task_queues`."""
    return [
        {"message": p.message, "node_id": p.node_id, "edge": p.edge, "field": p.field}
        for p in missing_task_queues(doc, topics)
    ]


def definition_key(workflow_id: str, version: int) -> bytes:
    return f"{workflow_id}:{version}".encode()


def encode_definition_record(doc: dict[str, Any], registered_at_ms: int) -> bytes:
    return encode_definition(
        {
            "definition_type": "WorkflowDefinition",
            "id": doc["id"],
            "version": doc["version"],
            "definition": doc,
            "registered_at_ms": registered_at_ms,
        }
    )
