"""fail and terminate nodes."""

from __future__ import annotations

from typing import Any

from linkflow.engine.closing import close_execution
from linkflow.engine.context import DecisionContext
from linkflow.engine.events import Error, NodeCompleted, NodeFailed, WorkflowExecutionTerminated
from linkflow.engine.failure import escalate
from linkflow.engine.scope_vars import expression_error, expression_scope
from linkflow.expr import ExpressionError
from linkflow.model.node_types import SUCCESS
from linkflow.model.plan import PlanNode


def _render(ctx: DecisionContext, node: PlanNode, scope: str, field: str, default: Any) -> Any:
    compiled = node.fields.get(field)
    if compiled is None:
        return default
    return compiled.render(expression_scope(ctx, scope))


def run_fail(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    try:
        message = _render(ctx, node, scope, "message", f"failed at node {node.id!r}")
        details = _render(ctx, node, scope, "details", None)
    except ExpressionError as exc:
        error = expression_error(node, exc)
    else:
        error = Error(
            type=str(node.definition.config.get("error_type", "WorkflowFailure")),
            message=str(message),
            retryable=False,
            node_id=node.id,
            details=details,
        )
    # A fail node raises: it escalates like any unrouted failure (a loop's error edge may
    # still catch it).
    ctx.emit(NodeFailed(node_id=node.id, scope=scope, error=error, routed=False))
    escalate(ctx, scope, error)


def run_terminate(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    try:
        reason = str(_render(ctx, node, scope, "reason", f"terminated by node {node.id!r}"))
    except ExpressionError as exc:
        reason = expression_error(node, exc).message
    ctx.emit(NodeCompleted(node_id=node.id, scope=scope, output={"reason": reason}, handle=SUCCESS))
    if ctx.state.is_open:
        close_execution(
            ctx,
            WorkflowExecutionTerminated(request_id="", reason=reason, identity=f"node:{node.id}"),
            reason,
        )
