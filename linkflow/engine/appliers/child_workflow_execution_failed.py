from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import ChildWorkflowExecutionFailed, HistoryEvent
from linkflow.engine.state import ExecutionState


@applies(ChildWorkflowExecutionFailed)
def apply(state: ExecutionState, event: HistoryEvent, a: ChildWorkflowExecutionFailed) -> None:
    state.children.pop(a.child_execution_id, None)
