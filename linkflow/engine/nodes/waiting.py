"""wait (a duration or until a time) and the signal waits (wait_for_signal, approval)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from linkflow.engine.appliers._graph import signal_name
from linkflow.engine.context import DecisionContext
from linkflow.engine.events import (
    SIGNAL_TIMEOUT,
    SIGNAL_WAIT_STARTED,
    WAIT,
    Error,
    MarkerRecorded,
    NodeCompleted,
)
from linkflow.engine.failure import fail_node
from linkflow.engine.scope_vars import expression_error, expression_scope
from linkflow.engine.timers import cancel_timers, start_timer
from linkflow.expr import ExpressionError, is_truthy
from linkflow.model.durations import parse_duration
from linkflow.model.node_types import FALSE, SUCCESS, TIMEOUT, TRUE
from linkflow.model.plan import PlanNode


def _epoch_ms(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    raise ValueError(f"not a time: {value!r} (use epoch milliseconds or ISO 8601)")


def run_wait(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    field = "duration" if "duration" in node.fields else "until"
    try:
        if field == "duration":
            if node.duration_ms is not None:
                fire_at = ctx.now_ms + node.duration_ms
            else:
                raw = node.fields["duration"].render(expression_scope(ctx, scope))
                fire_at = ctx.now_ms + parse_duration(raw)
        else:
            fire_at = _epoch_ms(node.fields["until"].render(expression_scope(ctx, scope)))
    except ExpressionError as exc:
        fail_node(ctx, node, scope, expression_error(node, exc, field))
        return
    except ValueError as exc:
        error = Error(type="InvalidConfig", message=str(exc), retryable=False, node_id=node.id)
        fail_node(ctx, node, scope, error)
        return
    if fire_at <= ctx.now_ms:
        ctx.emit(NodeCompleted(node_id=node.id, scope=scope, output=None, handle=SUCCESS))
        return
    start_timer(ctx, WAIT, fire_at, node_id=node.id, scope=scope)


def approved(payload: Any) -> bool:
    if isinstance(payload, dict):
        return is_truthy(payload.get("approved"))
    return payload is True


def complete_signal_wait(ctx: DecisionContext, node: PlanNode, scope: str, payload: Any) -> None:
    """Deliver a signal to a waiting (or just-ready) node; its NodeCompleted consumes it."""
    wait = ctx.state.waits.get((scope, node.id))
    if wait is not None and wait.timer_id is not None:
        cancel_timers(ctx, [wait.timer_id])
    handle = SUCCESS
    if node.type == "approval":
        handle = TRUE if approved(payload) else FALSE
    ctx.emit(NodeCompleted(node_id=node.id, scope=scope, output=payload, handle=handle))


def run_signal_wait(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    name = signal_name(node)
    buffered = ctx.state.signal_buffer.get(name)
    if buffered:
        complete_signal_wait(ctx, node, scope, buffered[0])
        return
    ctx.emit(
        MarkerRecorded(
            marker_name=SIGNAL_WAIT_STARTED,
            details={"node_id": node.id, "scope": scope, "signal_name": name},
        )
    )
    if node.duration_ms is not None:
        start_timer(
            ctx, SIGNAL_TIMEOUT, ctx.now_ms + node.duration_ms, node_id=node.id, scope=scope
        )


def signal_timed_out(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    if node.has_timeout_edge:
        ctx.emit(NodeCompleted(node_id=node.id, scope=scope, output=None, handle=TIMEOUT))
        return
    error = Error(
        type="Timeout",
        message=f"no {signal_name(node)!r} signal within {node.duration_ms} ms",
        retryable=False,
        node_id=node.id,
        details={"timeout_type": "signal"},
    )
    fail_node(ctx, node, scope, error)
