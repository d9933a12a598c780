from __future__ import annotations

from linkflow.engine.appliers._graph import resolve
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, NodeSkipped
from linkflow.engine.state import N_SKIPPED, ExecutionState


@applies(NodeSkipped)
def apply(state: ExecutionState, event: HistoryEvent, a: NodeSkipped) -> None:
    scope = state.scopes[a.scope]
    state.ready.pop((a.scope, a.node_id), None)
    scope.status[a.node_id] = N_SKIPPED
    resolve(state, scope, state.plan.nodes[a.node_id], None)
