from __future__ import annotations

from linkflow.engine.appliers._timers import forget_timer
from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import HistoryEvent, TimerCanceled
from linkflow.engine.state import ExecutionState


@applies(TimerCanceled)
def apply(state: ExecutionState, event: HistoryEvent, a: TimerCanceled) -> None:
    forget_timer(state, a.timer_id)
