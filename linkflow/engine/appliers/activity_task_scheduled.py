from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import ActivityTaskScheduled, HistoryEvent
from linkflow.engine.state import N_RUNNING, ActivityRun, ExecutionState


@applies(ActivityTaskScheduled)
def apply(state: ExecutionState, event: HistoryEvent, a: ActivityTaskScheduled) -> None:
    state.ready.pop((a.scope, a.node_id), None)
    state.scopes[a.scope].status[a.node_id] = N_RUNNING
    run = state.activities.get(a.activity_id)
    if run is None:
        state.activities[a.activity_id] = ActivityRun(
            activity_id=a.activity_id,
            node_id=a.node_id,
            scope=a.scope,
            attempt=a.attempt,
            input=a.input,
            scheduled_at_ms=event.timestamp_ms,
        )
        return
    run.attempt = a.attempt
    run.input = a.input
    run.pending = True
    run.started = False
    run.scheduled_at_ms = event.timestamp_ms
    run.retry_timer = None
