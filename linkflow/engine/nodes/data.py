"""set (named values, also merged into `vars`), transform (one value), merge."""

from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.events import NodeCompleted
from linkflow.engine.failure import fail_node
from linkflow.engine.scope_vars import expression_error, expression_scope
from linkflow.expr import ExpressionError
from linkflow.model.node_types import SUCCESS
from linkflow.model.plan import PlanNode


def _render_and_complete(ctx: DecisionContext, node: PlanNode, scope: str, field: str) -> None:
    compiled = node.fields[field]
    try:
        output = compiled.render(expression_scope(ctx, scope) if not compiled.is_constant else {})
    except ExpressionError as exc:
        fail_node(ctx, node, scope, expression_error(node, exc, field))
        return
    ctx.emit(NodeCompleted(node_id=node.id, scope=scope, output=output, handle=SUCCESS))


def run_set(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    _render_and_complete(ctx, node, scope, "values")


def run_transform(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    _render_and_complete(ctx, node, scope, "value")


def run_merge(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    """ "all": {source: output} of the branches that arrived (definition order);
    "first": the output of the branch that arrived first."""
    scope_state = ctx.state.scopes[scope]
    sources = scope_state.taken_from.get(node.id, [])
    if node.definition.config.get("mode") == "first":
        output = scope_state.outputs.get(sources[0]) if sources else None
    else:
        nodes = ctx.state.plan.nodes
        output = {
            source: scope_state.outputs.get(source)
            for source in sorted(sources, key=lambda s: nodes[s].index)
        }
    ctx.emit(NodeCompleted(node_id=node.id, scope=scope, output=output, handle=SUCCESS))
