"""Properties over generated scopes and expressions.

- A plain path resolved by lookup gives what CEL gives (value, or an error).
- Converting only what an expression can observe gives what converting everything gives.
- Whatever the source text and the scope, the only exception is ExpressionError.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from linkflow.expr import (
    SCOPE_ROOTS,
    ExpressionError,
    check_template,
    compile_expression,
    compile_template,
    is_truthy,
)
from linkflow.expr._celpy import CelFailure, Program, from_cel, parse, to_cel

# Build celpy's runtime now: its first use raises the recursion limit, which hypothesis
# would otherwise report as a change made during a test.
compile_expression("1")

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# NaN is left out only because it is not equal to itself, which the comparisons need.
SCALARS = st.none() | st.booleans() | INT64 | st.floats(allow_nan=False) | st.text(max_size=6)
FEW_KEYS = st.sampled_from(["a", "b", "c", "id", "my-key", "0", "", "true", "if", "in"])
KEYS = FEW_KEYS | st.text(max_size=5)


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=16,
    )


def scopes(keys: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    values = json_values(keys)
    maps = st.dictionaries(keys, values, max_size=5)
    return st.dictionaries(st.sampled_from(sorted(SCOPE_ROOTS)), maps | maps | values, max_size=7)


PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------ rendering

_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
# Words that are not usable after a dot in celpy's grammar, or reserved by CEL.
_RESERVED = {"true", "false", "null", "in", "as", "break", "const", "continue", "else"}
_RESERVED |= {"for", "function", "if", "import", "let", "loop", "package", "namespace"}
_RESERVED |= {"return", "var", "void", "while"}


def cel_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


def cel_step(step: str | int, dotted: bool) -> str:
    if isinstance(step, int):
        return f"[{step}]"
    if dotted and _IDENT.fullmatch(step) and step not in _RESERVED:
        return f".{step}"
    return f"[{cel_string(step)}]"


def outcome(run: Callable[[], Any]) -> tuple[str, str]:
    """("ok", canonical JSON) or ("error", ""); any exception but ExpressionError fails."""
    try:
        value = run()
    except (ExpressionError, CelFailure):
        return ("error", "")
    # Canonical JSON tells true from 1 and 1.0 from 1, which == does not.
    return ("ok", json.dumps(value, sort_keys=True))


def full_cel(source: str, scope: dict[str, Any]) -> Any:
    """CEL over the entire scope, converted wholesale: the reference semantics."""
    program = Program(parse(source))
    return from_cel(program.run({root: to_cel(value) for root, value in scope.items()}))


# ------------------------------------------------------------------------------ properties


@st.composite
def scope_and_path(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A scope, and a path into it that mostly exists and sometimes does not."""
    scope = draw(scopes(KEYS))
    present = sorted(scope)
    use_present = bool(present) and (draw(st.booleans()) or draw(st.booleans()))
    root = draw(st.sampled_from(present if use_present else sorted(SCOPE_ROOTS)))
    missing = object()
    value: Any = scope.get(root, missing)
    source = root
    for _ in range(draw(st.integers(0, 4))):
        existing = draw(st.booleans()) or draw(st.booleans())
        step: str | int
        if existing and isinstance(value, dict) and value:
            step = draw(st.sampled_from(list(value)))
        elif existing and isinstance(value, list) and value:
            step = draw(st.integers(0, len(value) - 1))
        else:
            step = draw(KEYS | st.integers(0, 5))
        source += cel_step(step, dotted=draw(st.booleans()))
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            value = missing
    return scope, source


@PROPERTY
@given(scope_and_path())
def test_fast_path_agrees_with_cel(case: tuple[dict[str, Any], str]) -> None:
    scope, source = case
    expression = compile_expression(source)
    assert expression.is_path
    fast = outcome(lambda: expression.evaluate(scope))
    event(f"path: {fast[0]}")
    assert fast == outcome(lambda: full_cel(source, scope)), source
    # dyn() is the identity for CEL and hides the path from the fast path.
    assert fast == outcome(lambda: compile_expression(f"dyn({source})").evaluate(scope)), source


SMALL_KEYS = st.sampled_from(["a", "b", "c"])


@st.composite
def small_paths(draw: st.DrawFn) -> str:
    source: str = draw(st.sampled_from(["trigger", "nodes", "vars", "loop"]))
    for _ in range(draw(st.integers(0, 3))):
        step = draw(SMALL_KEYS | st.integers(0, 2))
        source += cel_step(step, dotted=draw(st.booleans()))
    return source


LITERALS = st.sampled_from(["0", "1", "2", "1.5", "'a'", "'b'", "true", "false", "null", "[1]"])


def expressions() -> st.SearchStrategy[str]:
    leaves = small_paths() | LITERALS
    has = st.builds(lambda p, k: f"has({p}.{k})", small_paths(), SMALL_KEYS)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        ops = st.sampled_from(["==", "!=", "<", ">=", "+", "-", "&&", "||", "in"])
        return (
            st.builds(lambda a, op, b: f"({a}) {op} ({b})", inner, ops, inner)
            | st.builds(lambda a: f"!({a})", inner)
            | st.builds(lambda a: f"size({a})", inner)
            | st.builds(lambda a, b, c: f"({a}) ? ({b}) : ({c})", inner, inner, inner)
            | st.builds(lambda a, b: f"[{a}, {b}]", inner, inner)
            | st.builds(lambda a, b: f"{{'k': {a}, 'j': {b}}}", inner, inner)
            | st.builds(lambda a: f"dyn({a})", inner)
            | st.builds(lambda p, b: f"({p}).map(v, [v, {b}])", small_paths(), inner)
            | st.builds(lambda p, b: f"({p}).exists(v, v == {b})", small_paths(), inner)
            | st.builds(lambda p: f"({p}).filter(nodes, has(nodes.a))", small_paths())
        )

    return st.recursive(leaves | has, extend, max_leaves=6)


@PROPERTY
@given(scopes(SMALL_KEYS), expressions())
def test_converting_only_what_is_observed_changes_nothing(
    scope: dict[str, Any], source: str
) -> None:
    expression = compile_expression(source)
    pruned = outcome(lambda: expression.evaluate(scope))
    event(f"expression: {pruned[0]}")
    assert pruned == outcome(lambda: full_cel(source, scope)), source


FRAGMENTS = st.sampled_from(
    [
        "nodes", "trigger", "vars", "loop", "x", "a", ".", "[", "]", "(", ")", "{", "}",
        "'a'", '"b"', "'''c'''", "r'\\d'", "b'x'", "0", "1", "-1", "1.5", "1u", "0x1f",
        "9223372036854775807", "+", "-", "*", "/", "%", "==", "!=", "<", ">", "&&", "||",
        "!", "?", ":", ",", " ", "in", "size", "has", "map", "filter", "all", "exists",
        "exists_one", "true", "null", "dyn", "int", "string", "type", "duration",
        "timestamp", "matches", "startsWith", "'['", "\\", "'", '"', "{{", "}}", "\n",
        "//", "google", "\x00", "é",
    ]
)  # fmt: skip
GARBAGE = st.text(max_size=40) | st.lists(FRAGMENTS, max_size=14).map("".join)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(GARBAGE, scopes(SMALL_KEYS))
def test_garbage_only_ever_raises_expression_error(source: str, scope: dict[str, Any]) -> None:
    try:
        expression = compile_expression(source)
    except ExpressionError as ex:
        event("garbage: rejected at compile time")
        assert ex.expression == source
        assert ex.reason
    else:
        try:
            is_truthy(expression.evaluate(scope))
            event("garbage: evaluated")
        except ExpressionError as ex:
            event("garbage: failed at run time")
            assert ex.expression == source
    for config in (source, {"k": [source, f"x {{{{ {source} }}}} y"]}):
        problems = check_template(config)
        assert all(isinstance(problem, ExpressionError) for problem in problems)
        with contextlib.suppress(ExpressionError):
            compile_template(config).render(scope)
