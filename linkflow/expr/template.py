"""`{{ expr }}` templates inside node configuration.

A config is a tree of dicts, lists and scalars. Strings may hold `{{ expr }}`:

- a string that is exactly one `{{ expr }}` renders to the raw value (a dict, a number,
  ...), so `{"items": "{{ nodes.fetch.body.items }}"}` passes a list through;
- any other string interpolates the text form of each value (see `values.to_text`).

Dict keys are never templated. A literal `{{` is written as `{{ '{{' }}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Protocol, final

from linkflow.expr.errors import ExpressionError
from linkflow.expr.expression import Expression, compile_expression
from linkflow.expr.scope import prepare_scope
from linkflow.expr.values import to_text

_IDENT: Final = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_IDENT_CHAR: Final = re.compile(r"[_a-zA-Z0-9]")


class _Node(Protocol):
    def render(self, scope: Mapping[str, Any]) -> Any: ...


@final
class _Constant:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, scope: Mapping[str, Any]) -> Any:
        return self.value


@final
class _Raw:
    """A string that is exactly one `{{ expr }}`: the value itself."""

    __slots__ = ("expression", "location")

    def __init__(self, expression: Expression, location: str) -> None:
        self.expression = expression
        self.location = location

    def render(self, scope: Mapping[str, Any]) -> Any:
        try:
            return self.expression.evaluate(scope)
        except ExpressionError as ex:
            raise ex.at(self.location) from None


@final
class _Text:
    """Text with expressions interpolated."""

    __slots__ = ("location", "parts")

    def __init__(self, parts: tuple[str | Expression, ...], location: str) -> None:
        self.parts = parts
        self.location = location

    def render(self, scope: Mapping[str, Any]) -> str:
        try:
            return "".join(
                part if isinstance(part, str) else to_text(part.evaluate(scope))
                for part in self.parts
            )
        except ExpressionError as ex:
            raise ex.at(self.location) from None


@final
class _Dict:
    __slots__ = ("items",)

    def __init__(self, items: tuple[tuple[Any, _Node], ...]) -> None:
        self.items = items

    def render(self, scope: Mapping[str, Any]) -> dict[Any, Any]:
        return {key: node.render(scope) for key, node in self.items}


@final
class _List:
    __slots__ = ("nodes",)

    def __init__(self, nodes: tuple[_Node, ...]) -> None:
        self.nodes = nodes

    def render(self, scope: Mapping[str, Any]) -> list[Any]:
        return [node.render(scope) for node in self.nodes]


@final
class Template:
    """A compiled config tree. `render` builds new dicts and lists on every call, so a
    caller may change what it gets without touching the template."""

    __slots__ = ("_root", "_shares_conversions", "expressions", "is_constant", "node_refs")

    #: every expression source in the tree, once each, in the order found.
    expressions: tuple[str, ...]
    is_constant: bool
    #: node ids named literally by any of the expressions.
    node_refs: frozenset[str]

    def __init__(self, root: _Node, expressions: list[Expression]) -> None:
        """Internal: use compile_template."""
        self._root = root
        unique = list(dict.fromkeys(expressions))
        self.expressions = tuple(expression.source for expression in unique)
        self.is_constant = not unique
        self.node_refs = frozenset().union(*(expression.node_refs for expression in unique))
        # Two or more CEL evaluations gain from converting the scope only once.
        self._shares_conversions = sum(not e.is_path for e in expressions) > 1

    def __repr__(self) -> str:
        return f"Template(expressions={self.expressions!r})"

    def render(self, scope: Mapping[str, Any]) -> Any:
        """The config with every expression replaced by its value in `scope`.

        Raises ExpressionError (with `location` set to where in the tree it failed).
        """
        if self._shares_conversions:
            scope = prepare_scope(scope)
        return self._root.render(scope)


def compile_template(value: Any) -> Template:
    """Compile a config tree; raises the first ExpressionError found in it."""
    compiler = _Compiler()
    root = compiler.compile(value, "")
    if compiler.errors:
        raise compiler.errors[0]
    return Template(root, compiler.expressions)


def check_template(value: Any) -> list[ExpressionError]:
    """Every compile problem in a config tree, each with its `location`."""
    compiler = _Compiler()
    compiler.compile(value, "")
    return compiler.errors


def _child_location(location: str, key: Any) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{location}[{key}]"
    if isinstance(key, str) and _IDENT.fullmatch(key):
        return f"{location}.{key}" if location else key
    return f"{location}[{key!r}]"


class _Compiler:
    def __init__(self) -> None:
        self.errors: list[ExpressionError] = []
        self.expressions: list[Expression] = []

    def compile(self, value: Any, location: str) -> _Node:
        if isinstance(value, str):
            return self._string(value, location)
        if isinstance(value, Mapping):
            return _Dict(
                tuple(
                    (key, self.compile(item, _child_location(location, key)))
                    for key, item in value.items()
                )
            )
        if isinstance(value, list | tuple):
            return _List(
                tuple(
                    self.compile(item, _child_location(location, index))
                    for index, item in enumerate(value)
                )
            )
        return _Constant(value)

    def _string(self, text: str, location: str) -> _Node:
        if "{{" not in text:
            return _Constant(text)
        try:
            pieces = split_template(text)
        except ExpressionError as ex:
            self.errors.append(ex.at(location))
            return _Constant(text)
        parts: list[str | Expression] = []
        for piece in pieces:
            if not isinstance(piece, Source):
                parts.append(piece)
                continue
            try:
                expression = compile_expression(piece.strip())
            except ExpressionError as ex:
                self.errors.append(ex.at(location))
                continue
            self.expressions.append(expression)
            parts.append(expression)
        if len(parts) == 1 and isinstance(parts[0], Expression) and len(pieces) == 1:
            return _Raw(parts[0], location)
        return _Text(tuple(parts), location)


class Source(str):
    """The source of one `{{ }}` in `split_template`'s output (text parts are plain str)."""

    __slots__ = ()


def split_template(text: str) -> list[str | Source]:
    """Split text into literal parts (str) and expression sources (Source).

    The end of an expression is the first `}}` outside string literals and outside
    braces the expression opened, so `{{ {'a': {'b': 1}} }}` is one expression.
    """
    pieces: list[str | Source] = []
    position = 0
    while True:
        start = text.find("{{", position)
        if start < 0:
            if position < len(text):
                pieces.append(text[position:])
            return pieces
        if start > position:
            pieces.append(text[position:start])
        end = _closing(text, start + 2)
        if end < 0:
            raise ExpressionError(text, f"unterminated '{{{{' at offset {start}")
        inner = text[start + 2 : end]
        if not inner.strip():
            raise ExpressionError(text, f"empty '{{{{ }}}}' at offset {start}")
        pieces.append(Source(inner))
        position = end + 2


def _closing(text: str, index: int) -> int:
    """Index of the `}}` that ends the expression starting at `index`, or -1."""
    depth = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char in "'\"":
            index = _after_string(text, index)
            if index < 0:
                return -1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth:
                depth -= 1
            elif text.startswith("}}", index):
                return index
        index += 1
    return -1


def _after_string(text: str, index: int) -> int:
    """Index just past the CEL string literal whose quote is at `index`, or -1."""
    quote = text[index]
    raw = (
        index > 0
        and text[index - 1] in "rR"
        and (index < 2 or not _IDENT_CHAR.match(text[index - 2]) or text[index - 2] in "bB")
    )
    if text.startswith(quote * 3, index):
        end = index + 3
        while True:
            end = text.find(quote * 3, end)
            if end < 0:
                return -1
            if raw or not _escaped(text, end, index + 3):
                return end + 3
            end += 1
    end = index + 1
    while end < len(text):
        char = text[end]
        if char == "\\" and not raw:
            end += 2
            continue
        if char == quote:
            return end + 1
        end += 1
    return -1


def _escaped(text: str, index: int, start: int) -> bool:
    """Whether text[index] is preceded by an odd number of backslashes (after start)."""
    count = 0
    while index - count - 1 >= start and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1
