from __future__ import annotations

from linkflow.engine.closing import close_execution
from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders.registry import decides
from linkflow.engine.events import WorkflowExecutionCanceled, WorkflowExecutionCancelRequested
from linkflow.engine.inputs import CancelWorkflow


@decides(CancelWorkflow)
def decide(ctx: DecisionContext, inp: CancelWorkflow) -> str | None:
    state = ctx.state
    if state.cancel_requested or inp.request_id in state.request_ids:
        return "duplicate cancel"
    ctx.emit(
        WorkflowExecutionCancelRequested(
            request_id=inp.request_id, reason=inp.reason, identity=inp.identity
        )
    )
    if state.compensation is not None:
        return None  # recorded; the compensations in progress finish, then it closes
    # Graceful: nothing new starts, pending activities and timers are cancelled, then the
    # execution is canceled. Running children get a cancel request (an effect).
    close_execution(ctx, WorkflowExecutionCanceled(reason=inp.reason), inp.reason or "canceled")
    return None
