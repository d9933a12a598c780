from __future__ import annotations

from linkflow.engine.closing import close_execution
from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders.registry import Refusal, decides
from linkflow.engine.events import (
    EXECUTION_TIMEOUT,
    Error,
    NodeCompleted,
    WorkflowExecutionFailed,
    WorkflowExecutionStarted,
)
from linkflow.engine.inputs import StartWorkflow
from linkflow.engine.scheduler import drain
from linkflow.engine.timers import start_timer
from linkflow.model.node_types import SUCCESS
from linkflow.model.workspaces import DEFAULT_WORKSPACE


@decides(StartWorkflow)
def decide(ctx: DecisionContext, inp: StartWorkflow) -> str | Refusal | None:
    state = ctx.state
    if state.status != "new":
        # Idempotent start: the execution id is the key, so a second start (same request or
        # idempotency key, or just the same id) never starts anything.
        if inp.request_id in state.request_ids or (
            inp.idempotency_key is not None and inp.idempotency_key == state.idempotency_key
        ):
            return "duplicate start"
        return Refusal(
            "execution_exists",
            f"a start of workflow {inp.workflow_id!r} (request {inp.request_id!r}) for "
            f"execution {state.execution_id!r}, which another request already started "
            f"(workflow {state.workflow_id!r}, status {state.status})",
        )
    workspace = inp.workspace or DEFAULT_WORKSPACE
    version = inp.workflow_version
    # Another workspace's workflow is, for this one, a workflow that does not exist.
    owned = ctx.plans.workspace_of(inp.workflow_id) == workspace
    if version is None and owned:
        version = ctx.plans.latest_version(inp.workflow_id)
    plan = None if version is None or not owned else ctx.plans.plan(inp.workflow_id, version)
    ctx.emit(
        WorkflowExecutionStarted(
            workflow_id=inp.workflow_id,
            workflow_version=version or 0,
            input=inp.input,
            request_id=inp.request_id,
            idempotency_key=inp.idempotency_key,
            parent_execution_id=inp.parent_execution_id,
            parent_node_id=inp.parent_node_id,
            parent_scope=inp.parent_scope,
            execution_timeout_ms=None if plan is None else plan.execution_timeout_ms,
            search_attributes=dict(inp.search_attributes),
            workspace=workspace,
        )
    )
    if plan is None:
        error = Error(
            type="UnknownWorkflow",
            message=f"no workflow {inp.workflow_id!r}"
            + (f" version {inp.workflow_version}" if inp.workflow_version is not None else ""),
            retryable=False,
        )
        close_execution(ctx, WorkflowExecutionFailed(error=error), "unknown workflow")
        return None
    refused = None if ctx.admission is None else ctx.admission.admit(workspace, inp.workflow_id)
    if refused is not None:
        # Recorded, not dropped: the starter reads why in the history and the API.
        close_execution(ctx, WorkflowExecutionFailed(error=refused), "start refused")
        return None
    if plan.execution_timeout_ms is not None:
        start_timer(ctx, EXECUTION_TIMEOUT, ctx.now_ms + plan.execution_timeout_ms)
    ctx.emit(NodeCompleted(node_id=plan.trigger, scope="", output=inp.input, handle=SUCCESS))
    drain(ctx)
    return None
