from __future__ import annotations

from linkflow.engine.appliers._graph import close
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, WorkflowExecutionFailed
from linkflow.engine.state import FAILED, ExecutionState


@applies(WorkflowExecutionFailed)
def apply(state: ExecutionState, event: HistoryEvent, a: WorkflowExecutionFailed) -> None:
    state.error = a.error
    close(state, FAILED, event.timestamp_ms)
