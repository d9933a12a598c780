from __future__ import annotations

from linkflow.engine.appliers.registry import applies
from linkflow.engine.events import CompensationStarted, HistoryEvent
from linkflow.engine.state import ExecutionState


@applies(CompensationStarted)
def apply(state: ExecutionState, event: HistoryEvent, a: CompensationStarted) -> None:
    # The flow stops here: nothing ready runs, no wait is waited for (a signal is buffered).
    state.ready.clear()
    state.attention.clear()
    state.waits.clear()
    state.signal_waiters.clear()
    state.compensation = {
        "cause": a.cause,
        "error": None if a.error is None else a.error.to_dict(),
        "reason": a.reason,
        "pending": [[n["node_id"], n["scope"]] for n in a.nodes],
        "done": [],
        "failed": [],
    }
