"""Parsing definition documents (JSON, YAML or already-decoded mappings) into typed
definitions. Parsing is tolerant: it collects a problem for every malformed part and goes on,
so that validation can report everything at once."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from linkflow.model.definition import (
    DEFAULT_TASK_QUEUE,
    NORMAL,
    PRIORITIES,
    EdgeDef,
    NodeDef,
    NodeTimeouts,
    RetryPolicy,
    WorkflowDefinition,
    WorkflowSettings,
)
from linkflow.model.durations import parse_duration
from linkflow.model.limits import MAX_ID_LENGTH, MAX_VERSION
from linkflow.model.node_types import SUCCESS, NodeTypeRegistry, default_registry
from linkflow.model.problems import DefinitionError, Problem
from linkflow.model.validation import check_definition

# Node ids appear in expressions (nodes.<id>) and inside scope strings ("loop[3]/inner[0]").
NODE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")

_TOP_KEYS = {"id", "version", "name", "description", "nodes", "edges", "settings", "metadata"}
_NODE_KEYS = {
    "id", "type", "name", "description", "config", "retry", "timeout", "task_queue",
    "on_error", "compensation", "priority", "position", "metadata",
}  # fmt: skip
_EDGE_KEYS = {"id", "source", "target", "handle", "label", "metadata"}
_RETRY_KEYS = {
    "max_attempts", "initial_interval", "backoff_coefficient", "max_interval", "jitter",
    "non_retryable_errors",
}  # fmt: skip
_TIMEOUT_KEYS = {"schedule_to_start", "start_to_close", "heartbeat"}
_SETTINGS_KEYS = {"execution_timeout", "retry", "output", "task_queue", "priority"}
ON_ERROR_VALUES = ("fail", "continue")


def decode_document(text: str) -> Any:
    """JSON or YAML text to plain data (YAML is a superset of JSON; JSON is tried first
    because it is much faster)."""
    try:
        return json.loads(text)
    except ValueError:
        return yaml.safe_load(text)


def load_definition(
    source: str | bytes | Mapping[str, Any], registry: NodeTypeRegistry | None = None
) -> WorkflowDefinition:
    """Parse and validate a definition; raises DefinitionError listing every problem."""
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    if isinstance(source, str):
        try:
            doc: Any = decode_document(source)
        except (ValueError, yaml.YAMLError) as exc:
            raise DefinitionError([Problem(f"not JSON or YAML: {exc}")]) from None
    else:
        doc = source
    problems: list[Problem] = []
    definition = parse_document(doc, problems)
    if definition is not None:
        check_definition(definition, registry or default_registry(), problems)
    if problems or definition is None:
        workflow_id = doc.get("id") if isinstance(doc, Mapping) else None
        raise DefinitionError(problems, workflow_id if isinstance(workflow_id, str) else None)
    return definition


def load_definition_file(
    path: str | Path, registry: NodeTypeRegistry | None = None
) -> WorkflowDefinition:
    return load_definition(Path(path).read_text(encoding="utf-8"), registry)


def validate_document(doc: Any, registry: NodeTypeRegistry | None = None) -> list[Problem]:
    """Every problem in a definition document (empty when it is valid)."""
    if isinstance(doc, str | bytes):
        try:
            doc = decode_document(doc.decode() if isinstance(doc, bytes) else doc)
        except (ValueError, yaml.YAMLError) as exc:
            return [Problem(f"not JSON or YAML: {exc}")]
    problems: list[Problem] = []
    definition = parse_document(doc, problems)
    if definition is not None:
        check_definition(definition, registry or default_registry(), problems)
    return problems


def _unknown_keys(
    data: Mapping[str, Any],
    allowed: set[str],
    problems: list[Problem],
    *,
    node_id: str | None = None,
    edge: str | None = None,
    prefix: str = "",
) -> None:
    for key in data:
        if key not in allowed:
            problems.append(
                Problem(
                    f"unknown key (allowed: {', '.join(sorted(allowed))})",
                    node_id=node_id,
                    edge=edge,
                    field=f"{prefix}{key}",
                )
            )


def _duration(
    data: Mapping[str, Any], key: str, problems: list[Problem], field: str, node_id: str | None
) -> int | None:
    if key not in data or data[key] is None:
        return None
    try:
        return parse_duration(data[key])
    except ValueError as exc:
        problems.append(Problem(str(exc), node_id=node_id, field=field))
        return None


def parse_retry(
    data: Any, problems: list[Problem], field: str, node_id: str | None = None
) -> RetryPolicy | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        problems.append(Problem("must be an object", node_id=node_id, field=field))
        return None
    _unknown_keys(data, _RETRY_KEYS, problems, node_id=node_id, prefix=f"{field}.")
    defaults = RetryPolicy()
    max_attempts = data.get("max_attempts", defaults.max_attempts)
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        problems.append(
            Problem("must be an integer >= 1", node_id=node_id, field=f"{field}.max_attempts")
        )
        max_attempts = defaults.max_attempts
    coefficient = data.get("backoff_coefficient", defaults.backoff_coefficient)
    if isinstance(coefficient, bool) or not isinstance(coefficient, int | float) or coefficient < 1:
        problems.append(
            Problem("must be a number >= 1", node_id=node_id, field=f"{field}.backoff_coefficient")
        )
        coefficient = defaults.backoff_coefficient
    jitter = data.get("jitter", defaults.jitter)
    if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter <= 1:
        problems.append(
            Problem("must be a number in [0, 1]", node_id=node_id, field=f"{field}.jitter")
        )
        jitter = defaults.jitter
    non_retryable = data.get("non_retryable_errors", [])
    if not isinstance(non_retryable, list) or not all(isinstance(x, str) for x in non_retryable):
        problems.append(
            Problem(
                "must be a list of error types",
                node_id=node_id,
                field=f"{field}.non_retryable_errors",
            )
        )
        non_retryable = []
    initial = _duration(data, "initial_interval", problems, f"{field}.initial_interval", node_id)
    maximum = _duration(data, "max_interval", problems, f"{field}.max_interval", node_id)
    initial = defaults.initial_interval_ms if initial is None else initial
    return RetryPolicy(
        max_attempts=max_attempts,
        initial_interval_ms=initial,
        backoff_coefficient=float(coefficient),
        max_interval_ms=max(initial, maximum if maximum is not None else initial * 100),
        jitter=float(jitter),
        non_retryable_errors=tuple(non_retryable),
    )


def _parse_timeouts(data: Any, problems: list[Problem], node_id: str) -> NodeTimeouts:
    if data is None:
        return NodeTimeouts()
    if not isinstance(data, Mapping):
        problems.append(Problem("must be an object", node_id=node_id, field="timeout"))
        return NodeTimeouts()
    _unknown_keys(data, _TIMEOUT_KEYS, problems, node_id=node_id, prefix="timeout.")
    return NodeTimeouts(
        schedule_to_start_ms=_duration(
            data, "schedule_to_start", problems, "timeout.schedule_to_start", node_id
        ),
        start_to_close_ms=_duration(
            data, "start_to_close", problems, "timeout.start_to_close", node_id
        ),
        heartbeat_ms=_duration(data, "heartbeat", problems, "timeout.heartbeat", node_id),
    )


def _parse_node(index: int, raw: Any, problems: list[Problem]) -> NodeDef | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem("must be an object", field=f"nodes[{index}]"))
        return None
    node_id = raw.get("id")
    if isinstance(node_id, str) and len(node_id) > MAX_ID_LENGTH:
        problems.append(
            Problem(f"longer than {MAX_ID_LENGTH} characters", field=f"nodes[{index}].id")
        )
        return None
    if not isinstance(node_id, str) or not NODE_ID.match(node_id):
        problems.append(
            Problem(
                "node id must be a string of letters, digits, '_' or '-' starting with a letter"
                " or '_'",
                node_id=node_id if isinstance(node_id, str) else None,
                field=f"nodes[{index}].id",
            )
        )
        return None
    _unknown_keys(raw, _NODE_KEYS, problems, node_id=node_id)
    node_type = raw.get("type")
    if not isinstance(node_type, str) or not node_type:
        problems.append(Problem("missing node type", node_id=node_id, field="type"))
        node_type = ""
    config = raw.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        problems.append(Problem("must be an object", node_id=node_id, field="config"))
        config = {}
    task_queue = raw.get("task_queue")
    if task_queue is not None and (not isinstance(task_queue, str) or not task_queue):
        problems.append(Problem("must be a non-empty string", node_id=node_id, field="task_queue"))
        task_queue = None
    on_error = raw.get("on_error", "fail")
    if on_error not in ON_ERROR_VALUES:
        problems.append(
            Problem(
                f"must be one of {', '.join(ON_ERROR_VALUES)}", node_id=node_id, field="on_error"
            )
        )
        on_error = "fail"
    name = raw.get("name")
    compensation = raw.get("compensation")
    if compensation is not None and (not isinstance(compensation, str) or not compensation):
        problems.append(Problem("must be the id of a node", node_id=node_id, field="compensation"))
        compensation = None
    priority = raw.get("priority")
    if priority is not None and priority not in PRIORITIES:
        problems.append(
            Problem(f"must be one of {', '.join(PRIORITIES)}", node_id=node_id, field="priority")
        )
        priority = None
    return NodeDef(
        id=node_id,
        type=node_type,
        config=dict(config),
        retry=parse_retry(raw.get("retry"), problems, "retry", node_id),
        timeout=_parse_timeouts(raw.get("timeout"), problems, node_id),
        task_queue=task_queue,
        on_error=str(on_error),
        name=name if isinstance(name, str) else None,
        compensation=compensation,
        priority=priority,
    )


def _parse_edge(index: int, raw: Any, problems: list[Problem]) -> EdgeDef | None:
    label = f"edges[{index}]"
    if not isinstance(raw, Mapping):
        problems.append(Problem("must be an object", edge=label))
        return None
    source, target = raw.get("source"), raw.get("target")
    label = f"edges[{index}] ({source} -> {target})"
    _unknown_keys(raw, _EDGE_KEYS, problems, edge=label)
    ok = True
    for key, value in (("source", source), ("target", target)):
        if not isinstance(value, str) or not value:
            problems.append(Problem("must name a node", edge=label, field=key))
            ok = False
    handle = raw.get("handle", SUCCESS)
    if handle is None:
        handle = SUCCESS
    if not isinstance(handle, str) or not handle:
        problems.append(Problem("must be a non-empty string", edge=label, field="handle"))
        ok = False
    if not ok:
        return None
    return EdgeDef(source=str(source), target=str(target), handle=str(handle), index=index)


def _parse_settings(raw: Any, problems: list[Problem]) -> WorkflowSettings:
    if raw is None:
        return WorkflowSettings()
    if not isinstance(raw, Mapping):
        problems.append(Problem("must be an object", field="settings"))
        return WorkflowSettings()
    _unknown_keys(raw, _SETTINGS_KEYS, problems, prefix="settings.")
    task_queue = raw.get("task_queue", DEFAULT_TASK_QUEUE)
    if not isinstance(task_queue, str) or not task_queue:
        problems.append(Problem("must be a non-empty string", field="settings.task_queue"))
        task_queue = DEFAULT_TASK_QUEUE
    priority = raw.get("priority", NORMAL)
    if priority not in PRIORITIES:
        problems.append(
            Problem(f"must be one of {', '.join(PRIORITIES)}", field="settings.priority")
        )
        priority = NORMAL
    return WorkflowSettings(
        execution_timeout_ms=_duration(
            raw, "execution_timeout", problems, "settings.execution_timeout", None
        ),
        retry=parse_retry(raw.get("retry"), problems, "settings.retry"),
        output=raw.get("output"),
        task_queue=task_queue,
        priority=str(priority),
    )


def parse_document(doc: Any, problems: list[Problem]) -> WorkflowDefinition | None:
    """Best-effort typed definition from a decoded document; problems are appended."""
    if not isinstance(doc, Mapping):
        problems.append(Problem("a workflow definition must be an object"))
        return None
    _unknown_keys(doc, _TOP_KEYS, problems)
    workflow_id = doc.get("id")
    if not isinstance(workflow_id, str) or not workflow_id:
        problems.append(Problem("must be a non-empty string", field="id"))
        workflow_id = ""
    elif len(workflow_id) > MAX_ID_LENGTH:
        problems.append(Problem(f"longer than {MAX_ID_LENGTH} characters", field="id"))
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        problems.append(Problem(f"must be an integer from 1 to {MAX_VERSION}", field="version"))
        version = 0
    raw_nodes = doc.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        problems.append(Problem("must be a non-empty list", field="nodes"))
        raw_nodes = []
    raw_edges = doc.get("edges", [])
    if raw_edges is None:
        raw_edges = []
    if not isinstance(raw_edges, list):
        problems.append(Problem("must be a list", field="edges"))
        raw_edges = []
    nodes: list[NodeDef] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_nodes):
        node = _parse_node(index, raw, problems)
        if node is None:
            continue
        if node.id in seen:
            problems.append(
                Problem("duplicate node id", node_id=node.id, field=f"nodes[{index}].id")
            )
            continue
        seen.add(node.id)
        nodes.append(node)
    edges = [edge for i, raw in enumerate(raw_edges) if (edge := _parse_edge(i, raw, problems))]
    name, description = doc.get("name"), doc.get("description")
    return WorkflowDefinition(
        id=workflow_id,
        version=version,
        nodes=tuple(nodes),
        edges=tuple(edges),
        settings=_parse_settings(doc.get("settings"), problems),
        name=name if isinstance(name, str) else None,
        description=description if isinstance(description, str) else None,
        document=doc,
    )
