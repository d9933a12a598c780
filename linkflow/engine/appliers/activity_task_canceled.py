from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import ActivityTaskCanceled, HistoryEvent
from linkflow.engine.state import ExecutionState


@applies(ActivityTaskCanceled)
def apply(state: ExecutionState, event: HistoryEvent, a: ActivityTaskCanceled) -> None:
    state.activities.pop(a.activity_id, None)
