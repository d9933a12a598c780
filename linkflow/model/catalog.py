"""The catalog: registered definitions by (id, version) and their cached execution plans."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from linkflow.model.definition import WorkflowDefinition
from linkflow.model.loader import load_definition
from linkflow.model.node_types import NodeTypeRegistry, default_registry
from linkflow.model.plan import ExecutionPlan, build_plan
from linkflow.model.problems import DefinitionError, Problem
from linkflow.model.validation import check_definition
from linkflow.model.workspaces import DEFAULT_WORKSPACE


class PlanSource(Protocol):
    """What the engine needs from a catalog (processors may supply their own)."""

    def plan(self, workflow_id: str, version: int | None = None) -> ExecutionPlan | None: ...

    def latest_version(self, workflow_id: str) -> int | None: ...

    def workspace_of(self, workflow_id: str) -> str: ...


class Catalog:
    """Definitions by id and version; a plan is built once per (id, version) and cached.

    Registering the same id and version again with a different document replaces it (and its
    plan): the definitions topic is compacted by "id:version", so the last record wins.
    A workflow id belongs to one workspace (that of its last registered version; the API
    refuses to register an id another workspace owns).
    """

    def __init__(
        self,
        definitions: Iterable[WorkflowDefinition | Mapping[str, Any] | str] = (),
        *,
        registry: NodeTypeRegistry | None = None,
    ) -> None:
        self.registry = registry or default_registry()
        self._definitions: dict[str, dict[int, WorkflowDefinition]] = {}
        self._plans: dict[tuple[str, int], ExecutionPlan] = {}
        self._workspaces: dict[str, str] = {}
        for definition in definitions:
            self.register(definition)

    def register(
        self,
        definition: WorkflowDefinition | Mapping[str, Any] | str,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> WorkflowDefinition:
        """Validate and add a definition; raises DefinitionError listing every problem."""
        if isinstance(definition, WorkflowDefinition):
            # A typed definition may have been built by hand: validate it all the same.
            problems: list[Problem] = []
            check_definition(definition, self.registry, problems)
            if problems:
                raise DefinitionError(problems, definition.id)
        else:
            definition = load_definition(definition, self.registry)
        versions = self._definitions.setdefault(definition.id, {})
        versions[definition.version] = definition
        self._plans.pop((definition.id, definition.version), None)
        self._workspaces[definition.id] = workspace
        return definition

    def get(self, workflow_id: str, version: int | None = None) -> WorkflowDefinition | None:
        versions = self._definitions.get(workflow_id)
        if not versions:
            return None
        if version is None:
            version = max(versions)
        return versions.get(version)

    def latest_version(self, workflow_id: str) -> int | None:
        versions = self._definitions.get(workflow_id)
        return max(versions) if versions else None

    def workspace_of(self, workflow_id: str) -> str:
        """The workspace that owns `workflow_id` (`default` for an unknown id)."""
        return self._workspaces.get(workflow_id, DEFAULT_WORKSPACE)

    def plan(self, workflow_id: str, version: int | None = None) -> ExecutionPlan | None:
        if version is None:
            version = self.latest_version(workflow_id)
            if version is None:
                return None
        key = (workflow_id, version)
        cached = self._plans.get(key)
        if cached is None:
            definition = self.get(workflow_id, version)
            if definition is None:
                return None
            cached = self._plans[key] = build_plan(definition, self.registry)
        return cached

    def __iter__(self) -> Iterator[WorkflowDefinition]:
        for versions in self._definitions.values():
            yield from versions.values()
