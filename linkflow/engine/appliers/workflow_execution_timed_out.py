from __future__ import annotations

from linkflow.engine.appliers._graph import close
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, WorkflowExecutionTimedOut
from linkflow.engine.state import TIMED_OUT, ExecutionState


@applies(WorkflowExecutionTimedOut)
def apply(state: ExecutionState, event: HistoryEvent, a: WorkflowExecutionTimedOut) -> None:
    close(state, TIMED_OUT, event.timestamp_ms)
