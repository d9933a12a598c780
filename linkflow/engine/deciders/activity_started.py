from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders._activity import pending_run
from linkflow.engine.deciders._started import mark_started
from linkflow.engine.deciders.registry import decides
from linkflow.engine.inputs import ActivityStarted


@decides(ActivityStarted)
def decide(ctx: DecisionContext, inp: ActivityStarted) -> str | None:
    run = pending_run(ctx, inp.activity_id, inp.attempt)
    if run is None:
        return "stale activity start"
    if run.started:
        return "duplicate activity start"
    mark_started(ctx, run, inp.identity)
    return None
