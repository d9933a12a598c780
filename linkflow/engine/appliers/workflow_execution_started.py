from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, WorkflowExecutionStarted
from linkflow.engine.state import RUNNING, ExecutionState, ScopeState
from linkflow.model.plan import ExecutionPlan


@applies(WorkflowExecutionStarted)
def apply(state: ExecutionState, event: HistoryEvent, a: WorkflowExecutionStarted) -> None:
    plan = None if state.plans is None else state.plans.plan(a.workflow_id, a.workflow_version)
    # An unknown workflow still gets a history (started, then failed) so its caller learns why.
    state.plan = plan or ExecutionPlan.empty(a.workflow_id, a.workflow_version)
    state.status = RUNNING
    state.workflow_id = a.workflow_id
    state.workflow_version = a.workflow_version
    state.input = a.input
    state.request_id = a.request_id
    state.idempotency_key = a.idempotency_key
    state.parent_execution_id = a.parent_execution_id
    state.parent_node_id = a.parent_node_id
    state.parent_scope = a.parent_scope
    state.search_attributes = dict(a.search_attributes)
    state.workspace = a.workspace
    state.execution_timeout_ms = a.execution_timeout_ms
    state.started_at_ms = event.timestamp_ms
    state.request_ids.add(a.request_id)
    state.scopes[""] = ScopeState(key="", unresolved=state.plan.top_count)
