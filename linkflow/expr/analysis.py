"""Static analysis of a parsed CEL expression, done once at compile time.

It answers three questions about celpy's lark tree:

- is the whole expression a plain path (`nodes.fetch.body.id`, `trigger.items[0]`,
  `nodes['my-node'].x`)? Then evaluation is a dictionary walk, no CEL at all;
- which parts of the scope can the expression observe? Only those get converted to celpy
  values (a node's large output is not converted to test `trigger.x > 3`);
- does it name anything that cannot exist (an unknown variable or function, a macro used
  wrongly)? Then it is rejected at compile time, when a definition is registered, instead
  of failing every execution at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import lark

from linkflow.expr._celpy import FUNCTION_NAMES, CelFailure, decode_string_literal

#: The names an expression can start from; the engine provides each of them.
SCOPE_ROOTS: Final[frozenset[str]] = frozenset(
    {"trigger", "nodes", "vars", "env", "loop", "parallel", "execution"}
)

Step = str | int
Path = tuple[str, tuple[Step, ...]]

# Rules that wrap a single child without changing its value (the grammar's precedence
# levels, and parentheses).
_PASSTHROUGH: Final = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
        "primary",
        "paren_expr",
    }
)
# celpy implements only the two-argument forms of these.
_MACROS: Final = frozenset({"map", "filter", "all", "exists", "exists_one"})
# Non-negative decimal only: `[-1]` (Python-style from the end in celpy, an error in CEL)
# and hex indexes are left to CEL.
_INDEX: Final = re.compile(r"[0-9]+")
_INT64_MAX: Final = 2**63 - 1

Tree = lark.Tree[lark.Token]


@dataclass(frozen=True, slots=True)
class Need:
    """What an expression can observe of one value.

    `whole`: all of it (`size(nodes)`, `trigger[k]`, `nodes.a == {...}`); otherwise only
    the listed keys, each with what is observed of its value (`nodes.a.status` observes
    key `a` of `nodes`, key `status` of that, and all of the status).
    """

    whole: bool
    keys: tuple[tuple[str, Need], ...] = ()


WHOLE: Final = Need(whole=True)


@dataclass(frozen=True, slots=True)
class Analysis:
    #: the expression is exactly this path (root, steps), or None.
    path: Path | None
    #: per scope root the expression reads, what it can observe of it.
    needs: tuple[tuple[str, Need], ...]
    #: node ids named statically (`nodes.a`, `nodes['b']`).
    node_refs: frozenset[str]


def analyse(tree: Tree) -> Analysis:
    """Analyse a parsed expression; raises CelFailure for a name that cannot resolve."""
    walker = _Walker()
    walker.walk(tree, frozenset())
    needs = tuple((root, trie.freeze()) for root, trie in sorted(walker.needs.items()))
    return Analysis(static_path(tree), needs, frozenset(walker.node_refs))


class _Trie:
    """A mutable Need, built while walking."""

    __slots__ = ("children", "whole")

    def __init__(self) -> None:
        self.whole = False
        self.children: dict[str, _Trie] = {}

    def add(self, steps: tuple[Step, ...]) -> None:
        node = self
        for step in steps:
            if node.whole:
                return
            if not isinstance(step, str):
                # A list is kept whole: dropping items would move the indexes.
                break
            node = node.children.setdefault(step, _Trie())
        node.whole = True

    def freeze(self) -> Need:
        if self.whole:
            return WHOLE
        keys = tuple((key, child.freeze()) for key, child in sorted(self.children.items()))
        return Need(whole=False, keys=keys)


def _strip(tree: Tree) -> Tree:
    while tree.data in _PASSTHROUGH and len(tree.children) == 1:
        child = tree.children[0]
        if not isinstance(child, lark.Tree):
            break
        tree = child
    return tree


def _literal_step(expr: Tree) -> Step | None:
    node = _strip(expr)
    if node.data != "literal" or len(node.children) != 1:
        return None
    token = node.children[0]
    if not isinstance(token, lark.Token):
        return None
    if token.type in ("STRING_LIT", "MLSTRING_LIT"):
        return decode_string_literal(token)
    if token.type == "INT_LIT" and _INDEX.fullmatch(token.value):
        index = int(token.value)
        return index if index <= _INT64_MAX else None
    return None


def static_path(tree: Tree) -> Path | None:
    """(root, steps) if `tree` is a variable followed only by literal selections."""
    node = _strip(tree)
    steps: list[Step] = []
    while True:
        children = node.children
        if node.data == "member_dot" and len(children) == 2:
            member, field = children
            if not isinstance(member, lark.Tree) or not isinstance(field, lark.Token):
                return None
            steps.append(field.value)
            node = _strip(member)
        elif node.data == "member_index" and len(children) == 2:
            member, index = children
            if not isinstance(member, lark.Tree) or not isinstance(index, lark.Tree):
                return None
            step = _literal_step(index)
            if step is None:
                return None
            steps.append(step)
            node = _strip(member)
        elif node.data == "ident" and len(children) == 1:
            name = children[0]
            if not isinstance(name, lark.Token):
                return None
            steps.reverse()
            return name.value, tuple(steps)
        else:
            return None


def _arguments(tree: Tree, index: int) -> list[Tree]:
    """The argument expressions of a call whose exprlist is child `index`, if any."""
    if len(tree.children) <= index:
        return []
    exprlist = tree.children[index]
    if not isinstance(exprlist, lark.Tree):
        return []
    return [child for child in exprlist.children if isinstance(child, lark.Tree)]


def _token(tree: Tree, index: int) -> str:
    child = tree.children[index]
    return child.value if isinstance(child, lark.Token) else ""


class _Walker:
    def __init__(self) -> None:
        self.needs: dict[str, _Trie] = {}
        self.node_refs: set[str] = set()

    def walk(self, tree: Tree, bound: frozenset[str]) -> None:
        # Stripped first, so that each wrapper level is looked at once (linear time).
        tree = _strip(tree)
        path = static_path(tree)
        if path is not None:
            self._reference(path, bound)
            return
        handler = _HANDLERS.get(tree.data)
        if handler is not None:
            handler(self, tree, bound)
            return
        for child in tree.children:
            if isinstance(child, lark.Tree):
                self.walk(child, bound)

    def _reference(self, path: Path, bound: frozenset[str]) -> None:
        root, steps = path
        if root in bound:
            return  # a macro's variable, not the scope
        if root not in SCOPE_ROOTS:
            if root in FUNCTION_NAMES:
                return  # a type used as a value: `type(x) == string`
            raise CelFailure(
                f"unknown name {root!r} (expressions can use {', '.join(sorted(SCOPE_ROOTS))})"
            )
        self.needs.setdefault(root, _Trie()).add(steps)
        if root == "nodes" and steps and isinstance(steps[0], str):
            self.node_refs.add(steps[0])

    def _dot_ident(self, tree: Tree, bound: frozenset[str]) -> None:
        # `.name` resolves in the root scope, ignoring macro variables.
        self._reference((_token(tree, 0), ()), frozenset())

    def _unsupported_dot_call(self, tree: Tree, bound: frozenset[str]) -> None:
        raise CelFailure("a function call with a leading '.' is not supported")

    def _unsupported_message(self, tree: Tree, bound: frozenset[str]) -> None:
        raise CelFailure("message construction (Type{field: ...}) is not supported")

    def _call(self, tree: Tree, bound: frozenset[str]) -> None:
        name = _token(tree, 0)
        arguments = _arguments(tree, 1)
        if name == "has":
            if len(arguments) != 1 or _strip(arguments[0]).data != "member_dot":
                raise CelFailure("has() takes one field selection, such as has(nodes.a.b)")
        elif name == "dyn":
            if len(arguments) != 1:
                raise CelFailure("dyn() takes one argument")
        elif name not in FUNCTION_NAMES:
            raise CelFailure(f"unknown function {name!r}")
        for argument in arguments:
            self.walk(argument, bound)

    def _method(self, tree: Tree, bound: frozenset[str]) -> None:
        target = tree.children[0]
        name = _token(tree, 1)
        arguments = _arguments(tree, 2)
        if isinstance(target, lark.Tree):
            # Walked with the outer variables: a macro's own variable is not visible in
            # its target.
            self.walk(target, bound)
        if name in _MACROS:
            variable = _strip(arguments[0]) if arguments else None
            if (
                len(arguments) != 2
                or variable is None
                or variable.data != "ident"
                or not variable.children
            ):
                raise CelFailure(
                    f"{name}() takes a variable name and an expression, "
                    f"such as items.{name}(x, x > 0)"
                )
            self.walk(arguments[1], bound | {_token(variable, 0)})
            return
        if name not in FUNCTION_NAMES:
            raise CelFailure(f"unknown function {name!r}")
        for argument in arguments:
            self.walk(argument, bound)


_HANDLERS: Final = {
    "dot_ident": _Walker._dot_ident,
    "dot_ident_arg": _Walker._unsupported_dot_call,
    "member_object": _Walker._unsupported_message,
    "ident_arg": _Walker._call,
    "member_dot_arg": _Walker._method,
}
