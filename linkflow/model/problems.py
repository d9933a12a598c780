"""Definition problems: every one names the node or edge and the field it concerns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a workflow definition.

    `node_id` or `edge` locate it in the graph (an edge is named "edges[i] (source -> target)"),
    `field` names the offending key as a dotted path ("config.url", "retry.max_attempts").
    """

    message: str
    node_id: str | None = None
    edge: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where: list[str] = []
        if self.node_id is not None:
            where.append(f"node {self.node_id!r}")
        if self.edge is not None:
            where.append(f"edge {self.edge}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class DefinitionError(ValueError):
    """A definition was rejected; `problems` lists every reason at once."""

    def __init__(self, problems: Sequence[Problem], workflow_id: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.workflow_id = workflow_id
        head = f"workflow {workflow_id!r} is invalid" if workflow_id else "invalid workflow"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head} ({len(self.problems)} problem(s)):\n{lines}")
