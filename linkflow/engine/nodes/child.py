"""subworkflow: start a child execution; the parent resumes on its outcome."""

from __future__ import annotations

from typing import Any

from linkflow.engine.context import DecisionContext
from linkflow.engine.events import ChildWorkflowExecutionStarted, Error
from linkflow.engine.failure import fail_node
from linkflow.engine.ids import child_execution_id
from linkflow.engine.scope_vars import expression_error, expression_scope
from linkflow.expr import ExpressionError
from linkflow.model.plan import PlanNode


def run_subworkflow(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    config = node.definition.config
    workflow_id = str(config["workflow_id"])
    version = config.get("version")
    if version is None:
        version = ctx.plans.latest_version(workflow_id)
    if version is None or ctx.plans.plan(workflow_id, int(version)) is None:
        error = Error(
            type="UnknownWorkflow",
            message=f"no workflow {workflow_id!r}"
            + (f" version {version}" if version is not None else ""),
            retryable=False,
            node_id=node.id,
        )
        fail_node(ctx, node, scope, error)
        return
    child_input: Any = None
    compiled = node.fields.get("input")
    if compiled is not None:
        try:
            child_input = compiled.render(expression_scope(ctx, scope))
        except ExpressionError as exc:
            fail_node(ctx, node, scope, expression_error(node, exc, "input"))
            return
    ctx.emit(
        ChildWorkflowExecutionStarted(
            node_id=node.id,
            scope=scope,
            child_execution_id=child_execution_id(
                ctx.state.execution_id, node.id, ctx.next_event_id
            ),
            workflow_id=workflow_id,
            workflow_version=int(version),
            input=child_input,
        )
    )
