from __future__ import annotations

from linkflow.engine.appliers._graph import close
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, WorkflowExecutionContinuedAsNew
from linkflow.engine.state import CONTINUED_AS_NEW, ExecutionState


@applies(WorkflowExecutionContinuedAsNew)
def apply(state: ExecutionState, event: HistoryEvent, a: WorkflowExecutionContinuedAsNew) -> None:
    close(state, CONTINUED_AS_NEW, event.timestamp_ms)
