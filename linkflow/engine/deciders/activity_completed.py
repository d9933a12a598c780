from __future__ import annotations

from linkflow.engine import compensation
from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders._activity import pending_run
from linkflow.engine.deciders.registry import decides
from linkflow.engine.events import ActivityTaskCompleted, NodeCompleted
from linkflow.engine.inputs import ActivityCompleted
from linkflow.engine.scheduler import drain
from linkflow.engine.timers import cancel_timers
from linkflow.model.node_types import SUCCESS


@decides(ActivityCompleted)
def decide(ctx: DecisionContext, inp: ActivityCompleted) -> str | None:
    run = pending_run(ctx, inp.activity_id, inp.attempt)
    if run is None:
        return "stale activity result"
    ctx.emit(
        ActivityTaskCompleted(
            activity_id=inp.activity_id,
            attempt=inp.attempt,
            result=inp.result,
            identity=inp.identity,
            usage=dict(inp.usage),
            duration_ms=inp.duration_ms,
        )
    )
    cancel_timers(ctx, run.timers)
    if compensation.compensating(ctx.state, run):
        compensation.finished(ctx, run, None)
        return None
    ctx.emit(NodeCompleted(node_id=run.node_id, scope=run.scope, output=inp.result, handle=SUCCESS))
    drain(ctx)
    return None
