from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import ActivityTaskTimedOut, HistoryEvent
from linkflow.engine.state import ExecutionState


@applies(ActivityTaskTimedOut)
def apply(state: ExecutionState, event: HistoryEvent, a: ActivityTaskTimedOut) -> None:
    # The attempt is over; the run stays until its node completes, fails or retries.
    state.activities[a.activity_id].pending = False
