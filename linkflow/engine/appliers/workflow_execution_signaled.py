from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, WorkflowExecutionSignaled
from linkflow.engine.state import ExecutionState


@applies(WorkflowExecutionSignaled)
def apply(state: ExecutionState, event: HistoryEvent, a: WorkflowExecutionSignaled) -> None:
    # Every signal is buffered; a waiting node consumes it when its NodeCompleted is applied,
    # so a signal that arrives before anyone waits is not lost.
    state.request_ids.add(a.request_id)
    state.signal_buffer.setdefault(a.signal_name, []).append(a.payload)
