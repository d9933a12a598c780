"""foreach, parallel and while. A loop starts (marker with its items), then each decision
either starts one iteration (marker), or completes the loop with the iteration results in index
order. Iterations run in their own scopes; an iteration ends when all its nodes resolved."""

from __future__ import annotations

from typing import Any

from linkflow.engine.context import DecisionContext
from linkflow.engine.events import (
    ITERATION_STARTED,
    LOOP_STARTED,
    Error,
    MarkerRecorded,
    NodeCompleted,
)
from linkflow.engine.failure import fail_node
from linkflow.engine.scope_vars import expression_error, expression_scope
from linkflow.expr import ExpressionError, is_truthy
from linkflow.model.node_types import LOOP_DONE
from linkflow.model.plan import PlanNode


def run_loop(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    items: Any = None
    if node.type != "while":
        try:
            items = node.fields["items"].render(expression_scope(ctx, scope))
        except ExpressionError as exc:
            fail_node(ctx, node, scope, expression_error(node, exc, "items"))
            return
        if isinstance(items, tuple):
            items = list(items)
        if not isinstance(items, list):
            error = Error(
                type="InvalidItems",
                message=f"items must be a list, got {type(items).__name__}",
                retryable=False,
                node_id=node.id,
            )
            fail_node(ctx, node, scope, error)
            return
    ctx.emit(
        MarkerRecorded(
            marker_name=LOOP_STARTED,
            details={"node_id": node.id, "scope": scope, "items": items},
        )
    )


def attend_loop(ctx: DecisionContext, scope: str, node: PlanNode) -> None:
    """One step for a loop that needs a decision (see LoopState.needs_decision)."""
    loop = ctx.state.scopes[scope].loops[node.id]
    if node.type == "while":
        index = loop.next_index
        variables = expression_scope(
            ctx, scope, overlay=loop.last_outputs, loop={"index": index, "item": None}
        )
        try:
            go_on = is_truthy(node.fields["condition"].render(variables))
        except ExpressionError as exc:
            fail_node(ctx, node, scope, expression_error(node, exc, "condition"))
            return
        if not go_on:
            _complete(ctx, node, scope, [loop.results.get(i) for i in range(index)])
        elif loop.max_iterations is not None and index >= loop.max_iterations:
            error = Error(
                type="MaxIterationsExceeded",
                message=f"while loop still true after {loop.max_iterations} iterations",
                retryable=False,
                node_id=node.id,
            )
            fail_node(ctx, node, scope, error)
        else:
            _start(ctx, node, scope, index)
        return
    if loop.more() and (loop.concurrency == 0 or len(loop.running) < loop.concurrency):
        _start(ctx, node, scope, loop.next_index)
    elif not loop.running:
        count = len(loop.items or ())
        _complete(ctx, node, scope, [loop.results.get(i) for i in range(count)])


def _start(ctx: DecisionContext, node: PlanNode, scope: str, index: int) -> None:
    ctx.emit(
        MarkerRecorded(
            marker_name=ITERATION_STARTED,
            details={"node_id": node.id, "scope": scope, "index": index},
        )
    )


def _complete(ctx: DecisionContext, node: PlanNode, scope: str, results: list[Any]) -> None:
    ctx.emit(NodeCompleted(node_id=node.id, scope=scope, output=results, handle=LOOP_DONE))
