"""Execution plans: everything the engine needs about a definition, computed once per
(workflow id, version) and never changed afterwards.

Built in stages (after the SIM-style DAG pipeline):
  1. reachability   - the trigger and the nodes reachable from it;
  2. loop scopes    - the body of every foreach/while/parallel node, each node's enclosing
                      loop chain, back edges (body -> loop node) that only mark an iteration end;
  3. iteration templates ("parallel expansion") - per loop node: entry nodes, direct members
                      and their count. A loop's body is expanded at run time into one scope per
                      item ("foreach1[3]"), because the collection is only known then;
  4. edges by handle - per node: the edges that propagate in its own scope, grouped by handle,
                      and how many incoming edges must resolve before it runs;
  5. compiled config - templates and CEL expressions compiled once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from linkflow.model.compiled import Compiled, Constant, compile_expression_field, compile_value
from linkflow.model.definition import (
    HIGH,
    NodeDef,
    NodeTimeouts,
    RetryPolicy,
    WorkflowDefinition,
)
from linkflow.model.durations import parse_duration
from linkflow.model.graph import adjacency, analyse_loops, reachable
from linkflow.model.node_types import (
    ERROR,
    LOOP_BODY,
    TIMEOUT,
    NodeKind,
    NodeType,
    NodeTypeRegistry,
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SwitchCase:
    name: str
    when: Compiled | None
    equals: Any


@dataclass(frozen=True, slots=True, eq=False)
class PlanNode:
    id: str
    type: str
    kind: NodeKind
    node_type: NodeType
    index: int
    definition: NodeDef
    container: str | None
    chain: tuple[str, ...]  # enclosing loops, outermost first
    in_count: int
    out: Mapping[str, tuple[str, ...]]  # handle -> targets in the same scope
    sources: tuple[str, ...]  # nodes with an edge into this one (same scope)
    retry: RetryPolicy
    timeouts: NodeTimeouts
    task_queue: str | None
    input: Compiled  # the whole config, for activities
    fields: Mapping[str, Compiled]  # compiled config entries, for inline nodes
    cases: tuple[SwitchCase, ...] = ()
    body_members: tuple[str, ...] = ()
    body_entries: tuple[str, ...] = ()
    duration_ms: int | None = None  # wait.duration / signal timeout when constant
    high_priority: bool = False  # an activity whose tasks go to the queue's .high topic
    compensation: str | None = None  # the node that undoes this one
    compensates: str | None = None  # for a compensation node: the node it undoes

    @property
    def has_error_edge(self) -> bool:
        return ERROR in self.out

    @property
    def has_timeout_edge(self) -> bool:
        return TIMEOUT in self.out

    @property
    def is_loop(self) -> bool:
        return self.node_type.loop


@dataclass(frozen=True, slots=True, eq=False)
class ExecutionPlan:
    workflow_id: str
    version: int
    nodes: Mapping[str, PlanNode]
    trigger: str
    top_count: int
    output: Compiled | None
    execution_timeout_ms: int | None
    definition: WorkflowDefinition | None = field(default=None, repr=False)

    @property
    def known(self) -> bool:
        """False for the placeholder of a workflow that is not registered."""
        return bool(self.nodes)

    @staticmethod
    def empty(workflow_id: str, version: int) -> ExecutionPlan:
        return ExecutionPlan(workflow_id, version, _EMPTY, "", 0, None, None)


def build_plan(definition: WorkflowDefinition, registry: NodeTypeRegistry) -> ExecutionPlan:
    """The plan of a definition that passed validation."""
    types = {node.id: registry.get(node.type) for node in definition.nodes}
    node_ids = [node.id for node in definition.nodes]
    edges = list(definition.edges)

    # Stage 1: reachability.
    trigger = next(n for n in node_ids if types[n].kind is NodeKind.TRIGGER)
    live = reachable(trigger, adjacency(edges))
    # A compensation node has no edges: live when the node it undoes is.
    undoes = {n.compensation: n.id for n in definition.nodes if n.compensation is not None}
    live |= {target for target, source in undoes.items() if source in live}
    node_ids = [n for n in node_ids if n in live]
    edges = [e for e in edges if e.source in live and e.target in live]

    # Stage 2: loop scopes.
    analysis = analyse_loops(node_ids, edges, [n for n in node_ids if types[n].loop])
    chains: dict[str, tuple[str, ...]] = {}
    for node_id in node_ids:
        chain: list[str] = []
        loop = analysis.container[node_id]
        while loop is not None:
            chain.append(loop)
            loop = analysis.container[loop]
        chains[node_id] = tuple(reversed(chain))

    # Stage 3: iteration templates.
    members: dict[str, list[str]] = {loop: [] for loop in analysis.bodies}
    for node_id in node_ids:
        container = analysis.container[node_id]
        if container is not None:
            members[container].append(node_id)
    entries: dict[str, list[str]] = {loop: [] for loop in analysis.bodies}

    # Stage 4: edges by handle.
    out: dict[str, dict[str, list[str]]] = {n: {} for n in node_ids}
    incoming: dict[str, list[str]] = {n: [] for n in node_ids}
    for edge in edges:
        if edge.index in analysis.back_edges:
            continue
        incoming[edge.target].append(edge.source)
        if edge.handle == LOOP_BODY and edge.source in analysis.bodies:
            entries[edge.source].append(edge.target)
            continue
        out[edge.source].setdefault(edge.handle, []).append(edge.target)

    default_retry = definition.settings.retry or RetryPolicy()
    nodes: dict[str, PlanNode] = {}
    for index, node_id in enumerate(node_ids):
        node = definition.node(node_id)
        node_type = types[node_id]
        fields, cases, duration = _compile_fields(node, node_type)
        nodes[node_id] = PlanNode(
            id=node_id,
            type=node.type,
            kind=node_type.kind,
            node_type=node_type,
            index=index,
            definition=node,
            container=analysis.container[node_id],
            chain=chains[node_id],
            in_count=len(incoming[node_id]),
            out=MappingProxyType({h: tuple(t) for h, t in out[node_id].items()}),
            sources=tuple(dict.fromkeys(incoming[node_id])),
            retry=node.retry or default_retry,
            timeouts=node.timeout,
            task_queue=(
                node.task_queue or node_type.task_queue or definition.settings.task_queue
                if node_type.kind is NodeKind.ACTIVITY
                else None
            ),
            input=compile_value(dict(node.config))
            if node_type.kind is NodeKind.ACTIVITY
            else Constant(None),
            fields=MappingProxyType(fields),
            cases=cases,
            body_members=tuple(members.get(node_id, ())),
            body_entries=tuple(dict.fromkeys(entries.get(node_id, ()))),
            duration_ms=duration,
            high_priority=(node.priority or definition.settings.priority) == HIGH
            and node_type.kind is NodeKind.ACTIVITY,
            compensation=node.compensation,
            compensates=undoes.get(node_id),
        )
    output = definition.settings.output
    return ExecutionPlan(
        workflow_id=definition.id,
        version=definition.version,
        nodes=MappingProxyType(nodes),
        trigger=trigger,
        # Compensation nodes are not part of the flow: the execution completes without them.
        top_count=sum(1 for n in nodes.values() if n.container is None and not n.compensates),
        output=None if output is None else compile_value(output),
        execution_timeout_ms=definition.settings.execution_timeout_ms,
        definition=definition,
    )


def _compile_fields(
    node: NodeDef, node_type: NodeType
) -> tuple[dict[str, Compiled], tuple[SwitchCase, ...], int | None]:
    """Stage 5 for one node: compiled config entries (expression fields as expressions)."""
    if node_type.kind is NodeKind.ACTIVITY:
        return {}, (), None
    config = node.config
    expression_keys = {spec for spec in node_type.expression_fields if "[" not in spec}
    fields: dict[str, Compiled] = {}
    for key, value in config.items():
        if key == "cases":
            continue
        fields[key] = (
            compile_expression_field(value) if key in expression_keys else compile_value(value)
        )
    cases: list[SwitchCase] = []
    for case in config.get("cases", ()) if node_type.name == "switch" else ():
        when = case.get("when")
        cases.append(
            SwitchCase(
                name=str(case["name"]),
                when=None if when is None else compile_expression_field(when),
                equals=case.get("equals"),
            )
        )
    duration: int | None = None
    key = "duration" if node_type.name == "wait" else "timeout"
    raw = config.get(key)
    literal = isinstance(raw, int | float) and not isinstance(raw, bool)
    if literal or (isinstance(raw, str) and "{{" not in raw):
        duration = parse_duration(raw)
    return fields, tuple(cases), duration
