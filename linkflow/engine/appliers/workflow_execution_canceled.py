from __future__ import annotations

from linkflow.engine.appliers._graph import close
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, WorkflowExecutionCanceled
from linkflow.engine.state import CANCELED, ExecutionState


@applies(WorkflowExecutionCanceled)
def apply(state: ExecutionState, event: HistoryEvent, a: WorkflowExecutionCanceled) -> None:
    close(state, CANCELED, event.timestamp_ms)
