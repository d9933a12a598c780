from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders._activity import pending_run
from linkflow.engine.deciders.registry import decides
from linkflow.engine.events import ActivityTaskFailed
from linkflow.engine.failure import attempt_failed, with_node
from linkflow.engine.inputs import ActivityFailed
from linkflow.engine.scheduler import drain
from linkflow.engine.timers import cancel_timers


@decides(ActivityFailed)
def decide(ctx: DecisionContext, inp: ActivityFailed) -> str | None:
    run = pending_run(ctx, inp.activity_id, inp.attempt)
    if run is None:
        return "stale activity result"
    error = with_node(inp.error, run.node_id)
    ctx.emit(
        ActivityTaskFailed(
            activity_id=inp.activity_id,
            attempt=inp.attempt,
            error=error,
            identity=inp.identity,
            usage=dict(inp.usage),
            duration_ms=inp.duration_ms,
        )
    )
    cancel_timers(ctx, run.timers)
    attempt_failed(ctx, run, error)
    drain(ctx)
    return None
