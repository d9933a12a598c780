"""Typed workflow definitions (immutable once parsed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TASK_QUEUE = "default"
# Task priorities (a node's `priority`): a high one goes to the queue's `.high` topic, which
# its workers drain first with a weighted share (docs/workflows.md, Priorities).
NORMAL = "normal"
HIGH = "high"
PRIORITIES = (NORMAL, HIGH)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: delay(n) = min(max_interval, initial * coefficient**(n-1)) ± jitter.

    `max_attempts` counts the first attempt, so 1 means "no retries" (the default: retries
    must be asked for, because an activity that is not idempotent must not run twice).
    """

    max_attempts: int = 1
    initial_interval_ms: int = 1_000
    backoff_coefficient: float = 2.0
    max_interval_ms: int = 60_000
    jitter: float = 0.1
    non_retryable_errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeTimeouts:
    schedule_to_start_ms: int | None = None
    start_to_close_ms: int | None = None
    heartbeat_ms: int | None = None


@dataclass(frozen=True, slots=True)
class NodeDef:
    id: str
    type: str
    config: Mapping[str, Any] = field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout: NodeTimeouts = NodeTimeouts()
    task_queue: str | None = None
    on_error: str = "fail"  # "fail" (route to an error edge if any, else fail) or "continue"
    name: str | None = None
    # The node that undoes this one (saga): run when the execution fails or is cancelled
    # after this node completed (docs/workflows.md, Compensation).
    compensation: str | None = None
    priority: str | None = None  # None: the workflow's settings.priority


@dataclass(frozen=True, slots=True)
class EdgeDef:
    source: str
    target: str
    handle: str = "success"
    index: int = 0

    @property
    def label(self) -> str:
        return f"edges[{self.index}] ({self.source} -> {self.target})"


@dataclass(frozen=True, slots=True)
class WorkflowSettings:
    execution_timeout_ms: int | None = None
    retry: RetryPolicy | None = None
    output: Any = None  # a template; None means "the outputs of the exit nodes"
    task_queue: str = DEFAULT_TASK_QUEUE
    priority: str = NORMAL  # of the activity nodes that name none


@dataclass(frozen=True, slots=True)
class WorkflowDefinition:
    id: str
    version: int
    nodes: tuple[NodeDef, ...]
    edges: tuple[EdgeDef, ...]
    settings: WorkflowSettings = WorkflowSettings()
    name: str | None = None
    description: str | None = None
    document: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        return f"{self.id}:{self.version}"

    def node(self, node_id: str) -> NodeDef:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


def child_workflow_ids(document: Mapping[str, Any]) -> list[str]:
    """The workflows a definition document's subworkflow nodes start (by literal id): what a
    catalog must hold besides the document itself to run or replay it."""
    found = []
    for node in document.get("nodes") or []:
        workflow_id = (node.get("config") or {}).get("workflow_id")
        if node.get("type") == "subworkflow" and isinstance(workflow_id, str) and workflow_id:
            found.append(workflow_id)
    return found
