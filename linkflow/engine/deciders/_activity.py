from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.state import ActivityRun


def pending_run(ctx: DecisionContext, activity_id: str, attempt: int) -> ActivityRun | None:
    """The run a result is for, if that attempt is still outstanding (else the result is a
    duplicate or arrived after a timeout, a retry or a cancel)."""
    run = ctx.state.activities.get(activity_id)
    if run is None or not run.pending or run.attempt != attempt:
        return None
    return run
