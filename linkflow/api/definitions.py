"""Workflow definitions as the API sees them: validation (delegated to linkflow.model, which
reports every problem with its node or edge and field) and the `linkflow.definitions` record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from linkflow.codec import encode_definition
from linkflow.model import DefinitionError, Problem, WorkflowDefinition, load_definition
from linkflow.model.workspaces import DEFAULT_WORKSPACE
from linkflow.queues import missing_task_queues
from linkflow.worker.registry import installed_node_types


def parse_definition(doc: Any) -> tuple[WorkflowDefinition | None, list[dict[str, Any]]]:
    """The parsed definition, or None with every problem in `doc` as JSON objects. Node
    types added through the `linkflow.nodes` entry points are known."""
    try:
        return load_definition(doc, installed_node_types()), []
    except DefinitionError as exc:
        return None, _as_json(exc.problems)


def validate_definition(doc: Any) -> list[dict[str, Any]]:
    """Every problem in `doc` as JSON objects; empty when the definition is valid."""
    return parse_definition(doc)[1]


def task_queue_problems(definition: WorkflowDefinition, topics: set[str]) -> list[dict[str, Any]]:
    """`validate_definition`'s form of the problems of `missing_task_queues`."""
    return _as_json(missing_task_queues(definition, topics))


def _as_json(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [
        {"message": p.message, "node_id": p.node_id, "edge": p.edge, "field": p.field}
        for p in problems
    ]


def definition_key(workflow_id: str, version: int) -> bytes:
    return f"{workflow_id}:{version}".encode()


def encode_definition_record(
    doc: dict[str, Any], registered_at_ms: int, workspace: str = DEFAULT_WORKSPACE
) -> bytes:
    return encode_definition(
        {
            "definition_type": "WorkflowDefinition",
            "id": doc["id"],
            "version": doc["version"],
            "definition": doc,
            "registered_at_ms": registered_at_ms,
            "workspace": workspace,
        }
    )
