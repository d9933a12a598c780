from __future__ import annotations

from linkflow.engine.events import ACTIVITY_TIMEOUT, EXECUTION_TIMEOUT, RETRY_BACKOFF
from linkflow.engine.ids import activity_id
from linkflow.engine.state import ExecutionState


def forget_timer(state: ExecutionState, timer_id: str) -> None:
    """A timer fired or was cancelled: drop it and every link to it."""
    info = state.timers.pop(timer_id, None)
    if info is None:
        return
    if info.purpose == EXECUTION_TIMEOUT:
        state.execution_timer_id = None
        return
    if info.node_id is None:
        return
    if info.purpose in (ACTIVITY_TIMEOUT, RETRY_BACKOFF):
        run = state.activities.get(activity_id(info.node_id, info.scope))
        if run is not None:
            run.timers.pop(timer_id, None)
            if run.retry_timer == timer_id:
                run.retry_timer = None
        return
    wait = state.waits.get((info.scope, info.node_id))
    if wait is not None and wait.timer_id == timer_id:
        wait.timer_id = None
