"""Expressions: CEL (cel-python) for conditions and computed values, `{{ }}` templates.

Pure: no I/O, clock or randomness (an import-linter contract checks it).

    expression = compile_expression("nodes.a.status == 200 && trigger.x > 3")
    expression.evaluate({"nodes": {...}, "trigger": {...}})   # -> True

    template = compile_template({"url": "https://x/{{ trigger.id }}", "body": "{{ nodes.a }}"})
    template.render(scope)

The scope maps `trigger`, `nodes`, `vars`, `env`, `loop`, `parallel`, `execution` to
JSON-like Python values (dict, list, str, int, float, bool, None); results are JSON-like
Python too. Expressions compile once (cached by source); a plain path such as
`nodes.fetch.body.id` evaluates by direct lookup, without CEL. Every failure is an
ExpressionError.
"""

from linkflow.expr.analysis import SCOPE_ROOTS
from linkflow.expr.errors import ExpressionError
from linkflow.expr.expression import Expression, check_expression, compile_expression
from linkflow.expr.scope import PreparedScope, prepare_scope
from linkflow.expr.template import Template, check_template, compile_template
from linkflow.expr.values import is_truthy, to_text

__all__ = [
    "SCOPE_ROOTS",
    "Expression",
    "ExpressionError",
    "PreparedScope",
    "Template",
    "check_expression",
    "check_template",
    "compile_expression",
    "compile_template",
    "is_truthy",
    "prepare_scope",
    "to_text",
]
