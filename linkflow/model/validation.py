"""Semantic checks of a parsed definition against a node-type registry. Every check appends
problems instead of stopping, so a user sees everything wrong with a definition at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jsonschema import Draft202012Validator

from linkflow.expr import (
    ExpressionError,
    check_expression,
    check_template,
    compile_expression,
    compile_template,
)
from linkflow.model.compiled import expression_paths, is_template_string, template_strings
from linkflow.model.definition import EdgeDef, NodeDef, WorkflowDefinition
from linkflow.model.durations import parse_duration
from linkflow.model.graph import adjacency, analyse_loops, find_cycle, reachable
from linkflow.model.node_types import (
    LOOP_BODY,
    TIMEOUT,
    NodeKind,
    NodeType,
    NodeTypeRegistry,
)
from linkflow.model.problems import Problem

_validators: dict[int, tuple[NodeType, Draft202012Validator]] = {}


def _validator(node_type: NodeType) -> Draft202012Validator:
    # Keyed by identity and holding the type alive: NodeType holds a dict, so it is unhashable.
    cached = _validators.get(id(node_type))
    if cached is None or cached[0] is not node_type:
        cached = (node_type, Draft202012Validator(dict(node_type.config_schema)))
        _validators[id(node_type)] = cached
    return cached[1]


def check_definition(
    definition: WorkflowDefinition, registry: NodeTypeRegistry, problems: list[Problem]
) -> None:
    types: dict[str, NodeType] = {}
    for node in definition.nodes:
        node_type = _check_node(node, registry, problems)
        if node_type is not None:
            types[node.id] = node_type
    _check_output(definition, problems)
    _check_node_refs(definition, types, problems)
    edges = _check_edges(definition, types, problems)
    _check_graph(definition, types, edges, problems)
    _check_compensations(definition, types, edges, problems)


def _check_output(definition: WorkflowDefinition, problems: list[Problem]) -> None:
    for path, source in template_strings(definition.settings.output, "settings.output"):
        for error in check_template(source):
            problems.append(
                Problem(f"bad expression {error.expression!r}: {error.reason}", field=path)
            )


def _refs(value: str, as_expression: bool) -> frozenset[str]:
    """The node ids `value` names statically (none if it does not compile: that problem is
    reported on its own)."""
    try:
        if as_expression:
            return compile_expression(value).node_refs
        return compile_template(value).node_refs
    except ExpressionError:
        return frozenset()


def _check_node_refs(
    definition: WorkflowDefinition, types: Mapping[str, NodeType], problems: list[Problem]
) -> None:
    """A reference to a node the definition does not have is a mistake (a typo, a removed
    node): it could only ever fail, or be false under has(), at run time."""
    known = {node.id for node in definition.nodes}

    def report(refs: frozenset[str], node_id: str | None, field: str) -> None:
        for ref in sorted(refs - known):
            problems.append(
                Problem(
                    f"refers to node {ref!r}, which this workflow does not have",
                    node_id=node_id,
                    field=field,
                )
            )

    for path, source in template_strings(definition.settings.output, "settings.output"):
        report(_refs(source, False), None, path)
    for node in definition.nodes:
        node_type = types.get(node.id)
        if node_type is None:
            continue
        expression_values: set[str] = set()
        for spec in node_type.expression_fields:
            for path, value in expression_paths(node.config, spec):
                expression_values.add(path)
                if isinstance(value, str):
                    refs = _refs(value, not is_template_string(value))
                    report(refs, node.id, f"config.{path}")
        for path, source in template_strings(dict(node.config), "config"):
            if path[len("config.") :] not in expression_values:
                report(_refs(source, False), node.id, path)


def _check_node(
    node: NodeDef, registry: NodeTypeRegistry, problems: list[Problem]
) -> NodeType | None:
    if not node.type:
        return None
    if node.type not in registry:
        problems.append(Problem(f"unknown node type {node.type!r}", node_id=node.id, field="type"))
        return None
    node_type = registry.get(node.type)
    for error in _validator(node_type).iter_errors(dict(node.config)):
        base = "config" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        if error.validator == "required" and isinstance(error.instance, Mapping):
            for name in error.validator_value:
                if name not in error.instance:
                    problems.append(
                        Problem(
                            "missing required config key", node_id=node.id, field=f"{base}.{name}"
                        )
                    )
        elif error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
            for name in error.instance:
                if name not in known:
                    problems.append(
                        Problem(
                            f"unknown config key for a {node.type!r} node"
                            f" (allowed: {', '.join(sorted(known)) or 'none'})",
                            node_id=node.id,
                            field=f"{base}.{name}",
                        )
                    )
        else:
            problems.append(Problem(error.message, node_id=node.id, field=base))
    _check_expressions(node, node_type, problems)
    _check_type_specific(node, node_type, problems)
    if node_type.kind is not NodeKind.ACTIVITY:
        timeouts = node.timeout
        if any(
            t is not None
            for t in (
                timeouts.schedule_to_start_ms,
                timeouts.start_to_close_ms,
                timeouts.heartbeat_ms,
            )
        ):
            problems.append(
                Problem(
                    "activity timeouts apply to activity nodes only",
                    node_id=node.id,
                    field="timeout",
                )
            )
        if node.retry is not None:
            problems.append(
                Problem("retries apply to activity nodes only", node_id=node.id, field="retry")
            )
    return node_type


def _check_expressions(node: NodeDef, node_type: NodeType, problems: list[Problem]) -> None:
    expression_values: set[str] = set()
    for spec in node_type.expression_fields:
        for path, value in expression_paths(node.config, spec):
            expression_values.add(path)
            if isinstance(value, str):
                errors = (
                    check_template(value)
                    if is_template_string(value)
                    else [e for e in (check_expression(value),) if e is not None]
                )
                for error in errors:
                    problems.append(
                        Problem(
                            f"bad expression {error.expression!r}: {error.reason}",
                            node_id=node.id,
                            field=f"config.{path}",
                        )
                    )
    for path, source in template_strings(dict(node.config), "config"):
        if path[len("config.") :] in expression_values:
            continue
        for error in check_template(source):
            problems.append(
                Problem(
                    f"bad expression {error.expression!r}: {error.reason}",
                    node_id=node.id,
                    field=path,
                )
            )


def _duration_field(node: NodeDef, key: str, problems: list[Problem]) -> None:
    value = node.config.get(key)
    if value is None or is_template_string(value):
        return
    try:
        parse_duration(value)
    except ValueError as exc:
        problems.append(Problem(str(exc), node_id=node.id, field=f"config.{key}"))


def _check_type_specific(node: NodeDef, node_type: NodeType, problems: list[Problem]) -> None:
    config = node.config
    name = node_type.name
    if name == "wait":
        if ("duration" in config) == ("until" in config):
            problems.append(
                Problem(
                    "set exactly one of 'duration' and 'until'", node_id=node.id, field="config"
                )
            )
        _duration_field(node, "duration", problems)
    elif name in ("wait_for_signal", "approval", "sleep"):
        _duration_field(node, "timeout" if name != "sleep" else "duration", problems)
    elif name == "while":
        if config.get("max_iterations") == 0:
            problems.append(
                Problem("must be at least 1", node_id=node.id, field="config.max_iterations")
            )
    elif name == "switch":
        cases = config.get("cases")
        if isinstance(cases, list):
            seen: set[str] = set()
            for index, case in enumerate(cases):
                if not isinstance(case, Mapping):
                    continue
                case_name = case.get("name")
                if isinstance(case_name, str):
                    if case_name in seen:
                        problems.append(
                            Problem(
                                f"duplicate case name {case_name!r}",
                                node_id=node.id,
                                field=f"config.cases[{index}].name",
                            )
                        )
                    seen.add(case_name)
                if "value" in config:
                    if "equals" not in case:
                        problems.append(
                            Problem(
                                "a switch with 'value' needs 'equals' in every case",
                                node_id=node.id,
                                field=f"config.cases[{index}].equals",
                            )
                        )
                elif "when" not in case:
                    problems.append(
                        Problem(
                            "a case needs a 'when' condition (or give the switch a 'value')",
                            node_id=node.id,
                            field=f"config.cases[{index}].when",
                        )
                    )


def _check_edges(
    definition: WorkflowDefinition, types: Mapping[str, NodeType], problems: list[Problem]
) -> list[EdgeDef]:
    """Edges whose both ends exist and whose handle is valid (the graph checks use these)."""
    node_ids = {node.id for node in definition.nodes}
    configs = {node.id: node.config for node in definition.nodes}
    good: list[EdgeDef] = []
    seen: set[tuple[str, str, str]] = set()
    for edge in definition.edges:
        ok = True
        for key, end in (("source", edge.source), ("target", edge.target)):
            if end not in node_ids:
                problems.append(Problem(f"unknown node {end!r}", edge=edge.label, field=key))
                ok = False
        if not ok:
            continue
        if edge.source == edge.target:
            problems.append(
                Problem("a node cannot connect to itself", edge=edge.label, field="target")
            )
            continue
        source_type = types.get(edge.source)
        if source_type is not None:
            handles = source_type.handles_for(configs[edge.source])
            if edge.handle not in handles:
                problems.append(
                    Problem(
                        f"a {source_type.name!r} node has no handle {edge.handle!r}"
                        f" (handles: {', '.join(handles) or 'none'})",
                        edge=edge.label,
                        field="handle",
                    )
                )
                continue
            if edge.handle == TIMEOUT and configs[edge.source].get("timeout") is None:
                problems.append(
                    Problem(
                        "a timeout edge needs config.timeout on its source node",
                        edge=edge.label,
                        field="handle",
                    )
                )
        triple = (edge.source, edge.target, edge.handle)
        if triple in seen:
            problems.append(Problem("duplicate edge", edge=edge.label))
            continue
        seen.add(triple)
        good.append(edge)
    return good


def _check_graph(
    definition: WorkflowDefinition,
    types: Mapping[str, NodeType],
    edges: list[EdgeDef],
    problems: list[Problem],
) -> None:
    node_ids = [node.id for node in definition.nodes]
    triggers = [n for n in node_ids if n in types and types[n].kind is NodeKind.TRIGGER]
    if not triggers:
        problems.append(Problem("a workflow needs one trigger node", field="nodes"))
    for extra in triggers[1:]:
        problems.append(Problem("only one trigger node is allowed", node_id=extra, field="type"))
    for edge in edges:
        if edge.target in triggers:
            problems.append(
                Problem(
                    "a trigger node cannot have incoming edges", edge=edge.label, field="target"
                )
            )
    loop_nodes = [n for n in node_ids if n in types and types[n].loop]
    analysis = analyse_loops(node_ids, edges, loop_nodes)
    for loop in loop_nodes:
        if not any(e.source == loop and e.handle == LOOP_BODY for e in edges):
            problems.append(Problem("a loop needs a loop_body edge", node_id=loop, field="edges"))
        for trigger in triggers:
            if trigger in analysis.bodies[loop]:
                problems.append(Problem("a trigger cannot be inside a loop body", node_id=trigger))
    _check_nesting(analysis.bodies, problems)
    for edge in edges:
        if edge.index in analysis.back_edges:
            if analysis.container[edge.source] != edge.target:
                problems.append(
                    Problem(
                        f"only nodes directly in the body of {edge.target!r}"
                        " may connect back to it",
                        edge=edge.label,
                        field="target",
                    )
                )
            continue
        if edge.handle == LOOP_BODY and edge.source in analysis.bodies:
            expected: str | None = edge.source
        else:
            expected = analysis.container[edge.source]
        actual = analysis.container[edge.target]
        if actual != expected:
            problems.append(
                Problem(
                    f"edge crosses a loop boundary ({_where(expected)} -> {_where(actual)});"
                    " leave a loop through its loop_done handle",
                    edge=edge.label,
                    field="target",
                )
            )
    forward = [edge for edge in edges if edge.index not in analysis.back_edges]
    cycle = find_cycle(node_ids, forward)
    if cycle is not None:
        problems.append(
            Problem(
                "cycle outside a loop construct: " + " -> ".join(cycle),
                node_id=cycle[0],
                field="edges",
            )
        )
    if len(triggers) == 1:
        # Compensation nodes have no edges: they run only to undo the node naming them.
        seen = reachable(triggers[0], adjacency(edges)) | compensation_nodes(definition)
        for node_id in node_ids:
            if node_id not in seen:
                problems.append(
                    Problem(f"unreachable from the trigger {triggers[0]!r}", node_id=node_id)
                )


def compensation_nodes(definition: WorkflowDefinition) -> set[str]:
    return {n.compensation for n in definition.nodes if n.compensation is not None}


def _check_compensations(
    definition: WorkflowDefinition,
    types: Mapping[str, NodeType],
    edges: Sequence[EdgeDef],
    problems: list[Problem],
) -> None:
    """A compensation names a node of this workflow that a worker runs, that has no edges
    (it runs only as the undo of the node naming it) and that undoes only that node."""
    ids = {node.id for node in definition.nodes}
    targets = compensation_nodes(definition)
    named: dict[str, str] = {}
    loops = [n for n in types if types[n].loop]
    container = analyse_loops([n.id for n in definition.nodes], edges, loops).container
    for node in definition.nodes:
        target = node.compensation
        if target is None:
            continue

        def problem(message: str, node_id: str = node.id) -> None:
            problems.append(Problem(message, node_id=node_id, field="compensation"))

        if target not in ids:
            problem(f"no node {target!r} in this workflow")
            continue
        if target == node.id:
            problem("a node cannot compensate itself")
            continue
        if container.get(node.id) is not None:
            problem(
                f"a node inside the body of loop {container[node.id]!r} cannot have a "
                "compensation: only top-level nodes can (a loop in a child workflow can)"
            )
        if node.id in targets:
            problem("a compensation node cannot have a compensation of its own")
        if target in named:
            problem(f"node {target!r} already compensates {named[target]!r}")
        named[target] = node.id
        kind = types.get(target)
        if kind is not None and kind.kind is not NodeKind.ACTIVITY:
            problem(
                f"node {target!r} is a {definition.node(target).type!r} node; a compensation "
                "runs on a worker (an activity node type)"
            )
        if any(e.source == target or e.target == target for e in edges):
            problem(
                f"node {target!r} has edges; a compensation node has none (it runs only to "
                f"undo {node.id!r})"
            )


def _where(loop: str | None) -> str:
    return "top level" if loop is None else f"body of {loop!r}"


def _check_nesting(bodies: Mapping[str, frozenset[str]], problems: list[Problem]) -> None:
    loops = sorted(bodies)
    for i, outer in enumerate(loops):
        for inner in loops[i + 1 :]:
            a, b = bodies[outer] | {outer}, bodies[inner] | {inner}
            if a & b and not (a <= bodies[inner] or b <= bodies[outer]):
                problems.append(
                    Problem(
                        f"loop bodies of {outer!r} and {inner!r} overlap without nesting",
                        node_id=inner,
                        field="edges",
                    )
                )


def problems_by_node(problems: list[Problem]) -> dict[str | None, list[Problem]]:
    grouped: dict[str | None, list[Problem]] = {}
    for problem in problems:
        grouped.setdefault(problem.node_id, []).append(problem)
    return grouped
