from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders.registry import Refusal, decides
from linkflow.engine.effects import ActivityTask, outstanding_effects
from linkflow.engine.events import HistoryEvent, WorkflowExecutionStarted
from linkflow.engine.inputs import ResetWorkflow
from linkflow.engine.reset import plan_reset, reset_details, resume


@decides(ResetWorkflow)
def decide(ctx: DecisionContext, inp: ResetWorkflow) -> str | Refusal | None:
    state = ctx.state
    what = f"reset of {inp.source_execution_id!r} to event {inp.reset_event_id}"
    if state.status != "new":
        if inp.request_id in state.request_ids:
            return "duplicate reset"
        return Refusal(
            "execution_exists",
            f"a {what} (request {inp.request_id!r}) as execution {state.execution_id!r}, "
            f"which another request already started (workflow {state.workflow_id!r})",
        )
    try:
        source = [HistoryEvent.from_dict(e) for e in inp.history]
    except (KeyError, TypeError, ValueError) as exc:
        return Refusal("bad_reset", f"{what}: an event of the history is malformed ({exc})")
    plan = plan_reset(source, inp.reset_event_id, state.execution_id, ctx.plans)
    if isinstance(plan, str):
        return Refusal("bad_reset", f"{what}: {plan}")
    started = source[0].attributes
    if (
        inp.workspace is not None
        and isinstance(started, WorkflowExecutionStarted)
        and started.workspace != inp.workspace
    ):
        return Refusal("wrong_workspace", f"{what} from workspace {inp.workspace!r}")
    for event in plan.kept:
        ctx.adopt(event)
    # The attempts out at the cut go to workers again (their ActivityTaskScheduled events
    # are copies, which have no effects of their own).
    ctx.carried = [e for e in outstanding_effects(state) if isinstance(e, ActivityTask)]
    resume(
        ctx,
        reset_details(
            plan,
            source_execution_id=inp.source_execution_id,
            reset_event_id=inp.reset_event_id,
            request_id=inp.request_id,
            reason=inp.reason,
            identity=inp.identity,
            now_ms=ctx.now_ms,
        ),
    )
    return None
