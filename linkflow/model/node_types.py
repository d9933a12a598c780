"""The node-type registry: what each node type accepts (JSON Schema), which handles it has, and
whether it runs inline in the engine or as an activity on a task queue."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Handles, as edges name them.
SUCCESS = "success"
ERROR = "error"
TRUE = "true"
FALSE = "false"
DEFAULT = "default"
CASE_PREFIX = "case:"
LOOP_BODY = "loop_body"
LOOP_DONE = "loop_done"
TIMEOUT = "timeout"


class NodeKind(StrEnum):
    TRIGGER = "trigger"
    ACTIVITY = "activity"  # runs on a worker, via a task queue
    INLINE = "inline"  # decided by the engine itself


@dataclass(frozen=True, slots=True)
class NodeType:
    """A node type. Activity types may be added by users; inline types need engine code.

    `expression_fields` name config keys that hold CEL expressions rather than templates
    ("cases[].when" addresses a key inside every item of a list). `dynamic_handles` adds
    handles computed from the config (switch cases).
    """

    name: str
    kind: NodeKind
    handles: tuple[str, ...]
    config_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    expression_fields: tuple[str, ...] = ()
    dynamic_handles: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    task_queue: str | None = None
    loop: bool = False  # has a body reached through loop_body edges
    description: str = ""

    def handles_for(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        if self.dynamic_handles is None:
            return self.handles
        return self.handles + self.dynamic_handles(config)


class UnknownNodeType(KeyError):
    pass


class NodeTypeRegistry:
    """Node types by name. `copy()` gives an independent registry a user can extend."""

    def __init__(self, types: Iterable[NodeType] = ()) -> None:
        self._types: dict[str, NodeType] = {}
        for node_type in types:
            self.register(node_type)

    def register(self, node_type: NodeType, *, replace: bool = False) -> NodeType:
        if node_type.name in self._types and not replace:
            raise ValueError(f"node type {node_type.name!r} is already registered")
        self._types[node_type.name] = node_type
        return node_type

    def register_activity(
        self,
        name: str,
        config_schema: Mapping[str, Any] | None = None,
        *,
        task_queue: str | None = None,
        handles: tuple[str, ...] = (SUCCESS, ERROR),
        description: str = "",
        replace: bool = False,
    ) -> NodeType:
        """Add an activity type: a worker handler registered under `name` runs it."""
        return self.register(
            NodeType(
                name=name,
                kind=NodeKind.ACTIVITY,
                handles=handles,
                config_schema=config_schema if config_schema is not None else _any_object(),
                task_queue=task_queue,
                description=description,
            ),
            replace=replace,
        )

    def get(self, name: str) -> NodeType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownNodeType(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[NodeType]:
        return iter(self._types.values())

    def names(self) -> list[str]:
        return sorted(self._types)

    def copy(self) -> NodeTypeRegistry:
        return NodeTypeRegistry(self._types.values())


def _any_object() -> dict[str, Any]:
    return {"type": "object"}


def _obj(
    properties: Mapping[str, Any], required: Iterable[str] = (), *, extra: bool = False
) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": extra,
    }


_STR = {"type": "string"}
_DURATION = {"type": ["integer", "string"]}
_ANY: dict[str, Any] = {}
_POS_INT = {"type": "integer", "minimum": 0}


def _switch_handles(config: Mapping[str, Any]) -> tuple[str, ...]:
    cases = config.get("cases")
    if not isinstance(cases, list):
        return ()
    return tuple(
        CASE_PREFIX + str(case["name"])
        for case in cases
        if isinstance(case, Mapping) and isinstance(case.get("name"), str)
    )


def builtin_node_types() -> list[NodeType]:
    activity = (SUCCESS, ERROR)
    types = [
        NodeType("trigger", NodeKind.TRIGGER, (SUCCESS,), _obj({"description": _STR}, extra=True)),
        NodeType("start", NodeKind.TRIGGER, (SUCCESS,), _obj({"description": _STR}, extra=True)),
        NodeType(
            "http",
            NodeKind.ACTIVITY,
            activity,
            _obj(
                {
                    "url": _STR,
                    "method": {
                        "type": "string",
                        "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                    },
                    "headers": {"type": "object"},
                    "query": {"type": "object"},
                    "body": _ANY,
                    "timeout": _DURATION,
                    "expect_status": {"type": ["array", "integer"]},
                },
                ["url"],
            ),
            task_queue="http",
        ),
        NodeType(
            "code",
            NodeKind.ACTIVITY,
            activity,
            _obj(
                {"language": _STR, "source": _STR, "function": _STR, "args": _ANY},
                ["source"],
            ),
        ),
        NodeType(
            "kafka_publish",
            NodeKind.ACTIVITY,
            activity,
            _obj(
                {"topic": _STR, "key": _ANY, "value": _ANY, "headers": {"type": "object"}},
                ["topic", "value"],
            ),
        ),
        NodeType("noop", NodeKind.ACTIVITY, activity, _any_object()),
        NodeType("echo", NodeKind.ACTIVITY, activity, _obj({"value": _ANY})),
        NodeType("sleep", NodeKind.ACTIVITY, activity, _obj({"duration": _DURATION}, ["duration"])),
        NodeType(
            "if",
            NodeKind.INLINE,
            (TRUE, FALSE, ERROR),
            _obj({"condition": {"type": ["string", "boolean"]}}, ["condition"]),
            expression_fields=("condition",),
        ),
        NodeType(
            "switch",
            NodeKind.INLINE,
            (DEFAULT, ERROR),
            _obj(
                {
                    "value": _STR,
                    "cases": {
                        "type": "array",
                        "items": _obj({"name": _STR, "when": _STR, "equals": _ANY}, ["name"]),
                    },
                },
                ["cases"],
            ),
            expression_fields=("value", "cases[].when"),
            dynamic_handles=_switch_handles,
        ),
        NodeType(
            "merge",
            NodeKind.INLINE,
            (SUCCESS,),
            _obj({"mode": {"type": "string", "enum": ["all", "first"]}}),
        ),
        NodeType(
            "foreach",
            NodeKind.INLINE,
            (LOOP_BODY, LOOP_DONE, ERROR),
            _obj({"items": _ANY, "concurrency": _POS_INT}, ["items"]),
            expression_fields=("items",),
            loop=True,
        ),
        NodeType(
            "while",
            NodeKind.INLINE,
            (LOOP_BODY, LOOP_DONE, ERROR),
            _obj(
                {"condition": {"type": ["string", "boolean"]}, "max_iterations": _POS_INT},
                ["condition", "max_iterations"],
            ),
            expression_fields=("condition",),
            loop=True,
        ),
        NodeType(
            "parallel",
            NodeKind.INLINE,
            (LOOP_BODY, LOOP_DONE, ERROR),
            _obj({"items": _ANY, "concurrency": _POS_INT}, ["items"]),
            expression_fields=("items",),
            loop=True,
        ),
        NodeType(
            "wait", NodeKind.INLINE, (SUCCESS, ERROR), _obj({"duration": _ANY, "until": _ANY})
        ),
        NodeType(
            "wait_for_signal",
            NodeKind.INLINE,
            (SUCCESS, TIMEOUT, ERROR),
            _obj({"signal": _STR, "timeout": _DURATION}, ["signal"]),
        ),
        NodeType(
            "approval",
            NodeKind.INLINE,
            (TRUE, FALSE, TIMEOUT, ERROR),
            _obj(
                {"signal": _STR, "timeout": _DURATION, "approvers": _ANY, "message": _ANY},
            ),
        ),
        NodeType(
            "subworkflow",
            NodeKind.INLINE,
            (SUCCESS, ERROR),
            _obj(
                {"workflow_id": _STR, "version": {"type": "integer", "minimum": 1}, "input": _ANY},
                ["workflow_id"],
            ),
        ),
        NodeType(
            "set",
            NodeKind.INLINE,
            (SUCCESS, ERROR),
            _obj({"values": {"type": "object"}}, ["values"]),
        ),
        NodeType("transform", NodeKind.INLINE, (SUCCESS, ERROR), _obj({"value": _ANY}, ["value"])),
        NodeType(
            "fail",
            NodeKind.INLINE,
            (),
            _obj({"message": _ANY, "error_type": _STR, "details": _ANY}),
        ),
        NodeType("terminate", NodeKind.INLINE, (), _obj({"reason": _ANY})),
    ]
    return types


def default_registry() -> NodeTypeRegistry:
    """A fresh registry holding the built-in node types."""
    return NodeTypeRegistry(builtin_node_types())
