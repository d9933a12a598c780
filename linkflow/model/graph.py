"""Graph analysis shared by validation and plan building: reachability, loop bodies and
cycles. Pure functions over node ids and edges, so they also run on broken definitions."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from linkflow.model.definition import EdgeDef
from linkflow.model.node_types import LOOP_BODY


def adjacency(edges: Iterable[EdgeDef]) -> dict[str, list[EdgeDef]]:
    out: dict[str, list[EdgeDef]] = {}
    for edge in edges:
        out.setdefault(edge.source, []).append(edge)
    return out


def reachable(start: str, out: Mapping[str, Sequence[EdgeDef]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for edge in out.get(queue.popleft(), ()):
            if edge.target not in seen:
                seen.add(edge.target)
                queue.append(edge.target)
    return seen


@dataclass(frozen=True, slots=True)
class LoopAnalysis:
    """Which nodes form each loop's body, each node's innermost enclosing loop, and which
    edges are back edges (body -> its loop node: "this iteration is done here")."""

    bodies: Mapping[str, frozenset[str]]
    container: Mapping[str, str | None]
    back_edges: frozenset[int]


def analyse_loops(
    node_ids: Sequence[str], edges: Sequence[EdgeDef], loop_nodes: Iterable[str]
) -> LoopAnalysis:
    out = adjacency(edges)
    bodies: dict[str, frozenset[str]] = {}
    for loop in loop_nodes:
        members: set[str] = set()
        queue: deque[str] = deque()
        for edge in out.get(loop, ()):
            if edge.handle == LOOP_BODY and edge.target != loop and edge.target not in members:
                members.add(edge.target)
                queue.append(edge.target)
        while queue:
            for edge in out.get(queue.popleft(), ()):
                if edge.target != loop and edge.target not in members:
                    members.add(edge.target)
                    queue.append(edge.target)
        bodies[loop] = frozenset(members)
    container: dict[str, str | None] = {}
    for node in node_ids:
        best: str | None = None
        for loop, body in bodies.items():
            if node in body and (best is None or len(body) < len(bodies[best])):
                best = loop
        container[node] = best
    back = frozenset(
        edge.index for edge in edges if edge.target in bodies and edge.source in bodies[edge.target]
    )
    return LoopAnalysis(bodies=bodies, container=container, back_edges=back)


def find_cycle(node_ids: Sequence[str], edges: Iterable[EdgeDef]) -> list[str] | None:
    """Nodes on some cycle (in order), or None when the graph is acyclic."""
    out: dict[str, list[str]] = {node: [] for node in node_ids}
    for edge in edges:
        if edge.source in out and edge.target in out:
            out[edge.source].append(edge.target)
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(node_ids, white)
    for root in node_ids:
        if colour[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        colour[root] = grey
        while stack:
            node, index = stack[-1]
            targets = out[node]
            if index < len(targets):
                stack[-1] = (node, index + 1)
                target = targets[index]
                if colour[target] == grey:
                    return [*path[path.index(target) :], target]
                if colour[target] == white:
                    colour[target] = grey
                    stack.append((target, 0))
                    path.append(target)
            else:
                colour[node] = black
                stack.pop()
                path.pop()
    return None
