from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import ActivityTaskStarted, HistoryEvent
from linkflow.engine.state import ExecutionState


@applies(ActivityTaskStarted)
def apply(state: ExecutionState, event: HistoryEvent, a: ActivityTaskStarted) -> None:
    state.activities[a.activity_id].started = True
