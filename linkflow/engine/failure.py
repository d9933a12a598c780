"""Failures: retries with backoff, error-as-routing, escalation out of loops."""

from __future__ import annotations

from dataclasses import replace

from linkflow.engine import compensation
from linkflow.engine.backoff import retry_delay_ms
from linkflow.engine.closing import cancel_loop_work, close_execution
from linkflow.engine.context import DecisionContext
from linkflow.engine.events import (
    ERROR_CONTINUED,
    RETRY_BACKOFF,
    Error,
    MarkerRecorded,
    NodeCompleted,
    NodeFailed,
    WorkflowExecutionFailed,
)
from linkflow.engine.state import ActivityRun
from linkflow.engine.timers import start_timer
from linkflow.model.node_types import SUCCESS
from linkflow.model.plan import PlanNode


def with_node(error: Error, node_id: str) -> Error:
    return error if error.node_id is not None else replace(error, node_id=node_id)


def fail_node(ctx: DecisionContext, node: PlanNode, scope: str, error: Error) -> None:
    """The node failed for good (retries are spent): continue, route to its error edge, or
    escalate to the enclosing loop and finally to the execution."""
    error = with_node(error, node.id)
    if node.is_loop:
        cancel_loop_work(ctx, scope, node.id, f"loop {node.id} failed")
    if node.definition.on_error == "continue":
        ctx.emit(
            NodeCompleted(
                node_id=node.id, scope=scope, output={"error": error.to_dict()}, handle=SUCCESS
            )
        )
        ctx.emit(
            MarkerRecorded(
                marker_name=ERROR_CONTINUED,
                details={"node_id": node.id, "scope": scope, "error": error.to_dict()},
            )
        )
        return
    if node.has_error_edge:
        ctx.emit(NodeFailed(node_id=node.id, scope=scope, error=error, routed=True))
        return
    ctx.emit(NodeFailed(node_id=node.id, scope=scope, error=error, routed=False))
    escalate(ctx, scope, error)


def escalate(ctx: DecisionContext, scope_key: str, error: Error) -> None:
    state = ctx.state
    if scope_key == "":
        close_execution(ctx, WorkflowExecutionFailed(error=error), f"node {error.node_id} failed")
        return
    scope = state.scopes[scope_key]
    assert scope.parent is not None and scope.loop_node is not None
    fail_node(ctx, state.plan.nodes[scope.loop_node], scope.parent, error)


def attempt_failed(ctx: DecisionContext, run: ActivityRun, error: Error) -> None:
    """An activity attempt failed or timed out: retry after a backoff, or fail the node."""
    from linkflow.engine.nodes.activity import schedule_activity

    state = ctx.state
    node = state.plan.nodes[run.node_id]
    policy = node.retry
    if (
        error.retryable
        and run.attempt < policy.max_attempts
        and error.type not in policy.non_retryable_errors
    ):
        delay = retry_delay_ms(policy, run.attempt, state.execution_id, node.id, run.scope)
        if delay <= 0:
            schedule_activity(ctx, node, run.scope, run.attempt + 1, run.input)
        else:
            start_timer(
                ctx,
                RETRY_BACKOFF,
                ctx.now_ms + delay,
                node_id=node.id,
                scope=run.scope,
                attempt=run.attempt + 1,
            )
        return
    if run.attempt > 1:
        error = error.with_details(attempts=run.attempt)
    if compensation.compensating(state, run):
        compensation.finished(ctx, run, error)
        return
    fail_node(ctx, node, run.scope, error)
