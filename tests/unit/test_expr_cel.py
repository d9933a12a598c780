"""CEL expressions: operators, functions, macros, result types, errors, caching."""

from __future__ import annotations

import copy
import datetime
import pickle
from typing import Any

import pytest

from linkflow.expr import (
    Expression,
    ExpressionError,
    check_expression,
    compile_expression,
    compile_template,
    is_truthy,
    prepare_scope,
    to_text,
)

SCOPE: dict[str, Any] = {
    "trigger": {"x": 5, "items": [1, 2, 3], "name": "Hello World", "ratio": 0.5, "flag": True},
    "nodes": {
        "a": {"status": 200, "body": {"ok": True, "list": [{"n": 1}, {"n": 2}]}},
        "b": {"status": 404},
        "my-node": {"v": 7},
    },
    "vars": {"threshold": 3, "tags": {"env": "prod"}},
    "env": {"REGION": "eu-west-1"},
    "execution": {"id": "exec-1", "workflow_id": "wf-1", "attempt": 2},
}


def evaluate(source: str, scope: dict[str, Any] | None = None) -> Any:
    return compile_expression(source).evaluate(SCOPE if scope is None else scope)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # comparison and logic
        ("nodes.a.status == 200 && trigger.x > 3", True),
        ("nodes.b.status == 200 || trigger.x < 3", False),
        ("!(trigger.x >= 5)", False),
        ("trigger.x != 5", False),
        ("trigger.x <= 5 && trigger.ratio < 1.0", True),
        ("'abc' < 'abd'", True),
        # arithmetic
        ("trigger.x + vars.threshold * 2", 11),
        ("trigger.x / 2", 2),
        ("trigger.x % 3", 2),
        ("-trigger.x", -5),
        ("trigger.ratio * 4.0", 2.0),
        ("'a' + 'b'", "ab"),
        ("[1, 2] + [3]", [1, 2, 3]),
        # ternary
        ("trigger.x > 3 ? 'big' : 'small'", "big"),
        ("nodes.b.status == 200 ? 1 : nodes.b.status", 404),
        # in
        ("2 in trigger.items", True),
        ("'env' in vars.tags", True),
        ("nodes.a.status in [200, 201]", True),
        ("'c' in nodes", False),
        # size
        ("size(trigger.items)", 3),
        ("trigger.items.size()", 3),
        ("size(trigger.name)", 11),
        ("size(nodes)", 3),
        ("size(vars.tags)", 1),
        # has
        ("has(nodes.a.body)", True),
        ("has(nodes.a.nope)", False),
        ("has(nodes.zzz.deep)", False),
        ("has(nodes.a) && nodes.a.status == 200", True),
        # the optional-field idiom: has() as a condition (celpy returned a Python bool here)
        ("has(nodes.a.body) ? 'yes' : 'no'", "yes"),
        ("has(nodes.a.nope) ? 'yes' : 'no'", "no"),
        ("!has(nodes.a.nope) ? 1 : 2", 1),
        ("(has(trigger.missing) || has(trigger.x)) ? trigger.x : 0", 5),
        ("[has(trigger.x), !has(trigger.missing)]", [True, True]),
        # strings
        ("trigger.name.startsWith('Hello')", True),
        ("trigger.name.endsWith('World')", True),
        ("trigger.name.contains('lo W')", True),
        ("trigger.name.matches('^H.*d$')", True),
        ("string(trigger.x) + '!'", "5!"),
        ("int('42') + 1", 43),
        ("double(trigger.x)", 5.0),
        # macros
        ("trigger.items.map(i, i * 10)", [10, 20, 30]),
        ("trigger.items.filter(i, i > 1)", [2, 3]),
        ("trigger.items.all(i, i > 0)", True),
        ("trigger.items.exists(i, i == 2)", True),
        ("trigger.items.exists_one(i, i > 2)", True),
        ("nodes.a.body.list.map(e, e.n)", [1, 2]),
        ("vars.tags.all(k, vars.tags[k] == 'prod')", True),
        ("trigger.items.map(i, trigger.items.filter(j, j < i).size())", [0, 1, 2]),
        # literals and structures
        ("{'a': [1, null, true], 'b': {'c': 1.5}}", {"a": [1, None, True], "b": {"c": 1.5}}),
        ("null", None),
        ("nodes['my-node'].v * 2", 14),
        ("execution.attempt > 1", True),
        ("env.REGION.startsWith('eu')", True),
        ("dyn(trigger.x) + 1", 6),
        ("type(trigger.x) == int", True),
    ],
)
def test_cel(source: str, expected: Any) -> None:
    result = evaluate(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1", int),
        ("1u", int),
        ("1.5", float),
        ("'s'", str),
        ("true", bool),
        ("null", type(None)),
        ("[1]", list),
        ("{'a': 1}", dict),
        ("{1: 'x'}", dict),
    ],
)
def test_results_are_plain_python(source: str, expected: type) -> None:
    result = evaluate(source)
    assert type(result) is expected
    if isinstance(result, dict):
        assert all(type(k) in (str, int) for k in result)


def test_nested_results_are_plain_python_all_the_way_down() -> None:
    result = evaluate("[{'a': [true, 1, 1.5, 'x', null]}]")

    def check(value: Any) -> None:
        assert type(value) in (dict, list, str, int, float, bool, type(None))
        if isinstance(value, dict):
            for key, item in value.items():
                assert type(key) is str
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)

    check(result)
    assert result == [{"a": [True, 1, 1.5, "x", None]}]


def test_values_json_has_no_word_for_become_strings() -> None:
    assert evaluate("timestamp('2024-05-01T10:00:00Z')") == "2024-05-01T10:00:00Z"
    assert evaluate("timestamp('2024-05-01T10:00:00Z') + duration('90m')") == (
        "2024-05-01T11:30:00Z"
    )
    assert evaluate("duration('1.5s')") == "1.5s"
    assert evaluate("duration('90m')") == "5400s"
    assert evaluate("b'abc'") == "YWJj"  # base64
    assert evaluate("type(1)") == "int"
    assert evaluate("type('a')") == "string"


def test_datetimes_in_the_scope_are_timestamps() -> None:
    scope = {"trigger": {"at": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)}}
    assert evaluate("trigger.at.getFullYear()", scope) == 2024
    assert evaluate("trigger.at + duration('1h') > trigger.at", scope) is True


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("1 +", "syntax error at column 3: unexpected end of expression"),
        ("nodes..a", "syntax error at column 7: unexpected '.'"),
        ("trigger.x $ 1", "syntax error at column 11: unexpected character '$'"),
        ("(1", "syntax error at column 2: unexpected end of expression"),
        ("trigger.x ==\n  ", "syntax error at line 1, column 11: unexpected end of expression"),
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("nodes.true", "syntax error: unexpected 'true'"),
    ],
)
def test_syntax_errors_fail_at_compile_time(source: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert caught.value.expression == source
    assert caught.value.reason == reason
    assert str(caught.value) == f"expression {source!r}: {reason}"


@pytest.mark.parametrize(
    ("source", "reason_start"),
    [
        ("node.a.x", "unknown name 'node' (expressions can use env, execution, loop,"),
        ("x + 1", "unknown name 'x'"),
        ("trigger.items.map(i, j)", "unknown name 'j'"),
        ("trigger.items.map(i, i) + [i]", "unknown name 'i'"),  # not visible outside
        ("lower(trigger.name)", "unknown function 'lower'"),
        ("trigger.name.lowerAscii()", "unknown function 'lowerAscii'"),
        ("trigger.items.map(i, i > 1, i)", "map() takes a variable name and an expression"),
        ("trigger.items.all(1, true)", "all() takes a variable name and an expression"),
        ("has(trigger)", "has() takes one field selection"),
        ("has(trigger.x, trigger.y)", "has() takes one field selection"),
        ("dyn(1, 2)", "dyn() takes one argument"),
        (".size(trigger.items)", "a function call with a leading '.' is not supported"),
        ("google.protobuf.Int32Value{value: 1}", "message construction"),
        ("'\\U00110000'", "unsupported expression"),
        ("(" * 3000 + "1" + ")" * 3000, "expression nested too deeply"),
    ],
)
def test_names_that_cannot_resolve_fail_at_compile_time(source: str, reason_start: str) -> None:
    error = check_expression(source)
    assert error is not None
    assert error.reason.startswith(reason_start), error.reason


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("nodes.a.status / 0", "division by zero"),
        ("nodes.a.status % 0", "division by zero"),
        ("nodes.a.nope == 1", "no such key 'nope'"),
        ("trigger.items[7] == 1", "index out of range"),
        ("9223372036854775807 + trigger.x", "integer overflow"),
        ("int('x') == trigger.x", "invalid value: invalid literal for int() with base 10: 'x'"),
        ("trigger.x == 5.0", "type mismatch: no matching overload between int and double"),
        ("trigger.name.matches('[')", "invalid regular expression: missing ]: ["),
        ("size", "the result is not a value (a function)"),
    ],
)
def test_evaluation_errors_carry_expression_and_reason(source: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(source)
    assert caught.value.expression == source
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "source",
    ["trigger.name + 1", "-trigger.name", "size(trigger.x)", "trigger.x && true || 1 < 'a'"],
)
def test_type_errors_are_expression_errors(source: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(source)
    assert caught.value.reason.startswith("type mismatch")


def test_errors_inside_macros_and_short_circuits() -> None:
    with pytest.raises(ExpressionError, match="division by zero"):
        evaluate("trigger.items.map(i, i / 0)")
    # CEL's logic operators absorb an error when the other side decides the result.
    assert evaluate("trigger.x / 0 == 1 || true") is True
    assert evaluate("false && trigger.x / 0 == 1") is False


@pytest.mark.parametrize(
    ("scope", "reason_start"),
    [
        ({"trigger": {"x": 2**70}}, "integer 1180591620717411303424 is outside the 64-bit range"),
        ({"trigger": {"x": {1, 2}}}, "a value of type set cannot be used in an expression"),
        ({"trigger": {"x": b"raw"}}, "a value of type bytes cannot be used"),
        ({"trigger": {"x": datetime.datetime(2024, 1, 1)}}, "a datetime without a time zone"),
        ({"trigger": {"x": {(1, 2): 3}}}, "a map key of type tuple cannot be used"),
    ],
)
def test_values_cel_cannot_hold_are_expression_errors(
    scope: dict[str, Any], reason_start: str
) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("trigger.x == 1", scope)
    assert caught.value.reason.startswith(reason_start)
    assert caught.value.reason.endswith("(in trigger.x)")


@pytest.mark.parametrize("scope", [None, 42, "text", {"trigger": object()}])
def test_a_broken_scope_is_still_only_an_expression_error(scope: Any) -> None:
    for source in ("trigger.x", "trigger.x == 1"):
        with pytest.raises(ExpressionError):
            compile_expression(source).evaluate(scope)


def test_a_non_string_source_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(42)  # type: ignore[arg-type]


def test_unevaluated_branches_do_not_need_their_data() -> None:
    # Pruning the scope to what is read keeps missing data a run-time matter only where
    # it is actually read.
    assert evaluate("true ? 1 : nodes.zzz.q") == 1


# ------------------------------------------------------------------------------ caching


def test_compile_is_cached_by_source() -> None:
    first = compile_expression("nodes.a.status == 200")
    assert compile_expression("nodes.a.status == 200") is first
    assert compile_expression("nodes.a.status == 201") is not first
    assert isinstance(first, Expression)
    assert first.source == "nodes.a.status == 200"


def test_compile_failures_are_cached_but_raised_fresh() -> None:
    errors = []
    for _ in range(2):
        with pytest.raises(ExpressionError) as caught:
            compile_expression("1 + + ")
        errors.append(caught.value)
    assert errors[0] is not errors[1]
    assert errors[0].reason == errors[1].reason


def test_check_expression() -> None:
    assert check_expression("trigger.x > 1") is None
    error = check_expression("trigger.x >")
    assert isinstance(error, ExpressionError)
    assert error.expression == "trigger.x >"


def test_compiled_expressions_are_reusable_across_scopes() -> None:
    expression = compile_expression("trigger.x * 2")
    assert [expression.evaluate({"trigger": {"x": n}}) for n in range(5)] == [0, 2, 4, 6, 8]


def test_prepared_scope_gives_the_same_results() -> None:
    prepared = prepare_scope(SCOPE)
    assert prepare_scope(prepared) is prepared
    assert dict(prepared) == SCOPE
    for source in ("nodes.a.status == 200", "size(nodes)", "nodes.a.body.list.map(e, e.n)"):
        assert compile_expression(source).evaluate(prepared) == evaluate(source)
        assert compile_expression(source).evaluate(prepared) == evaluate(source)


def test_expressions_and_templates_pickle_and_copy() -> None:
    expression = compile_expression("trigger.x * 2")
    assert pickle.loads(pickle.dumps(expression)) is expression
    assert copy.deepcopy(expression) is expression
    template = compile_template({"a": "{{ trigger.x * 2 }}", "b": ["x{{ trigger.x }}"]})
    for clone in (pickle.loads(pickle.dumps(template)), copy.deepcopy(template)):
        assert clone.expressions == template.expressions
        assert clone.render(SCOPE) == {"a": 10, "b": ["x5"]}


def test_expression_error_pickles_with_all_fields() -> None:
    error = ExpressionError("a.b", "no such key 'b'", "config.url")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.expression, copy.reason, copy.location) == ("a.b", "no such key 'b'", "config.url")
    assert str(copy) == "expression 'a.b': no such key 'b'"


def test_celpy_users_elsewhere_in_the_process_are_not_disturbed() -> None:
    # celpy keeps one global parser whose tree class is fixed by its first builder; we
    # build our own and leave the global as it was, in either order.
    import celpy
    from celpy.celparser import CELParser

    from linkflow.expr import _celpy

    saved = CELParser.CEL_PARSER
    try:
        CELParser.CEL_PARSER = None
        environment = celpy.Environment()  # the default interpreter, built first
        _celpy._runtime.cache_clear()
        assert compile_expression("trigger.x + 41 == 46").evaluate(SCOPE) is True
        assert check_expression("trigger.x + 40 == 45") is None
        program = environment.program(environment.compile("1 + 2"))
        assert program.evaluate({}) == 3
    finally:
        CELParser.CEL_PARSER = saved
        _celpy._runtime.cache_clear()
    assert compile_expression("trigger.x + 39 == 44").evaluate(SCOPE) is True


# ------------------------------------------------------------------------------ values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        (True, True),
        (0, False),
        (0.0, False),
        (1, True),
        (-0.5, True),
        ("", False),
        ("false", True),
        ([], False),
        ([0], True),
        ({}, False),
        ({"a": 1}, True),
    ],
)
def test_is_truthy(value: Any, expected: bool) -> None:
    assert is_truthy(value) is expected


def test_is_truthy_never_raises() -> None:
    class Refuses:
        def __bool__(self) -> bool:
            raise ValueError("no")

    assert is_truthy(Refuses()) is True


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2.5, "2.5"),
        ("s", "s"),
        ({"a": [1, True, None]}, '{"a":[1,true,null]}'),
        (["é"], '["é"]'),
    ],
)
def test_to_text(value: Any, text: str) -> None:
    assert to_text(value) == text
