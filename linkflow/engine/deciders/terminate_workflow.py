from __future__ import annotations

from linkflow.engine.closing import close_execution
from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders.registry import decides
from linkflow.engine.events import WorkflowExecutionTerminated
from linkflow.engine.inputs import TerminateWorkflow


@decides(TerminateWorkflow)
def decide(ctx: DecisionContext, inp: TerminateWorkflow) -> str | None:
    if inp.request_id in ctx.state.request_ids:
        return "duplicate terminate"
    close_execution(
        ctx,
        WorkflowExecutionTerminated(
            request_id=inp.request_id, reason=inp.reason, identity=inp.identity
        ),
        inp.reason or "terminated",
    )
    return None
