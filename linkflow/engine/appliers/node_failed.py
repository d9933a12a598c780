from __future__ import annotations

from linkflow.engine.appliers._graph import drop_loop, remove_waiter, resolve, signal_name
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, NodeFailed
from linkflow.engine.ids import activity_id
from linkflow.engine.state import N_FAILED, ExecutionState
from linkflow.model.node_types import ERROR


@applies(NodeFailed)
def apply(state: ExecutionState, event: HistoryEvent, a: NodeFailed) -> None:
    scope = state.scopes[a.scope]
    node = state.plan.nodes[a.node_id]
    key = (a.scope, a.node_id)
    state.ready.pop(key, None)
    scope.status[node.id] = N_FAILED
    state.activities.pop(activity_id(node.id, a.scope), None)
    wait = state.waits.pop(key, None)
    if wait is not None and wait.signal_name is not None:
        remove_waiter(state, signal_name(node), key)
    if node.is_loop:
        drop_loop(state, scope, node.id)
    if a.routed:
        # The error branch sees the failure as the node's output.
        scope.outputs[node.id] = {"error": a.error.to_dict()}
        resolve(state, scope, node, ERROR)
    # Not routed: the failure escalates (to the enclosing loop, or fails the execution), and
    # the events that follow say so; this scope is abandoned as it is.
