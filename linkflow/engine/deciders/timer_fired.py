from __future__ import annotations

from linkflow.engine.closing import close_execution
from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders.registry import decides
from linkflow.engine.events import (
    ACTIVITY_TIMEOUT,
    EXECUTION_TIMEOUT,
    RETRY_BACKOFF,
    SIGNAL_TIMEOUT,
    WAIT,
    ActivityTaskTimedOut,
    Error,
    NodeCompleted,
    WorkflowExecutionTimedOut,
)
from linkflow.engine.events import TimerFired as TimerFiredEvent
from linkflow.engine.failure import attempt_failed
from linkflow.engine.ids import activity_id
from linkflow.engine.inputs import TimerFired
from linkflow.engine.nodes.activity import schedule_activity
from linkflow.engine.nodes.waiting import signal_timed_out
from linkflow.engine.scheduler import drain
from linkflow.engine.timers import cancel_timers
from linkflow.model.node_types import SUCCESS


@decides(TimerFired)
def decide(ctx: DecisionContext, inp: TimerFired) -> str | None:
    state = ctx.state
    timer = state.timers.get(inp.timer_id)
    if timer is None:
        return "timer not pending"
    ctx.emit(TimerFiredEvent(timer_id=inp.timer_id))
    purpose = timer.purpose
    if purpose == EXECUTION_TIMEOUT:
        close_execution(
            ctx,
            WorkflowExecutionTimedOut(timeout_ms=state.execution_timeout_ms or 0),
            "execution timed out",
        )
        return None
    assert timer.node_id is not None
    node = state.plan.nodes[timer.node_id]
    scope = timer.scope
    if purpose == WAIT:
        ctx.emit(NodeCompleted(node_id=node.id, scope=scope, output=None, handle=SUCCESS))
    elif purpose == SIGNAL_TIMEOUT:
        signal_timed_out(ctx, node, scope)
    elif purpose == RETRY_BACKOFF:
        run = state.activities[activity_id(node.id, scope)]
        schedule_activity(ctx, node, scope, timer.attempt or run.attempt + 1, run.input)
    elif purpose == ACTIVITY_TIMEOUT:
        run = state.activities[activity_id(node.id, scope)]
        kind = timer.timeout_type or "start_to_close"
        ctx.emit(
            ActivityTaskTimedOut(
                activity_id=run.activity_id, attempt=run.attempt, timeout_type=kind
            )
        )
        cancel_timers(ctx, run.timers)
        error = Error(
            type="Timeout",
            message=f"activity {kind} timeout",
            retryable=True,
            node_id=node.id,
            details={"timeout_type": kind},
        )
        attempt_failed(ctx, run, error)
    drain(ctx)
    return None
