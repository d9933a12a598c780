from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import ChildWorkflowExecutionCompleted, HistoryEvent
from linkflow.engine.state import ExecutionState


@applies(ChildWorkflowExecutionCompleted)
def apply(state: ExecutionState, event: HistoryEvent, a: ChildWorkflowExecutionCompleted) -> None:
    state.children.pop(a.child_execution_id, None)
