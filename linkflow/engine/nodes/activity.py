"""Activity nodes: rendered config goes out as a task; timeouts are timers."""

from __future__ import annotations

from typing import Any

from linkflow.engine.context import DecisionContext
from linkflow.engine.events import (
    ACTIVITY_TIMEOUT,
    SCHEDULE_TO_START,
    START_TO_CLOSE,
    ActivityTaskScheduled,
)
from linkflow.engine.failure import fail_node
from linkflow.engine.ids import activity_id
from linkflow.engine.scope_vars import expression_error, expression_scope
from linkflow.engine.timers import start_timer
from linkflow.expr import ExpressionError
from linkflow.model.definition import DEFAULT_TASK_QUEUE
from linkflow.model.plan import PlanNode


def run_activity(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    compiled = node.input
    if compiled.is_constant:
        rendered = compiled.render({})
    else:
        try:
            rendered = compiled.render(expression_scope(ctx, scope))
        except ExpressionError as exc:
            fail_node(ctx, node, scope, expression_error(node, exc))
            return
    schedule_activity(ctx, node, scope, 1, rendered)


def schedule_activity(
    ctx: DecisionContext, node: PlanNode, scope: str, attempt: int, rendered: Any
) -> None:
    """One attempt. Retries reuse the input rendered for the first attempt, so every attempt
    does the same thing even if the state it was rendered from has moved on."""
    timeouts = node.timeouts
    ctx.emit(
        ActivityTaskScheduled(
            activity_id=activity_id(node.id, scope),
            node_id=node.id,
            scope=scope,
            node_type=node.type,
            task_queue=node.task_queue or DEFAULT_TASK_QUEUE,
            attempt=attempt,
            input=rendered,
            schedule_to_start_ms=timeouts.schedule_to_start_ms,
            start_to_close_ms=timeouts.start_to_close_ms,
            heartbeat_ms=timeouts.heartbeat_ms,
        )
    )
    if timeouts.schedule_to_start_ms is not None:
        start_timer(
            ctx,
            ACTIVITY_TIMEOUT,
            ctx.now_ms + timeouts.schedule_to_start_ms,
            node_id=node.id,
            scope=scope,
            timeout_type=SCHEDULE_TO_START,
            attempt=attempt,
        )
    elif timeouts.start_to_close_ms is not None:
        # Without a schedule-to-start limit, start-to-close counts from scheduling: a worker
        # that never reports ActivityStarted (or a lost task) must still time out.
        start_timer(
            ctx,
            ACTIVITY_TIMEOUT,
            ctx.now_ms + timeouts.start_to_close_ms,
            node_id=node.id,
            scope=scope,
            timeout_type=START_TO_CLOSE,
            attempt=attempt,
        )
