"""The drain loop: run every ready node and every loop that needs a decision, one event at a
time, until nothing is left to decide; then complete the execution if everything resolved."""

from __future__ import annotations

from linkflow.engine.appliers._graph import iteration_result
from linkflow.engine.closing import close_execution
from linkflow.engine.context import DecisionContext
from linkflow.engine.events import (
    Error,
    NodeCompleted,
    NodeSkipped,
    WorkflowExecutionCompleted,
    WorkflowExecutionFailed,
)
from linkflow.engine.nodes import INLINE_EXECUTORS
from linkflow.engine.nodes.activity import run_activity
from linkflow.engine.nodes.loops import attend_loop
from linkflow.engine.scope_vars import expression_scope
from linkflow.engine.state import RUNNING
from linkflow.expr import ExpressionError
from linkflow.model.node_types import SUCCESS, NodeKind


class EngineBug(RuntimeError):
    """A decision step produced no event for the item it handled (it would loop forever)."""


def drain(ctx: DecisionContext) -> None:
    state = ctx.state
    ready = state.ready
    attention = state.attention
    while state.status == RUNNING and state.compensation is None:
        if ready:
            key = next(iter(ready))
            run_ready(ctx, key[0], key[1])
            if key in ready:
                raise EngineBug(f"node {key[1]!r} in scope {key[0]!r} stayed ready")
        elif attention:
            key = next(iter(attention))
            before = len(ctx.events)
            attend_loop(ctx, key[0], state.plan.nodes[key[1]])
            if len(ctx.events) == before:
                raise EngineBug(f"loop {key[1]!r} in scope {key[0]!r} was not decided")
        else:
            break
    if state.status == RUNNING and state.compensation is None and state.scopes[""].unresolved == 0:
        complete_execution(ctx)


def run_ready(ctx: DecisionContext, scope: str, node_id: str) -> None:
    state = ctx.state
    node = state.plan.nodes[node_id]
    if node.in_count:
        arrived = state.scopes[scope].arrived.get(node_id)
        if arrived is None or arrived[1] == 0:
            ctx.emit(NodeSkipped(node_id=node_id, scope=scope))
            return
    kind = node.kind
    if kind is NodeKind.ACTIVITY:
        run_activity(ctx, node, scope)
    elif kind is NodeKind.INLINE:
        INLINE_EXECUTORS[node.type](ctx, node, scope)
    else:  # a trigger has no incoming edges; it completes when the execution starts
        ctx.emit(NodeCompleted(node_id=node_id, scope=scope, output=state.input, handle=SUCCESS))


def complete_execution(ctx: DecisionContext) -> None:
    """Every top-level node resolved: the output comes from the output template, or from the
    exit nodes (completed nodes that took no edge)."""
    state = ctx.state
    plan = state.plan
    if plan.output is None:
        output = iteration_result(plan, state.scopes[""])
    else:
        try:
            output = plan.output.render(expression_scope(ctx, ""))
        except ExpressionError as exc:
            error = Error(
                type="ExpressionError",
                message=f"output expression {exc.expression!r} failed: {exc.reason}",
                retryable=False,
                details={"expression": exc.expression, "reason": exc.reason, "field": "output"},
            )
            close_execution(ctx, WorkflowExecutionFailed(error=error), "output failed")
            return
    close_execution(ctx, WorkflowExecutionCompleted(output=output), "completed")
