"""Compensation (saga): when an execution fails or is cancelled, the completed nodes that name
a compensation node are undone, one at a time, newest first, before it closes.

    CompensationStarted(cause, nodes, error|reason)
      ActivityTaskScheduled(compensation node) ... ActivityTaskCompleted
      CompensationCompleted(node)            (or CompensationFailed, once its retries are spent)
      ...
    WorkflowExecutionFailed(error + details.compensation) | WorkflowExecutionCanceled

Each compensation is an activity of its own node (its retry policy and timeouts apply) with
the scope of the node it undoes, so its config can read that node's output. A failed
compensation does not stop the others. A cancel request while compensating is recorded and
changes nothing; a terminate closes at once (its compensation attempt is cancelled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from linkflow.engine.events import (
    COMPENSATE_CANCELED,
    COMPENSATE_FAILED,
    CompensationCompleted,
    CompensationFailed,
    CompensationStarted,
    Error,
    EventAttributes,
    WorkflowExecutionCanceled,
    WorkflowExecutionFailed,
)
from linkflow.engine.state import ActivityRun, ExecutionState

if TYPE_CHECKING:
    from linkflow.engine.context import DecisionContext


def begin(ctx: DecisionContext, terminal: EventAttributes, reason: str) -> bool:
    """Compensate instead of closing with `terminal` now, if anything is to be undone.
    False: close as usual (nothing completed that names a compensation, a terminal that is
    not a failure or a cancellation, or compensation already ran)."""
    from linkflow.engine.closing import cancel_work

    state = ctx.state
    if state.compensation is not None or not state.compensable:
        return False
    if isinstance(terminal, WorkflowExecutionFailed):
        cause, error, why = COMPENSATE_FAILED, terminal.error, ""
    elif isinstance(terminal, WorkflowExecutionCanceled):
        cause, error, why = COMPENSATE_CANCELED, None, terminal.reason
    else:
        return False
    cancel_work(ctx, reason)
    nodes = [{"node_id": n, "scope": s} for n, s in reversed(state.compensable)]
    ctx.emit(CompensationStarted(cause=cause, nodes=nodes, error=error, reason=why))
    advance(ctx)
    return True


def advance(ctx: DecisionContext) -> None:
    """Start the next compensation, or close once none is left."""
    from linkflow.engine.closing import close_execution
    from linkflow.engine.nodes.activity import schedule_activity
    from linkflow.engine.scope_vars import expression_error, expression_scope
    from linkflow.expr import ExpressionError

    state = ctx.state
    comp = state.compensation
    assert comp is not None
    while comp["pending"]:
        node_id, scope = comp["pending"][0]
        undo = state.plan.nodes[state.plan.nodes[node_id].compensation or ""]
        try:
            rendered = undo.input.render(expression_scope(ctx, scope))
        except ExpressionError as exc:
            error = expression_error(undo, exc)
            ctx.emit(
                CompensationFailed(
                    node_id=node_id, scope=scope, compensation_node_id=undo.id, error=error
                )
            )
            continue
        # The head of `pending` is the compensation in progress until its outcome's applier
        # takes it off.
        schedule_activity(ctx, undo, scope, 1, rendered)
        return
    close_execution(ctx, _terminal(comp), "compensation done")


def compensating(state: ExecutionState, run: ActivityRun) -> bool:
    """Whether `run` is the attempt of the compensation in progress."""
    comp = state.compensation
    return comp is not None and state.plan.nodes[run.node_id].compensates is not None


def finished(ctx: DecisionContext, run: ActivityRun, error: Error | None) -> None:
    """The compensation in progress succeeded (`error` None) or failed for good."""
    node = ctx.state.plan.nodes[run.node_id]
    assert node.compensates is not None
    if error is None:
        ctx.emit(
            CompensationCompleted(
                node_id=node.compensates, scope=run.scope, compensation_node_id=node.id
            )
        )
    else:
        ctx.emit(
            CompensationFailed(
                node_id=node.compensates, scope=run.scope, compensation_node_id=node.id, error=error
            )
        )
    advance(ctx)


def _terminal(comp: dict[str, Any]) -> EventAttributes:
    summary = {"completed": [n for n, _ in comp["done"]], "failed": comp["failed"]}
    if comp["cause"] == COMPENSATE_CANCELED:
        return WorkflowExecutionCanceled(reason=str(comp["reason"]))
    original = Error.from_dict(comp["error"])
    return WorkflowExecutionFailed(error=original.with_details(compensation=summary))
