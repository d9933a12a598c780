"""`{{ expr }}` templates in node config: raw values, interpolation, validation."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.expr import (
    ExpressionError,
    Template,
    check_template,
    compile_expression,
    compile_template,
)
from linkflow.expr.template import Source, split_template

SCOPE: dict[str, Any] = {
    "trigger": {"id": 17, "items": [1, 2], "name": "Ada", "ok": True, "none": None},
    "nodes": {"fetch": {"body": {"id": "c-1", "tags": ["x"]}, "status": 200}},
    "vars": {"base": "https://api.example.com"},
    "env": {},
    "execution": {"id": "e-1", "workflow_id": "wf", "attempt": 1},
}


def render(value: Any) -> Any:
    return compile_template(value).render(SCOPE)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ nodes.fetch.body }}", {"id": "c-1", "tags": ["x"]}),
        ("{{ trigger.items }}", [1, 2]),
        ("{{ trigger.id }}", 17),
        ("{{ trigger.ok }}", True),
        ("{{ trigger.none }}", None),
        ("{{trigger.id}}", 17),
        ("{{ trigger.id + 1 }}", 18),
        ("{{ nodes.fetch.status == 200 }}", True),
        ("{{ {'a': {'b': 1}} }}", {"a": {"b": 1}}),
    ],
)
def test_a_string_that_is_one_expression_yields_the_raw_value(template: str, expected: Any) -> None:
    result = render(template)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ vars.base }}/customers/{{ trigger.id }}", "https://api.example.com/customers/17"),
        ("ok={{ trigger.ok }}", "ok=true"),
        ("{{ trigger.ok }} ", "true "),
        ("[{{ trigger.none }}]", "[]"),
        ("body: {{ nodes.fetch.body }}", 'body: {"id":"c-1","tags":["x"]}'),
        ("items {{ trigger.items }}", "items [1,2]"),
        ("{{ trigger.id }}{{ trigger.id }}", "1717"),
        ("{{ 1.5 * 2.0 }} units", "3.0 units"),
        ("Hello {{ trigger.name }}!", "Hello Ada!"),
        ("literal {{ '{{' }} braces", "literal {{ braces"),
        ("a }} b", "a }} b"),
        ("{{ '}}' + \"}}\" }}", "}}}}"),
        ("{{ r'\\' }}x", "\\x"),
        ("{{ '''a}}''' }}", "a}}"),
        ("no expressions at all", "no expressions at all"),
    ],
)
def test_mixed_text_interpolates(template: str, expected: str) -> None:
    assert render(template) == expected


def test_nested_config() -> None:
    config = {
        "method": "POST",
        "url": "{{ vars.base }}/orders/{{ nodes.fetch.body.id }}",
        "headers": {"X-Attempt": "{{ execution.attempt }}", "Accept": "application/json"},
        "body": {"items": "{{ trigger.items }}", "first": "{{ trigger.items[0] }}"},
        "retries": 3,
        "steps": [{"name": "a", "value": "{{ trigger.name }}"}, "{{ trigger.ok }}", None, 1.5],
        "pair": ("{{ trigger.id }}", 2),
        7: "{{ trigger.id }}",
    }
    template = compile_template(config)
    assert not template.is_constant
    assert template.expressions == (
        "vars.base",
        "nodes.fetch.body.id",
        "execution.attempt",
        "trigger.items",
        "trigger.items[0]",
        "trigger.name",
        "trigger.ok",
        "trigger.id",
    )
    assert template.node_refs == frozenset({"fetch"})
    assert template.render(SCOPE) == {
        "method": "POST",
        "url": "https://api.example.com/orders/c-1",
        "headers": {"X-Attempt": 1, "Accept": "application/json"},
        "body": {"items": [1, 2], "first": 1},
        "retries": 3,
        "steps": [{"name": "a", "value": "Ada"}, True, None, 1.5],
        "pair": [17, 2],
        7: 17,
    }


def test_constant_template() -> None:
    config = {"a": [1, {"b": "text"}], "c": None}
    template = compile_template(config)
    assert template.is_constant
    assert template.expressions == ()
    assert template.render({}) == config


def test_render_builds_new_containers_each_time() -> None:
    template = compile_template({"a": [1, {"b": "x"}], "c": "{{ trigger.items }}"})
    first = template.render(SCOPE)
    first["a"][1]["b"] = "changed"
    first["a"].append(2)
    assert template.render(SCOPE)["a"] == [1, {"b": "x"}]


def test_template_of_a_scalar() -> None:
    assert compile_template(5).render({}) == 5
    assert compile_template(None).render({}) is None
    assert compile_template("{{ trigger.id }}").render(SCOPE) == 17
    assert isinstance(compile_template("x"), Template)


def test_shared_expressions_are_listed_once_and_compiled_once() -> None:
    template = compile_template(["{{ trigger.id }}", "id={{ trigger.id }}"])
    assert template.expressions == ("trigger.id",)
    assert compile_expression("trigger.id") is compile_expression(" trigger.id ".strip())


def test_many_cel_expressions_share_one_conversion() -> None:
    # Several non-path expressions: the render converts the scope once; same results.
    config = {f"k{i}": f"{{{{ nodes.fetch.status + {i} }}}}" for i in range(5)}
    assert compile_template(config).render(SCOPE) == {f"k{i}": 200 + i for i in range(5)}


# ------------------------------------------------------------------------------ errors


def test_compile_template_raises_the_first_bad_expression_with_its_location() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_template({"a": "ok", "headers": {"X-Id": "{{ trigger.id + }}"}, "b": "{{ x }}"})
    assert caught.value.expression == "trigger.id +"
    assert caught.value.location == "headers['X-Id']"
    assert caught.value.reason.startswith("syntax error")


def test_check_template_lists_every_problem_with_where_it_is() -> None:
    config = {
        "url": "{{ vars.base }}/{{ node.fetch.id }}",
        "list": ["fine", "{{ 1 + }}", "open {{ trigger.id", "{{ }}"],
        "my-key": {"z": "{{ trigger.name.lowerAscii() }}"},
        "ok": "{{ trigger.id }}",
    }
    problems = check_template(config)
    assert [(p.location, p.expression, p.reason.split(" (")[0]) for p in problems] == [
        ("url", "node.fetch.id", "unknown name 'node'"),
        ("list[1]", "1 +", "syntax error at column 3: unexpected end of expression"),
        ("list[2]", "open {{ trigger.id", "unterminated '{{' at offset 5"),
        ("list[3]", "{{ }}", "empty '{{ }}' at offset 0"),
        ("['my-key'].z", "trigger.name.lowerAscii()", "unknown function 'lowerAscii'"),
    ]
    assert check_template({"fine": ["{{ trigger.id }}", 1, None]}) == []


def test_render_errors_say_where_they_happened() -> None:
    template = compile_template({"body": {"list": ["{{ nodes.fetch.body.nope }}"]}})
    with pytest.raises(ExpressionError) as caught:
        template.render(SCOPE)
    assert caught.value.location == "body.list[0]"
    assert caught.value.expression == "nodes.fetch.body.nope"
    assert caught.value.reason == "no such key 'nope' in nodes.fetch.body"

    template = compile_template({"url": "x/{{ trigger.id / 0 }}"})
    with pytest.raises(ExpressionError) as caught:
        template.render(SCOPE)
    assert (caught.value.location, caught.value.reason) == ("url", "division by zero")


# ------------------------------------------------------------------------------ splitting


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("plain", ["plain"]),
        ("{{ a }}", [Source(" a ")]),
        ("x{{a}}y{{ b }}", ["x", Source("a"), "y", Source(" b ")]),
        ("{{ {'k': {'j': 1}} }}", [Source(" {'k': {'j': 1}} ")]),
        ('{{ "}}" }}', [Source(' "}}" ')]),
        ("{{ 'it\\'s }}' }}", [Source(" 'it\\'s }}' ")]),
        ("{{ a }}}", [Source(" a "), "}"]),
    ],
)
def test_split_template(text: str, pieces: list[str]) -> None:
    result = split_template(text)
    assert result == pieces
    assert [isinstance(p, Source) for p in result] == [isinstance(p, Source) for p in pieces]


@pytest.mark.parametrize("text", ["{{", "a {{ b", "{{ 'x }}", "{{ {'a': 1 }}"])
def test_unterminated(text: str) -> None:
    with pytest.raises(ExpressionError, match="unterminated"):
        split_template(text)
