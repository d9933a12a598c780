from __future__ import annotations

from linkflow.engine.appliers._graph import consume_signal, remove_waiter, resolve, signal_name
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, NodeCompleted
from linkflow.engine.ids import activity_id
from linkflow.engine.state import N_COMPLETED, ExecutionState
from linkflow.model.node_types import TIMEOUT, NodeKind


@applies(NodeCompleted)
def apply(state: ExecutionState, event: HistoryEvent, a: NodeCompleted) -> None:
    scope = state.scopes[a.scope]
    node = state.plan.nodes[a.node_id]
    key = (a.scope, a.node_id)
    state.ready.pop(key, None)
    if node.compensation is not None:
        state.compensable.append([a.node_id, a.scope])
    scope.status[node.id] = N_COMPLETED
    scope.outputs[node.id] = a.output
    if node.kind is NodeKind.ACTIVITY:
        state.activities.pop(activity_id(node.id, a.scope), None)
    elif node.type == "set":
        if isinstance(a.output, dict):
            state.vars.update(a.output)
    elif node.type in ("wait_for_signal", "approval"):
        wait = state.waits.pop(key, None)
        name = signal_name(node)
        if wait is not None:
            remove_waiter(state, name, key)
        if a.handle != TIMEOUT:
            consume_signal(state, name)
    elif node.type == "wait":
        state.waits.pop(key, None)
    elif node.is_loop:
        scope.loops.pop(node.id, None)
        state.attention.pop(key, None)
    resolve(state, scope, node, a.handle)
