from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import CompensationCompleted, HistoryEvent
from linkflow.engine.ids import activity_id
from linkflow.engine.state import ExecutionState


@applies(CompensationCompleted)
def apply(state: ExecutionState, event: HistoryEvent, a: CompensationCompleted) -> None:
    assert state.compensation is not None
    state.activities.pop(activity_id(a.compensation_node_id, a.scope), None)
    state.compensation["pending"].pop(0)
    state.compensation["done"].append([a.node_id, a.scope])
