"""The task queues a workflow definition sends activities to, and which of them have no
topic: checked at registration, because a task for a queue without a topic has nowhere to
go (the history processor could not send it, and no worker could ever take it)."""

from __future__ import annotations

from collections import defaultdict

from linkflow import transport
from linkflow.model import NodeKind, NodeTypeRegistry, Problem, WorkflowDefinition, build_plan
from linkflow.model.definition import DEFAULT_TASK_QUEUE
from linkflow.worker.registry import installed_node_types


def task_queues(
    definition: WorkflowDefinition, registry: NodeTypeRegistry | None = None
) -> dict[str, list[str]]:
    """Task queue -> the activity nodes of a valid definition that run on it (the plan
    decides a node's queue: its own, its type's, the workflow's, or the default)."""
    plan = build_plan(definition, registry or installed_node_types())
    queues: dict[str, list[str]] = defaultdict(list)
    for node in plan.nodes.values():
        if node.kind is NodeKind.ACTIVITY:
            queues[node.task_queue or DEFAULT_TASK_QUEUE].append(node.id)
    return dict(queues)


def missing_task_queues(
    definition: WorkflowDefinition, topics: set[str], prefix: str = ""
) -> list[Problem]:
    """A problem naming each activity node whose task queue has no topic in `topics` (the
    queue's `.high` topic for a high-priority node)."""
    plan = build_plan(definition, installed_node_types())
    by_topic: dict[tuple[str, bool], list[str]] = defaultdict(list)
    for node in plan.nodes.values():
        if node.kind is NodeKind.ACTIVITY:
            by_topic[(node.task_queue or DEFAULT_TASK_QUEUE, node.high_priority)].append(node.id)
    problems = []
    for (queue, high), node_ids in sorted(by_topic.items()):
        topic = prefix + transport.task_topic(queue, high)
        if topic in topics:
            continue
        what = "task queue" if not high else "high-priority task queue"
        message = (
            f"{what} {queue!r} has no topic {topic}: add the queue to topics/ and run "
            "`linkflow topics apply`, or use an existing queue"
        )
        field = "priority" if high else "task_queue"
        problems.extend(Problem(message, node_id=n, field=field) for n in sorted(node_ids))
    return problems
