"""Config values compiled once per plan: values without templates stay as they are (no
rendering cost), template trees and CEL expressions are compiled by `linkflow.expr`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from linkflow.expr import compile_expression, compile_template

_OPEN = "{{"


class Compiled(Protocol):
    is_constant: bool

    def render(self, scope: Mapping[str, Any]) -> Any: ...


class Constant:
    __slots__ = ("value",)
    is_constant = True

    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, scope: Mapping[str, Any]) -> Any:
        return self.value


class TemplateValue:
    __slots__ = ("template",)
    is_constant = False

    def __init__(self, value: Any) -> None:
        self.template = compile_template(value)

    def render(self, scope: Mapping[str, Any]) -> Any:
        return self.template.render(scope)


class ExpressionValue:
    __slots__ = ("expression",)
    is_constant = False

    def __init__(self, source: str) -> None:
        self.expression = compile_expression(source)

    def render(self, scope: Mapping[str, Any]) -> Any:
        return self.expression.evaluate(scope)


def is_template_string(value: Any) -> bool:
    return isinstance(value, str) and _OPEN in value


def compile_value(value: Any) -> Compiled:
    """Compile a config value whose strings may hold `{{ }}` templates. A value without
    templates stays the very object given (rendering it costs nothing)."""
    for _ in template_strings(value, ""):
        return TemplateValue(value)
    return Constant(value)


def compile_expression_field(value: Any) -> Compiled:
    """Compile a field that holds an expression: a bare CEL string, or a `{{ }}` template,
    or a literal (a boolean condition, a list of items)."""
    if isinstance(value, str) and not is_template_string(value):
        return ExpressionValue(value)
    return compile_value(value)


def template_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(dotted path, string) for every template string inside `value`."""
    if is_template_string(value):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from template_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from template_strings(item, f"{path}[{index}]")


def expression_paths(config: Mapping[str, Any], field_spec: str) -> Iterator[tuple[str, Any]]:
    """Resolve a field spec such as "condition" or "cases[].when" against a config:
    yields (dotted path relative to the config, value) for each value present."""
    head, _, rest = field_spec.partition(".")
    if head.endswith("[]"):
        items = config.get(head[:-2])
        if not isinstance(items, list):
            return
        for index, item in enumerate(items):
            if isinstance(item, Mapping) and rest:
                for sub_path, value in expression_paths(item, rest):
                    yield f"{head[:-2]}[{index}].{sub_path}", value
        return
    if head not in config:
        return
    if rest:
        inner = config[head]
        if isinstance(inner, Mapping):
            for sub_path, value in expression_paths(inner, rest):
                yield f"{head}.{sub_path}", value
        return
    yield head, config[head]
