from __future__ import annotations

from linkflow.engine.appliers._graph import close
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, WorkflowExecutionTerminated
from linkflow.engine.state import TERMINATED, ExecutionState


@applies(WorkflowExecutionTerminated)
def apply(state: ExecutionState, event: HistoryEvent, a: WorkflowExecutionTerminated) -> None:
    state.request_ids.add(a.request_id)
    close(state, TERMINATED, event.timestamp_ms)
