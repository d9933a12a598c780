"""if and switch: evaluate, complete with the chosen handle; the other handles' edges are not
taken, which skips their branches (dead-path elimination)."""

from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.events import NodeCompleted
from linkflow.engine.failure import fail_node
from linkflow.engine.scope_vars import expression_error, expression_scope
from linkflow.expr import ExpressionError, is_truthy
from linkflow.model.node_types import CASE_PREFIX, DEFAULT, FALSE, TRUE
from linkflow.model.plan import PlanNode


def run_if(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    try:
        result = is_truthy(node.fields["condition"].render(expression_scope(ctx, scope)))
    except ExpressionError as exc:
        fail_node(ctx, node, scope, expression_error(node, exc, "condition"))
        return
    ctx.emit(
        NodeCompleted(
            node_id=node.id,
            scope=scope,
            output={"result": result},
            handle=TRUE if result else FALSE,
        )
    )


def run_switch(ctx: DecisionContext, node: PlanNode, scope: str) -> None:
    """With `value`: the first case whose `equals` matches it; else the first case whose
    `when` holds. No match: the default handle."""
    variables = expression_scope(ctx, scope)
    chosen: str | None = None
    value_field = node.fields.get("value")
    field = "value"
    try:
        if value_field is not None:
            value = value_field.render(variables)
            chosen = next((c.name for c in node.cases if c.equals == value), None)
        else:
            for index, case in enumerate(node.cases):
                field = f"cases[{index}].when"
                if case.when is not None and is_truthy(case.when.render(variables)):
                    chosen = case.name
                    break
    except ExpressionError as exc:
        fail_node(ctx, node, scope, expression_error(node, exc, field))
        return
    ctx.emit(
        NodeCompleted(
            node_id=node.id,
            scope=scope,
            output={"case": chosen if chosen is not None else DEFAULT},
            handle=DEFAULT if chosen is None else CASE_PREFIX + chosen,
        )
    )
