"""Handlers register by node type: with the decorator, by module, and through the
`linkflow.nodes` entry point group of installed packages."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import linkflow.nodes
from linkflow.model import NodeKind, default_registry
from linkflow.worker import ActivityContext, HandlerLoadError, HandlerRegistry, build_registry
from linkflow.worker.registry import ENTRY_POINT_GROUP, node_types


def test_decorator_registers_async_and_sync_handlers_with_their_schema() -> None:
    registry = HandlerRegistry()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}

    @registry.activity("double", config_schema=schema)
    async def double(ctx: ActivityContext, config: Any) -> int:
        return int(config["n"]) * 2

    @registry.activity("shout")
    def shout(ctx: ActivityContext, config: Any) -> str:
        return str(config).upper()

    assert registry.names() == ["double", "shout"]
    spec = registry.get("double")
    assert spec is not None and spec.is_async and spec.fn is double
    assert spec.config_schema == schema
    sync = registry.get("shout")
    assert sync is not None and not sync.is_async
    assert registry.config_schemas() == {"double": schema, "shout": {"type": "object"}}
    assert registry.get("missing") is None


def test_async_callable_objects_count_as_async() -> None:
    class Handler:
        async def __call__(self, ctx: ActivityContext, config: Any) -> None:
            return None

    registry = HandlerRegistry()
    spec = registry.register("obj", Handler())
    assert spec.is_async


def test_two_handlers_for_one_node_type_are_refused_naming_both() -> None:
    registry = HandlerRegistry()

    async def first(ctx: ActivityContext, config: Any) -> None:
        return None

    async def second(ctx: ActivityContext, config: Any) -> None:
        return None

    registry.register("x", first)
    registry.register("x", first)  # the same handler again (a re-import) is fine
    with pytest.raises(HandlerLoadError, match=r"'x' has two handlers.*first.*second"):
        registry.register("x", second)
    registry.register("x", second, replace=True)
    assert registry.get("x").fn is second  # type: ignore[union-attr]


def test_bad_registrations_are_refused() -> None:
    registry = HandlerRegistry()
    with pytest.raises(HandlerLoadError):
        registry.register("", lambda ctx, config: None)
    with pytest.raises(HandlerLoadError):
        registry.register("y", "not callable")  # type: ignore[arg-type]


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install a plugin package for real: a module plus a dist-info with entry points on
    sys.path, found by importlib.metadata exactly as a pip-installed one is."""

    def install(module_source: str, entry_points: dict[str, str]) -> str:
        name = f"lf_plugin_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(module_source))
        dist = tmp_path / f"{name}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        lines = [f"[{ENTRY_POINT_GROUP}]"] + [
            f"{ep} = {target.format(module=name)}" for ep, target in entry_points.items()
        ]
        (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.invalidate_caches()
        return name

    yield install
    for module in [m for m in sys.modules if m.startswith("lf_plugin_")]:
        del sys.modules[module]


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def test_entry_point_naming_a_function_registers_it_under_the_entry_point_name(
    plugin: Any,
) -> None:
    node = _unique("greet")
    module = plugin(
        """
        CONFIG_SCHEMA = {"type": "object"}

        async def greet(ctx, config):
            return {"hello": config["name"]}

        greet.CONFIG_SCHEMA = CONFIG_SCHEMA
        """,
        {node: "{module}:greet"},
    )
    registry = HandlerRegistry()
    added = registry.load_entry_points()
    spec = registry.get(node)
    assert spec is not None and spec.is_async
    assert spec.fn.__module__ == module
    assert spec.config_schema == {"type": "object"}
    assert [s.node_type for s in added] == [node]
    assert "entry point" in spec.source


def test_entry_point_naming_a_module_registers_its_decorated_handlers(plugin: Any) -> None:
    a, b = _unique("a"), _unique("b")
    plugin(
        f"""
        from linkflow.worker import activity
        from linkflow.nodes.echo import echo  # imported, not defined here: not registered

        @activity("{a}", config_schema={{"type": "object"}})
        async def first(ctx, config):
            return 1

        @activity("{b}")
        def second(ctx, config):
            return 2
        """,
        {"bundle": "{module}"},
    )
    registry = HandlerRegistry()
    registry.load_entry_points()
    assert registry.names() == sorted([a, b])
    # The decorator also made them part of every worker's registry.
    full = build_registry()
    assert {a, b, "http", "code", "echo"} <= set(full.names())


def test_broken_plugins_stop_the_worker_with_a_message_naming_them(plugin: Any) -> None:
    node = _unique("broken")
    plugin("raise ImportError('missing dependency foo')\n", {node: "{module}:handler"})
    with pytest.raises(HandlerLoadError, match=rf"entry point '{node}'.*missing dependency foo"):
        HandlerRegistry().load_entry_points()


def test_a_module_entry_point_without_handlers_is_an_error(plugin: Any) -> None:
    plugin("X = 1\n", {"empty": "{module}"})
    with pytest.raises(HandlerLoadError, match="no @activity handlers"):
        HandlerRegistry().load_entry_points()


def test_a_decorated_function_must_be_exposed_under_its_node_type(plugin: Any) -> None:
    declared = _unique("declared")
    plugin(
        f"""
        from linkflow.worker import activity

        @activity("{declared}")
        async def handler(ctx, config):
            return None
        """,
        {"other_name": "{module}:handler"},
    )
    with pytest.raises(HandlerLoadError, match=f"declared as node type '{declared}'"):
        HandlerRegistry().load_entry_points()


def test_build_registry_imports_extra_modules_and_rejects_empty_ones(plugin: Any) -> None:
    node = _unique("extra")
    module = plugin(
        f"""
        from linkflow.worker import activity

        @activity("{node}")
        async def handler(ctx, config):
            return None
        """,
        {},
    )
    assert node in build_registry(entry_points=False, extra_modules=[module]).names()
    with pytest.raises(HandlerLoadError, match="no @activity handlers"):
        build_registry(entry_points=False, extra_modules=["linkflow.settings"])
    with pytest.raises(HandlerLoadError, match="cannot import"):
        build_registry(entry_points=False, extra_modules=["no_such_module_xyz"])


def test_core_handlers_declare_their_node_types_once() -> None:
    registry = build_registry(entry_points=False)
    schemas = linkflow.nodes.config_schemas()
    assert set(schemas) == {"http", "code", "kafka_publish", "noop", "echo", "sleep"}
    types = node_types(registry)
    for node_type, schema in schemas.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        declared = types.get(node_type)
        # Validation reads the handler's own declaration: no second copy in the model.
        assert declared.config_schema is registry.config_schemas()[node_type] == schema
        assert declared.kind is NodeKind.ACTIVITY
        assert declared.description and declared.output
        assert node_type not in default_registry()
    assert types.get("http").task_queue == "http"
    # The code node's documented keys are accepted at registration (they were refused).
    code = types.get("code").config_schema["properties"]
    assert {"source", "input", "timeout", "memory_mb"} <= set(code)


def test_an_activity_cannot_take_the_name_of_an_engine_node_type() -> None:
    registry = HandlerRegistry()
    registry.register("switch", lambda ctx, config: None)
    with pytest.raises(HandlerLoadError, match="engine runs itself"):
        node_types(registry)


def test_a_plugin_node_type_is_valid_in_definitions_with_its_config_schema(plugin: Any) -> None:
    from linkflow.model import validate_document
    from linkflow.worker.registry import node_types

    node = _unique("greet")
    plugin(
        """
        async def greet(ctx, config):
            return {"hello": config["name"]}

        greet.CONFIG_SCHEMA = {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "additionalProperties": False,
        }
        """,
        {node: "{module}:greet"},
    )

    def definition(config: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "greeting",
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "hi", "type": node, "config": config},
            ],
            "edges": [{"source": "start", "target": "hi"}],
        }

    # Without the plugin's handlers the type is unknown; with them, it is an activity.
    assert any("unknown node type" in p.message for p in validate_document(definition({})))
    types = node_types()
    assert types.get(node).kind is NodeKind.ACTIVITY
    assert validate_document(definition({"name": "Ada"}), types) == []
    problems = validate_document(definition({"nom": "Ada"}), types)
    assert problems and all(p.node_id == "hi" for p in problems)
