from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders.registry import decides
from linkflow.engine.events import (
    ChildWorkflowExecutionCompleted,
    ChildWorkflowExecutionFailed,
    Error,
    NodeCompleted,
)
from linkflow.engine.failure import fail_node
from linkflow.engine.inputs import ChildWorkflowOutcome
from linkflow.engine.scheduler import drain
from linkflow.model.node_types import SUCCESS


@decides(ChildWorkflowOutcome)
def decide(ctx: DecisionContext, inp: ChildWorkflowOutcome) -> str | None:
    state = ctx.state
    child = state.children.get(inp.child_execution_id)
    if child is None:
        return "child not pending"
    if state.compensation is not None:
        return "compensating"  # the flow has stopped; the child was asked to stop too
    node = state.plan.nodes[child.node_id]
    if inp.completed:
        ctx.emit(
            ChildWorkflowExecutionCompleted(
                child_execution_id=inp.child_execution_id, output=inp.output
            )
        )
        ctx.emit(
            NodeCompleted(node_id=node.id, scope=child.scope, output=inp.output, handle=SUCCESS)
        )
    else:
        cause = inp.error or Error(type="ChildWorkflowFailed", message="child workflow failed")
        ctx.emit(
            ChildWorkflowExecutionFailed(child_execution_id=inp.child_execution_id, error=cause)
        )
        error = Error(
            type="ChildWorkflowFailed",
            message=f"child {inp.child_execution_id} failed: {cause.type}: {cause.message}",
            retryable=False,
            node_id=node.id,
            details={"child_execution_id": inp.child_execution_id, "cause": cause.to_dict()},
        )
        fail_node(ctx, node, child.scope, error)
    drain(ctx)
    return None
