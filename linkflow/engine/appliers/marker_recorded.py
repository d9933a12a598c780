"""Markers record engine decisions that have no event type of their own: a loop started (with
its items), an iteration started, a node started waiting for a signal."""

from __future__ import annotations

from typing import Any

from linkflow.engine.appliers._graph import refresh_attention, start_iteration
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import (
    ERROR_CONTINUED,
    EXECUTION_RESET,
    ITERATION_STARTED,
    LOOP_STARTED,
    SIGNAL_WAIT_STARTED,
    HistoryEvent,
    MarkerRecorded,
)
from linkflow.engine.state import N_LOOPING, N_WAITING, ExecutionState, LoopState, WaitInfo


@applies(MarkerRecorded)
def apply(state: ExecutionState, event: HistoryEvent, a: MarkerRecorded) -> None:
    details: dict[str, Any] = a.details if isinstance(a.details, dict) else {}
    if a.marker_name == LOOP_STARTED:
        _loop_started(state, details)
    elif a.marker_name == ITERATION_STARTED:
        scope = state.scopes[details["scope"]]
        node = state.plan.nodes[details["node_id"]]
        index = int(details["index"])
        items = scope.loops[node.id].items
        # The item is not repeated in the marker: the loop_started marker holds the items.
        start_iteration(state, scope, node, index, None if items is None else items[index])
    elif a.marker_name == SIGNAL_WAIT_STARTED:
        key = (details["scope"], details["node_id"])
        name = str(details["signal_name"])
        state.ready.pop(key, None)
        state.scopes[key[0]].status[key[1]] = N_WAITING
        state.waits[key] = WaitInfo(node_id=key[1], scope=key[0], signal_name=name)
        state.signal_waiters.setdefault(name, []).append(key)
    elif a.marker_name == EXECUTION_RESET:
        # A repeated delivery of the reset command is then a duplicate, as for signals.
        state.request_ids.add(str(details["request_id"]))
    elif a.marker_name == ERROR_CONTINUED:
        # The node failed and went on: it did nothing a compensation should undo.
        done = [details.get("node_id"), details.get("scope")]
        if done in state.compensable:
            state.compensable.remove(done)
    # Other markers (user or future ones) change nothing.


def _loop_started(state: ExecutionState, details: dict[str, Any]) -> None:
    scope = state.scopes[details["scope"]]
    node = state.plan.nodes[details["node_id"]]
    config = node.definition.config
    items = details.get("items")
    if node.type == "while":
        concurrency = 1
    else:
        default = 1 if node.type == "foreach" else 0
        concurrency = int(config.get("concurrency", default))
    max_iterations = config.get("max_iterations")
    loop = LoopState(
        node_id=node.id,
        kind=node.type,
        items=list(items) if isinstance(items, list) else None,
        concurrency=concurrency,
        max_iterations=int(max_iterations) if max_iterations is not None else None,
    )
    state.ready.pop((scope.key, node.id), None)
    scope.status[node.id] = N_LOOPING
    scope.loops[node.id] = loop
    refresh_attention(state, scope.key, loop)
