"""Activity handlers by node type: the `@activity` decorator and `linkflow.nodes` entry points.

A handler is `fn(ctx, input) -> result`, async or sync (sync ones run in a thread), where
`input` is the node's rendered config and `result` any JSON-serialisable value.

    from linkflow.worker import activity, ActivityError

    @activity("greet", config_schema={"type": "object", "properties": {"name": {...}}})
    async def greet(ctx, input):
        return {"greeting": f"hello {input['name']}"}

Users add node types without touching the core by exposing handlers through the
`linkflow.nodes` entry point group of their package:

    [project.entry-points."linkflow.nodes"]
    greet = "my_package.nodes:greet"     # a handler function: node type = entry point name
    mynodes = "my_package.nodes"         # a module: every @activity handler in it

`build_registry()` gives the registry a worker uses: the core handlers (linkflow.nodes),
every @activity-decorated handler imported so far, and the entry points.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, TypeVar

from linkflow.model.node_types import (
    ERROR,
    SUCCESS,
    NodeKind,
    NodeType,
    NodeTypeRegistry,
    default_registry,
)
from linkflow.worker.context import ActivityContext

ENTRY_POINT_GROUP = "linkflow.nodes"
_MARK = "__linkflow_activity__"

Handler = Callable[[ActivityContext, Any], Awaitable[Any] | Any]
H = TypeVar("H", bound=Callable[..., Any])

log = logging.getLogger(__name__)


class HandlerLoadError(RuntimeError):
    """A handler could not be registered or loaded; the message names the culprit."""


def declare(
    node_type: str,
    config_schema: Mapping[str, Any] | None = None,
    *,
    description: str = "",
    output: str = "",
    task_queue: str | None = None,
    handles: tuple[str, ...] = (SUCCESS, ERROR),
) -> NodeType:
    """The one declaration of an activity node type: registration validates configs with
    it, processors route its tasks by it, docs/nodes.md is generated from it."""
    return NodeType(
        name=node_type,
        kind=NodeKind.ACTIVITY,
        handles=handles,
        config_schema=config_schema if config_schema is not None else {"type": "object"},
        task_queue=task_queue,
        description=description,
        output=output,
    )


@dataclass(frozen=True)
class HandlerSpec:
    node_type: str
    fn: Handler
    is_async: bool
    config_schema: Mapping[str, Any] | None = None
    source: str = ""  # where it came from, for conflict messages
    declaration: NodeType | None = None

    @property
    def node_declaration(self) -> NodeType:
        if self.declaration is not None:
            return self.declaration
        return declare(
            self.node_type,
            self.config_schema,
            description=f"activity from {self.source or self.qualname}",
        )

    @property
    def qualname(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}"


class HandlerRegistry:
    """Handlers by node type."""

    def __init__(self) -> None:
        self._handlers: dict[str, HandlerSpec] = {}

    def register(
        self,
        node_type: str,
        fn: Handler,
        *,
        config_schema: Mapping[str, Any] | None = None,
        replace: bool = False,
        source: str = "",
        declaration: NodeType | None = None,
    ) -> HandlerSpec:
        if not node_type or not isinstance(node_type, str):
            raise HandlerLoadError(f"node type must be a non-empty string, got {node_type!r}")
        if not callable(fn):
            raise HandlerLoadError(f"handler for {node_type!r} is not callable: {fn!r}")
        spec = HandlerSpec(
            node_type,
            fn,
            _is_async(fn),
            declaration.config_schema if declaration is not None else config_schema,
            source or f"{fn.__module__}.{getattr(fn, '__qualname__', repr(fn))}",
            declaration,
        )
        existing = self._handlers.get(node_type)
        # Re-importing a module (reloads, entry points naming an already imported module)
        # re-registers the same function: that is not a conflict.
        if existing is not None and not replace and existing.qualname != spec.qualname:
            raise HandlerLoadError(
                f"node type {node_type!r} has two handlers: {existing.source} and {spec.source}"
            )
        self._handlers[node_type] = spec
        return spec

    def activity(
        self,
        node_type: str,
        *,
        config_schema: Mapping[str, Any] | None = None,
        description: str = "",
        output: str = "",
        task_queue: str | None = None,
        handles: tuple[str, ...] = (SUCCESS, ERROR),
    ) -> Callable[[H], H]:
        """Decorator registering `fn` here as the handler of `node_type`, declared by the
        other arguments (see `declare`; the description defaults to the docstring's first
        paragraph)."""

        def decorate(fn: H) -> H:
            doc = (fn.__doc__ or "").strip().split("\n\n")[0]
            declaration = declare(
                node_type,
                config_schema,
                description=description or " ".join(doc.split()),
                output=output,
                task_queue=task_queue,
                handles=handles,
            )
            _mark(fn, declaration)
            self.register(node_type, fn, declaration=declaration)
            return fn

        return decorate

    def add_module(self, module: ModuleType, *, source: str = "") -> list[HandlerSpec]:
        """Register every @activity handler defined in `module`."""
        added = []
        for value in list(vars(module).values()):
            mark = getattr(value, _MARK, None)
            if mark is None or getattr(value, "__module__", None) != module.__name__:
                continue
            added.append(self.register(mark.name, value, declaration=mark, source=source or ""))
        return added

    def update(self, other: HandlerRegistry) -> None:
        for spec in other:
            self.register(
                spec.node_type,
                spec.fn,
                config_schema=spec.config_schema,
                source=spec.source,
                declaration=spec.declaration,
            )

    def load_entry_points(
        self, group: str = ENTRY_POINT_GROUP, eps: Iterable[EntryPoint] | None = None
    ) -> list[HandlerSpec]:
        """Register the handlers the installed packages expose in `group`.

        A broken plugin raises HandlerLoadError: a worker silently missing a node type would
        fail every task of it, which is worse than not starting.
        """
        added: list[HandlerSpec] = []
        for ep in eps if eps is not None else entry_points(group=group):
            where = f"entry point {ep.name!r} ({ep.value}) in group {group!r}"
            try:
                target = ep.load()
            except Exception as exc:
                raise HandlerLoadError(f"{where}: cannot load: {exc!r}") from exc
            if isinstance(target, ModuleType):
                found = self.add_module(target, source=where)
                if not found:
                    raise HandlerLoadError(f"{where}: module has no @activity handlers")
                added.extend(found)
                continue
            mark = getattr(target, _MARK, None)
            if mark is not None and mark.name != ep.name:
                raise HandlerLoadError(
                    f"{where}: the handler is declared as node type {mark.name!r}; "
                    f"name the entry point {mark.name!r}"
                )
            schema = None if mark is not None else getattr(target, "CONFIG_SCHEMA", None)
            added.append(
                self.register(ep.name, target, config_schema=schema, source=where, declaration=mark)
            )
        return added

    def get(self, node_type: str) -> HandlerSpec | None:
        return self._handlers.get(node_type)

    def __contains__(self, node_type: object) -> bool:
        return node_type in self._handlers

    def __iter__(self) -> Iterator[HandlerSpec]:
        return iter(list(self._handlers.values()))

    def __len__(self) -> int:
        return len(self._handlers)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def config_schemas(self) -> dict[str, Mapping[str, Any] | None]:
        """Node type -> the JSON Schema of its config (for the model's node-type registry)."""
        return {name: self._handlers[name].config_schema for name in self.names()}


def _is_async(fn: Any) -> bool:
    # Objects with an `async def __call__` are async handlers too.
    return inspect.iscoroutinefunction(fn) or (
        callable(fn) and inspect.iscoroutinefunction(type(fn).__call__)
    )


def _mark(fn: Any, declaration: NodeType) -> None:
    # Builtins and slotted callables take no attributes; registration still works for them.
    with contextlib.suppress(AttributeError):
        setattr(fn, _MARK, declaration)


# Every handler decorated with the module-level `activity` lands here, so a worker built
# with `build_registry()` runs it as soon as its module was imported.
DECORATED = HandlerRegistry()


# `@activity(...)`: the decorator of DECORATED (same arguments as HandlerRegistry.activity).
activity = DECORATED.activity


def build_registry(
    *, entry_points: bool = True, extra_modules: Iterable[str | ModuleType] = ()
) -> HandlerRegistry:
    """The registry a worker uses: core handlers, @activity handlers imported so far,
    `extra_modules` (names or modules), then the `linkflow.nodes` entry points."""
    from linkflow.nodes import CORE_MODULES

    registry = HandlerRegistry()
    for name in CORE_MODULES:
        registry.add_module(importlib.import_module(name), source=f"core module {name}")
    for module in extra_modules:
        if isinstance(module, str):
            try:
                module = importlib.import_module(module)
            except ImportError as exc:
                raise HandlerLoadError(f"cannot import handler module {module!r}: {exc}") from exc
        if not registry.add_module(module, source=f"module {module.__name__}"):
            raise HandlerLoadError(f"module {module.__name__!r} has no @activity handlers")
    if entry_points:
        registry.load_entry_points()
    registry.update(DECORATED)
    return registry


def node_types(handlers: HandlerRegistry | None = None) -> NodeTypeRegistry:
    """The engine's node types plus every handler's declaration.

    This is what registration validates against, what the processors plan with and what
    docs/nodes.md is generated from, so a node type a user adds through the
    `linkflow.nodes` entry points (or @activity) is accepted as soon as the package is
    installed beside the API and the processors. A handler cannot replace an engine type.
    """
    registry = default_registry().copy()
    for spec in handlers if handlers is not None else build_registry():
        if spec.node_type in registry:
            raise HandlerLoadError(
                f"{spec.source or spec.qualname}: {spec.node_type!r} is a node type the "
                f"engine runs itself; choose another name for the activity"
            )
        registry.register(spec.node_declaration)
    return registry


@functools.cache
def installed_node_types() -> NodeTypeRegistry:
    """`node_types()` of the installed handlers, built once per process."""
    return node_types()
