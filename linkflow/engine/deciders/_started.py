from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.events import (
    ACTIVITY_TIMEOUT,
    HEARTBEAT,
    SCHEDULE_TO_START,
    START_TO_CLOSE,
    ActivityTaskStarted,
)
from linkflow.engine.state import ActivityRun
from linkflow.engine.timers import cancel_timers, start_timer


def mark_started(ctx: DecisionContext, run: ActivityRun, identity: str) -> None:
    """The attempt reached a worker: schedule-to-start is over, start-to-close and heartbeat
    limits begin (unless start-to-close already counts from scheduling)."""
    ctx.emit(
        ActivityTaskStarted(activity_id=run.activity_id, attempt=run.attempt, identity=identity)
    )
    timeouts = ctx.state.plan.nodes[run.node_id].timeouts
    cancel_timers(ctx, [t for t, kind in run.timers.items() if kind == SCHEDULE_TO_START])
    kinds = set(run.timers.values())
    for kind, limit in (
        (START_TO_CLOSE, timeouts.start_to_close_ms),
        (HEARTBEAT, timeouts.heartbeat_ms),
    ):
        if limit is not None and kind not in kinds:
            start_timer(
                ctx,
                ACTIVITY_TIMEOUT,
                ctx.now_ms + limit,
                node_id=run.node_id,
                scope=run.scope,
                timeout_type=kind,
                attempt=run.attempt,
            )
