from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, WorkflowExecutionCancelRequested
from linkflow.engine.state import ExecutionState


@applies(WorkflowExecutionCancelRequested)
def apply(state: ExecutionState, event: HistoryEvent, a: WorkflowExecutionCancelRequested) -> None:
    state.cancel_requested = True
    state.request_ids.add(a.request_id)
