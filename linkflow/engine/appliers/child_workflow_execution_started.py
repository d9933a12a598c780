from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import ChildWorkflowExecutionStarted, HistoryEvent
from linkflow.engine.state import N_RUNNING, ChildInfo, ExecutionState


@applies(ChildWorkflowExecutionStarted)
def apply(state: ExecutionState, event: HistoryEvent, a: ChildWorkflowExecutionStarted) -> None:
    state.ready.pop((a.scope, a.node_id), None)
    state.scopes[a.scope].status[a.node_id] = N_RUNNING
    state.children[a.child_execution_id] = ChildInfo(
        child_execution_id=a.child_execution_id,
        node_id=a.node_id,
        scope=a.scope,
        workflow_id=a.workflow_id,
        workflow_version=a.workflow_version,
    )
