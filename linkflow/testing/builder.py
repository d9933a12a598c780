"""Terse workflow documents for tests:

workflow("order", [trigger("start"), node("fetch", "http", url="http://x")],
         ["start -> fetch", "fetch -error-> handle", ("a", "b", "true")])
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any

_ARROW = re.compile(r"^\s*([\w-]+)\s*-(?:([^>]*?)-)?>\s*([\w-]+)\s*$")

EdgeSpec = str | tuple[str, str] | tuple[str, str, str] | Mapping[str, Any]


def node(node_id: str, node_type: str, /, **config: Any) -> dict[str, Any]:
    """A node; keyword arguments are its config. Put node-level keys (retry, timeout,
    task_queue, on_error) in with `with_options`."""
    return {"id": node_id, "type": node_type, "config": config}


def trigger(node_id: str = "start") -> dict[str, Any]:
    return {"id": node_id, "type": "trigger"}


def with_options(spec: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {**spec, **options}


def edge(spec: EdgeSpec) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, tuple):
        source, target, *rest = spec
        return {"source": source, "target": target, "handle": rest[0] if rest else "success"}
    match = _ARROW.match(spec)
    if match is None:
        raise ValueError(f"not an edge: {spec!r} (write 'a -> b' or 'a -handle-> b')")
    source, handle, target = match.groups()
    return {"source": source, "target": target, "handle": handle or "success"}


def chain(*node_ids: str) -> list[str]:
    return [f"{a} -> {b}" for a, b in itertools.pairwise(node_ids)]


def workflow(
    workflow_id: str,
    nodes: Iterable[dict[str, Any]],
    edges: Iterable[EdgeSpec] = (),
    *,
    version: int = 1,
    **settings: Any,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": workflow_id,
        "version": version,
        "nodes": list(nodes),
        "edges": [edge(spec) for spec in edges],
    }
    if settings:
        document["settings"] = settings
    return document
