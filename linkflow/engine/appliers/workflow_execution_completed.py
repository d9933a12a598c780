from __future__ import annotations

from linkflow.engine.appliers._graph import close
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, WorkflowExecutionCompleted
from linkflow.engine.state import COMPLETED, ExecutionState


@applies(WorkflowExecutionCompleted)
def apply(state: ExecutionState, event: HistoryEvent, a: WorkflowExecutionCompleted) -> None:
    state.output = a.output
    close(state, COMPLETED, event.timestamp_ms)
