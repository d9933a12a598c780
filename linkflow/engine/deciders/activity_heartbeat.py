from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders._activity import pending_run
from linkflow.engine.deciders._started import mark_started
from linkflow.engine.deciders.registry import decides
from linkflow.engine.events import ACTIVITY_TIMEOUT, HEARTBEAT
from linkflow.engine.inputs import ActivityHeartbeat
from linkflow.engine.timers import cancel_timers, start_timer


@decides(ActivityHeartbeat)
def decide(ctx: DecisionContext, inp: ActivityHeartbeat) -> str | None:
    run = pending_run(ctx, inp.activity_id, inp.attempt)
    if run is None:
        return "stale heartbeat"
    if not run.started:
        # A heartbeat proves the attempt started, even if ActivityStarted got lost.
        mark_started(ctx, run, inp.identity)
        return None
    limit = ctx.state.plan.nodes[run.node_id].timeouts.heartbeat_ms
    if limit is None:
        return "no heartbeat timeout"
    current = next((t for t, kind in run.timers.items() if kind == HEARTBEAT), None)
    if current is not None:
        # Re-arm only once half the window is used: a heartbeat is then not an event pair
        # every time. Workers should heartbeat at least every third of the timeout.
        if ctx.now_ms - ctx.state.timers[current].started_at_ms < limit // 2:
            return "heartbeat within window"
        cancel_timers(ctx, [current])
    start_timer(
        ctx,
        ACTIVITY_TIMEOUT,
        ctx.now_ms + limit,
        node_id=run.node_id,
        scope=run.scope,
        timeout_type=HEARTBEAT,
        attempt=run.attempt,
    )
    return None
