from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import (
    ACTIVITY_TIMEOUT,
    EXECUTION_TIMEOUT,
    RETRY_BACKOFF,
    SIGNAL_TIMEOUT,
    WAIT,
    HistoryEvent,
    TimerStarted,
)
from linkflow.engine.ids import activity_id
from linkflow.engine.state import N_WAITING, ExecutionState, TimerInfo, WaitInfo


@applies(TimerStarted)
def apply(state: ExecutionState, event: HistoryEvent, a: TimerStarted) -> None:
    state.timers[a.timer_id] = TimerInfo(
        timer_id=a.timer_id,
        fire_at_ms=a.fire_at_ms,
        purpose=a.purpose,
        node_id=a.node_id,
        scope=a.scope,
        started_at_ms=event.timestamp_ms,
        timeout_type=a.timeout_type,
        attempt=a.attempt,
    )
    purpose = a.purpose
    if purpose == EXECUTION_TIMEOUT:
        state.execution_timer_id = a.timer_id
        return
    assert a.node_id is not None
    key = (a.scope, a.node_id)
    if purpose == ACTIVITY_TIMEOUT:
        state.activities[activity_id(a.node_id, a.scope)].timers[a.timer_id] = str(a.timeout_type)
    elif purpose == RETRY_BACKOFF:
        state.activities[activity_id(a.node_id, a.scope)].retry_timer = a.timer_id
        state.scopes[a.scope].status[a.node_id] = N_WAITING
    elif purpose == WAIT:
        state.ready.pop(key, None)
        state.scopes[a.scope].status[a.node_id] = N_WAITING
        state.waits[key] = WaitInfo(node_id=a.node_id, scope=a.scope, timer_id=a.timer_id)
    elif purpose == SIGNAL_TIMEOUT:
        state.waits[key].timer_id = a.timer_id
