from __future__ import annotations

from linkflow.engine.appliers._timers import forget_timer
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, TimerFired
from linkflow.engine.state import ExecutionState


@applies(TimerFired)
def apply(state: ExecutionState, event: HistoryEvent, a: TimerFired) -> None:
    forget_timer(state, a.timer_id)
